// Binary codec of the cluster frame bus (docs/decisions/0018-cluster-bus.md).
//
// Owns: the byte layout of one bus batch (one Redis PUBLISH) and of the messages in it.
// Frames travel as raw bytes: decoding returns them as views of the input (no copy),
// encoding a batch is one allocation and one copy of each frame. The encoding is
// canonical — every field a kind does not use must be zero, lengths must match exactly,
// no trailing bytes — so any byte string that decodes re-encodes to itself: a corrupted
// or forged batch either fails with a typed reason or means exactly what its bytes say.
// Pure functions; decodeBatch never throws on any input.
//
// Batch:   magic "PB" | version u8 | flags u8 | linkEpoch u32 | seq hi u32 | seq lo u32
//          | count u16 | srcLen u8 | dstLen u8 | src | dst | count × message
// Message: kind u8 | flags u8 | code u16 | epoch hi u32 | epoch lo u32 | aux u32
//          | sidLen u16 | cidLen u16 | frameLen u32 | sid | cid | frame
// All integers big-endian. seq 0 marks an unsequenced self-probe batch (src = dst, one
// self-probe message); every other batch has seq ≥ 1. Batch flags (LinkFlag) say why a
// link epoch began; only the first batch of an epoch (seq 1) may carry no message, to
// announce the new epoch.

export const MsgKind = {
  frameToPhone: 1,
  frameToBinary: 2,
  phoneJoin: 3,
  phoneLeave: 4,
  closeDirective: 5,
  evict: 6,
  pause: 7,
  resume: 8,
  probeRequest: 9,
  probeAnswer: 10,
  selfProbe: 11,
} as const;

/** Why a slot's phones are evicted; a small id, never free text. */
export const EvictReason = {
  reclaimed: 1, // 4404: the binary reclaimed the server-id
  takenOver: 2, // 4404: takeover after a failed conflict probe
  graceExpired: 3, // 1000
  routeLost: 4, // 1012 "relay route lost"
  noServer: 5, // 4404: no binary holds the server-id
} as const;
type EvictReasonId = (typeof EvictReason)[keyof typeof EvictReason];

/** Fields every slot message carries: the server-id and the slot's fencing epoch. */
interface Slot {
  serverId: string;
  epoch: number;
}

export type BusMessage =
  | (Slot & { kind: 'frameToPhone'; connId: string; frame: Buffer })
  | (Slot & { kind: 'frameToBinary'; connId: string; frame: Buffer })
  | (Slot & { kind: 'phoneJoin'; connId: string })
  /** The phone's connection ended; `code` is the close-notice code (relay-behaviour.md §5). */
  | (Slot & { kind: 'phoneLeave'; connId: string; code: number })
  /** The binary asked to close the phone: write `frame` (if any), then close with `code`. */
  | (Slot & { kind: 'closeDirective'; connId: string; code: number; frame: Buffer | undefined })
  /** Close one phone (`connId`) or, with `connId` undefined, every phone of the slot, at once. */
  | (Slot & { kind: 'evict'; connId: string | undefined; code: number; reason: EvictReasonId })
  | (Slot & { kind: 'pause' })
  | (Slot & { kind: 'resume' })
  | (Slot & { kind: 'probeRequest'; requestId: number })
  | (Slot & { kind: 'probeAnswer'; requestId: number; alive: boolean })
  /** The bus's own subscription proof; never delivered to the relay. */
  | { kind: 'selfProbe'; nonce: number };

/** Batch flags: why the sender's current link epoch began (decision 0018). */
export const LinkFlag = {
  /** The sender lost messages from the receiver: start a new epoch toward the sender. */
  restart: 1,
  /** This epoch is the receiver's requested restart; the sender closed nothing new. */
  answer: 2,
} as const;

export interface BatchHeader {
  /** Sender's nodeRef (`<nodeId>:<incarnation>`). */
  src: string;
  /** Receiver's nodeRef: a batch addressed to anyone else is foreign. */
  dst: string;
  /** Life of the src→dst link; bumped by the sender each time it declares the link lost. */
  linkEpoch: number;
  /** Per-link batch number from 1; 0 only on a self-probe batch. */
  seq: number;
  /** LinkFlag bits. */
  flags: number;
}

export interface Batch extends BatchHeader {
  messages: BusMessage[];
}

export type DecodeError =
  | 'short' // fewer bytes than a field needs
  | 'magic'
  | 'version'
  | 'flags'
  | 'node_ref' // src or dst not a valid nodeRef
  | 'kind'
  | 'field' // a field not used by the kind is non-zero, or a value is out of range
  | 'server_id'
  | 'conn_id'
  | 'count' // message count 0 or not matching the bytes
  | 'trailing'
  | 'probe'; // seq 0 on anything but a self-probe batch

export type DecodeResult = { ok: true; batch: Batch } | { ok: false; reason: DecodeError };

export const BATCH_HEADER_BYTES = 20;
export const MESSAGE_HEADER_BYTES = 24;
export const MAX_SERVER_ID_BYTES = 256;
/** client-<server-id>-<8 hex> plus room for a future format. */
export const MAX_CONN_ID_BYTES = 512;
export const MAX_MESSAGES_PER_BATCH = 0xffff;

const MAGIC0 = 0x50; // 'P'
const MAGIC1 = 0x42; // 'B'
const VERSION = 1;
const TWO32 = 0x1_0000_0000;
/** Largest value of the hi word that keeps hi·2³² + lo a safe integer. */
const MAX_HI = 0x1fffff;
const FLAG_HAS_FRAME = 1;
const KIND_ID: Readonly<Record<BusMessage['kind'], number>> = MsgKind;

// Which optional fields each kind uses (index = kind id).
const USES_CONN = [false, true, true, true, true, true, true, false, false, false, false, false];
const USES_FRAME = [false, true, true, false, false, true, false, false, false, false, false, false];
const USES_CODE = [false, false, false, false, true, true, true, false, false, false, false, false];
const USES_AUX = [false, false, false, false, false, false, true, false, false, true, true, true];

/** Encoded size of one message. */
export function messageBytes(m: BusMessage): number {
  switch (m.kind) {
    case 'selfProbe':
      return MESSAGE_HEADER_BYTES;
    case 'frameToPhone':
    case 'frameToBinary':
      return MESSAGE_HEADER_BYTES + m.serverId.length + m.connId.length + m.frame.length;
    case 'closeDirective':
      return MESSAGE_HEADER_BYTES + m.serverId.length + m.connId.length + (m.frame === undefined ? 0 : m.frame.length);
    case 'phoneJoin':
    case 'phoneLeave':
      return MESSAGE_HEADER_BYTES + m.serverId.length + m.connId.length;
    case 'evict':
      return MESSAGE_HEADER_BYTES + m.serverId.length + (m.connId === undefined ? 0 : m.connId.length);
    default:
      return MESSAGE_HEADER_BYTES + m.serverId.length;
  }
}

/** Encoded size of a batch header for these node refs. */
export function headerBytes(src: string, dst: string): number {
  return BATCH_HEADER_BYTES + src.length + dst.length;
}

/**
 * Encodes `messages[from, to)` as one batch of `size` bytes (headerBytes + the sum of
 * messageBytes, which the caller has already computed to bound the batch). Strings are
 * written as latin1: server-ids, conn_ids and node refs are ASCII by construction.
 */
export function encodeBatch(h: BatchHeader, messages: readonly BusMessage[], from: number, to: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  encodeBatchInto(out, 0, h, messages, from, to);
  return out;
}

/** encodeBatch into `out` at `at`, which has room for it; returns the offset after the batch. */
export function encodeBatchInto(
  out: Buffer,
  at: number,
  h: BatchHeader,
  messages: readonly BusMessage[],
  from: number,
  to: number,
): number {
  out[at] = MAGIC0;
  out[at + 1] = MAGIC1;
  out[at + 2] = VERSION;
  out[at + 3] = h.flags;
  out.writeUInt32BE(h.linkEpoch, at + 4);
  out.writeUInt32BE(Math.floor(h.seq / TWO32), at + 8);
  out.writeUInt32BE(h.seq >>> 0, at + 12);
  out.writeUInt16BE(to - from, at + 16);
  out[at + 18] = h.src.length;
  out[at + 19] = h.dst.length;
  at += BATCH_HEADER_BYTES;
  at = writeAscii(out, at, h.src);
  at = writeAscii(out, at, h.dst);
  for (let i = from; i < to; i++) at = writeMessage(out, at, messages[i]!);
  return at;
}

/** Short ASCII strings: a byte loop beats Buffer#write's call overhead several times. */
function writeAscii(out: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > 64) return at + out.write(s, at, 'latin1');
  for (let i = 0; i < n; i++) out[at + i] = s.charCodeAt(i);
  return at + n;
}

function writeMessage(out: Buffer, at: number, m: BusMessage): number {
  let flags = 0;
  let code = 0;
  let epoch = 0;
  let aux = 0;
  let sid = '';
  let cid = '';
  let frame: Buffer | undefined;
  switch (m.kind) {
    case 'selfProbe':
      aux = m.nonce;
      break;
    case 'frameToPhone':
    case 'frameToBinary':
      cid = m.connId;
      frame = m.frame;
      break;
    case 'phoneJoin':
      cid = m.connId;
      break;
    case 'phoneLeave':
      cid = m.connId;
      code = m.code;
      break;
    case 'closeDirective':
      cid = m.connId;
      code = m.code;
      if (m.frame !== undefined) {
        flags = FLAG_HAS_FRAME;
        frame = m.frame;
      }
      break;
    case 'evict':
      if (m.connId !== undefined) cid = m.connId;
      code = m.code;
      aux = m.reason;
      break;
    case 'probeRequest':
      aux = m.requestId;
      break;
    case 'probeAnswer':
      aux = m.requestId;
      flags = m.alive ? 1 : 0;
      break;
    default:
      break;
  }
  if (m.kind !== 'selfProbe') {
    sid = m.serverId;
    epoch = m.epoch;
  }
  // Byte stores: several times cheaper than the bounds-checked writeUInt*BE calls.
  const hi = epoch > 0xffffffff ? Math.floor(epoch / TWO32) : 0;
  const lo = epoch >>> 0;
  const slen = sid.length;
  const clen = cid.length;
  const flen = frame === undefined ? 0 : frame.length;
  out[at] = KIND_ID[m.kind];
  out[at + 1] = flags;
  out[at + 2] = code >>> 8;
  out[at + 3] = code;
  out[at + 4] = hi >>> 24;
  out[at + 5] = hi >>> 16;
  out[at + 6] = hi >>> 8;
  out[at + 7] = hi;
  out[at + 8] = lo >>> 24;
  out[at + 9] = lo >>> 16;
  out[at + 10] = lo >>> 8;
  out[at + 11] = lo;
  out[at + 12] = aux >>> 24;
  out[at + 13] = aux >>> 16;
  out[at + 14] = aux >>> 8;
  out[at + 15] = aux;
  out[at + 16] = slen >>> 8;
  out[at + 17] = slen;
  out[at + 18] = clen >>> 8;
  out[at + 19] = clen;
  out[at + 20] = flen >>> 24;
  out[at + 21] = flen >>> 16;
  out[at + 22] = flen >>> 8;
  out[at + 23] = flen;
  at += MESSAGE_HEADER_BYTES;
  at = writeAscii(out, at, sid);
  at = writeAscii(out, at, cid);
  if (frame !== undefined) {
    out.set(frame, at);
    at += flen;
  }
  return at;
}

/** Encodes a single self-probe batch (seq 0, src = dst = the node's own ref). */
export function encodeSelfProbe(nodeRef: string, nonce: number): Buffer {
  const m: BusMessage = { kind: 'selfProbe', nonce };
  return encodeBatch(
    { src: nodeRef, dst: nodeRef, linkEpoch: 0, seq: 0, flags: 0 },
    [m],
    0,
    1,
    headerBytes(nodeRef, nodeRef) + MESSAGE_HEADER_BYTES,
  );
}

/** nodeRef bytes: 1–255 of [A-Za-z0-9._:-]. */
function validRef(b: Buffer, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x3a) || c === 0x2d || c === 0x2e || c === 0x5f;
    if (!ok) return false;
  }
  return true;
}

/** Printable ASCII (0x20–0x7e), as server-ids and conn_ids are. */
function printable(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

const fail = (reason: DecodeError): DecodeResult => ({ ok: false, reason });

/** Decodes one batch. Frames are views of `b`. Never throws. */
export function decodeBatch(b: Buffer): DecodeResult {
  const len = b.length;
  if (len < BATCH_HEADER_BYTES) return fail('short');
  if (b[0] !== MAGIC0 || b[1] !== MAGIC1) return fail('magic');
  if (b[2] !== VERSION) return fail('version');
  const flags = b[3]!;
  if ((flags & ~3) !== 0) return fail('flags');
  const linkEpoch = b.readUInt32BE(4);
  const seqHi = b.readUInt32BE(8);
  if (seqHi > MAX_HI) return fail('field');
  const seq = seqHi * TWO32 + b.readUInt32BE(12);
  const count = b.readUInt16BE(16);
  const srcLen = b[18]!;
  const dstLen = b[19]!;
  let at = BATCH_HEADER_BYTES;
  if (len < at + srcLen + dstLen) return fail('short');
  if (!validRef(b, at, at + srcLen) || !validRef(b, at + srcLen, at + srcLen + dstLen)) return fail('node_ref');
  const src = b.toString('latin1', at, at + srcLen);
  at += srcLen;
  const dst = b.toString('latin1', at, at + dstLen);
  at += dstLen;
  // Before allocating: a forged count cannot make a short payload cost 64 Ki slots.
  if ((count === 0 && seq !== 1) || count * MESSAGE_HEADER_BYTES > len - at) return fail('count');
  if (seq === 0 && (count !== 1 || linkEpoch !== 0 || flags !== 0 || src !== dst)) return fail('probe');
  const messages: BusMessage[] = new Array<BusMessage>(count);
  for (let i = 0; i < count; i++) {
    if (len - at < MESSAGE_HEADER_BYTES) return fail(at === len ? 'count' : 'short');
    const kind = b[at]!;
    if (kind < 1 || kind > 11) return fail('kind');
    const flags = b[at + 1]!;
    const code = b.readUInt16BE(at + 2);
    const epochHi = b.readUInt32BE(at + 4);
    const epochLo = b.readUInt32BE(at + 8);
    const aux = b.readUInt32BE(at + 12);
    const sidLen = b.readUInt16BE(at + 16);
    const cidLen = b.readUInt16BE(at + 18);
    const flen = b.readUInt32BE(at + 20);
    at += MESSAGE_HEADER_BYTES;
    if ((seq === 0) !== (kind === MsgKind.selfProbe)) return fail('probe');
    if (kind === MsgKind.selfProbe) {
      if (flags !== 0 || code !== 0 || epochHi !== 0 || epochLo !== 0 || sidLen !== 0 || cidLen !== 0 || flen !== 0) return fail('field');
      messages[i] = { kind: 'selfProbe', nonce: aux };
      continue;
    }
    // Unused fields must be zero: that is what makes the encoding canonical.
    if (!USES_CODE[kind] && code !== 0) return fail('field');
    if (!USES_AUX[kind] && aux !== 0) return fail('field');
    if (!USES_CONN[kind] && cidLen !== 0) return fail('field');
    if (!USES_FRAME[kind] && flen !== 0) return fail('field');
    const allowedFlags = kind === MsgKind.closeDirective || kind === MsgKind.probeAnswer ? 1 : 0;
    if ((flags & ~allowedFlags) !== 0) return fail('field');
    if (kind === MsgKind.closeDirective && flags === 0 && flen !== 0) return fail('field');
    if (epochHi > MAX_HI) return fail('field');
    if (sidLen === 0 || sidLen > MAX_SERVER_ID_BYTES) return fail('server_id');
    if (cidLen > MAX_CONN_ID_BYTES || (cidLen === 0 && USES_CONN[kind] && kind !== MsgKind.evict)) return fail('conn_id');
    if (len - at < sidLen + cidLen + flen) return fail('short');
    if (!printable(b, at, at + sidLen)) return fail('server_id');
    const serverId = b.toString('latin1', at, at + sidLen);
    at += sidLen;
    if (!printable(b, at, at + cidLen)) return fail('conn_id');
    const connId = cidLen === 0 ? '' : b.toString('latin1', at, at + cidLen);
    at += cidLen;
    const frame = b.subarray(at, at + flen);
    at += flen;
    const epoch = epochHi * TWO32 + epochLo;
    switch (kind) {
      case MsgKind.frameToPhone:
        messages[i] = { kind: 'frameToPhone', serverId, epoch, connId, frame };
        break;
      case MsgKind.frameToBinary:
        messages[i] = { kind: 'frameToBinary', serverId, epoch, connId, frame };
        break;
      case MsgKind.phoneJoin:
        messages[i] = { kind: 'phoneJoin', serverId, epoch, connId };
        break;
      case MsgKind.phoneLeave:
        messages[i] = { kind: 'phoneLeave', serverId, epoch, connId, code };
        break;
      case MsgKind.closeDirective:
        messages[i] = { kind: 'closeDirective', serverId, epoch, connId, code, frame: flags === 1 ? frame : undefined };
        break;
      case MsgKind.evict:
        if (aux < 1 || aux > 5) return fail('field');
        messages[i] = { kind: 'evict', serverId, epoch, connId: cidLen === 0 ? undefined : connId, code, reason: aux as EvictReasonId };
        break;
      case MsgKind.pause:
        messages[i] = { kind: 'pause', serverId, epoch };
        break;
      case MsgKind.resume:
        messages[i] = { kind: 'resume', serverId, epoch };
        break;
      case MsgKind.probeRequest:
        messages[i] = { kind: 'probeRequest', serverId, epoch, requestId: aux };
        break;
      default:
        messages[i] = { kind: 'probeAnswer', serverId, epoch, requestId: aux, alive: flags === 1 };
        break;
    }
  }
  if (at !== len) return fail('trailing');
  return { ok: true, batch: { src, dst, linkEpoch, seq, flags, messages } };
}
