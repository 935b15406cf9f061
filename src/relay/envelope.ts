// Routing-envelope codec (protocol.md §3.2, relay-behaviour.md §3 and §5).
//
// Owns: wrapping a phone's frame for the binary, encoding close notices, and decoding the
// binary's envelopes into a routing decision. Inner frames are never parsed into objects:
// they are copied (phone → binary) or sliced (binary → phone) byte for byte. Pure
// functions; nothing here throws on any input.
//
// Precondition for decodeBinaryEnvelope: the bytes are valid UTF-8 (see json-scan.ts).

import { CloseCode, EnvelopeKey } from '../protocol.js';
import { scanString, scanValue, skipWs } from './json-scan.js';
import { beginScope, endScope } from './plain-scan.js';

export type DropReason = 'malformed' | 'not_object' | 'missing_conn_id' | 'missing_frame' | 'bad_close_code';

export type BinaryEnvelope =
  /** Write `frame` (exact bytes, a view into the input) to the phone; then close it if `closeCode` is set. */
  | { kind: 'frame'; connId: string; frame: Buffer; closeCode: number | undefined }
  /** Close the phone with `closeCode`, nothing to write. */
  | { kind: 'close'; connId: string; closeCode: number }
  /** A push wake for the relay; `wake` is the parsed push_wake value, unvalidated. */
  | { kind: 'wake'; wake: unknown }
  | { kind: 'drop'; reason: DropReason };

const CLOSE_BRACE = 0x7d;
/** The keys as JSON string tokens, for the encoders. */
const JSON_CONN_ID = JSON.stringify(EnvelopeKey.connId);
const JSON_FRAME = JSON.stringify(EnvelopeKey.frame);
const JSON_CLOSE_CODE = JSON.stringify(EnvelopeKey.closeCode);

/**
 * An exact-size copy outside Node's shared 8 KiB allocation pool: a small buffer
 * that lives as long as a connection would otherwise keep its whole pool chunk alive.
 */
function ownBuffer(text: string | Buffer): Buffer {
  const len = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  const out = Buffer.allocUnsafeSlow(len);
  if (typeof text === 'string') out.write(text, 'utf8');
  else out.set(text);
  return out;
}

/** The bytes `{"conn_id":"<id>","frame":` — computed once per phone. */
export function makeWrapPrefix(connId: string): Buffer {
  return ownBuffer(`{${JSON_CONN_ID}:${JSON.stringify(connId)},${JSON_FRAME}:`);
}

/** prefix + the phone's frame exactly as received + `}`: one allocation, two copies. */
export function wrapPhoneFrame(prefix: Buffer, frame: Buffer): Buffer {
  const plen = prefix.length;
  const out = Buffer.allocUnsafe(plen + frame.length + 1);
  out.set(prefix, 0);
  out.set(frame, plen);
  out[plen + frame.length] = CLOSE_BRACE;
  return out;
}

/**
 * `{"conn_id":"<id>","close_code":N}` (no frame key). A non-integer `code` would make
 * invalid JSON, so it is replaced by 1001, the spec's "no code" value.
 */
export function encodeCloseNotice(connId: string, code: number): Buffer {
  const n = Number.isSafeInteger(code) ? code : CloseCode.goingAway;
  return Buffer.from(`{${JSON_CONN_ID}:${JSON.stringify(connId)},${JSON_CLOSE_CODE}:${n}}`, 'utf8');
}

/** Codes the relay may put in a close frame (the `ws` library's isValidStatusCode). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== CloseCode.noStatus && code !== CloseCode.abnormal) ||
    (code >= 3000 && code <= 4999)
  );
}

// Field ids; only the last occurrence of each key counts (duplicate keys: last wins).
const F_OTHER = 0;
const F_CONN_ID = 1;
const F_FRAME = 2;
const F_CLOSE_CODE = 3;
const F_PUSH_WAKE = 4;

const KEY_CONN_ID = Buffer.from(EnvelopeKey.connId);
const KEY_FRAME = Buffer.from(EnvelopeKey.frame);
const KEY_CLOSE_CODE = Buffer.from(EnvelopeKey.closeCode);
const KEY_PUSH_WAKE = Buffer.from(EnvelopeKey.pushWake);
// The fast path dispatches on key length; the four keys have distinct lengths.
const LEN_CONN_ID = KEY_CONN_ID.length;
const LEN_FRAME = KEY_FRAME.length;
const LEN_CLOSE_CODE = KEY_CLOSE_CODE.length;
const LEN_PUSH_WAKE = KEY_PUSH_WAKE.length;

const DROP_MALFORMED: BinaryEnvelope = Object.freeze({ kind: 'drop', reason: 'malformed' });
const DROP_NOT_OBJECT: BinaryEnvelope = Object.freeze({ kind: 'drop', reason: 'not_object' });
const DROP_MISSING_CONN_ID: BinaryEnvelope = Object.freeze({ kind: 'drop', reason: 'missing_conn_id' });
const DROP_MISSING_FRAME: BinaryEnvelope = Object.freeze({ kind: 'drop', reason: 'missing_frame' });
const DROP_BAD_CLOSE_CODE: BinaryEnvelope = Object.freeze({ kind: 'drop', reason: 'bad_close_code' });

function bytesEqual(buf: Buffer, start: number, end: number, key: Buffer): boolean {
  if (end - start !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (buf[start + i] !== key[i]) return false;
  return true;
}

function hasBackslash(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] === 0x5c) return true;
  return false;
}

/** Parses a (already validated) JSON string token; undefined if it cannot be decoded. */
function parseJsonString(buf: Buffer, start: number, end: number): string | undefined {
  try {
    const v: unknown = JSON.parse(buf.toString('utf8', start, end));
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Classifies a key token [start, end) including its quotes. */
function fieldOf(buf: Buffer, start: number, end: number): number {
  const s = start + 1;
  const e = end - 1;
  if (!hasBackslash(buf, s, e)) {
    // Fast path: compare raw bytes.
    const len = e - s;
    if (len === LEN_CONN_ID) return bytesEqual(buf, s, e, KEY_CONN_ID) ? F_CONN_ID : F_OTHER;
    if (len === LEN_FRAME) return bytesEqual(buf, s, e, KEY_FRAME) ? F_FRAME : F_OTHER;
    if (len === LEN_CLOSE_CODE) return bytesEqual(buf, s, e, KEY_CLOSE_CODE) ? F_CLOSE_CODE : F_OTHER;
    if (len === LEN_PUSH_WAKE) return bytesEqual(buf, s, e, KEY_PUSH_WAKE) ? F_PUSH_WAKE : F_OTHER;
    return F_OTHER;
  }
  // Escaped key (e.g. "conn\u005fid"): compare after unescaping, like JSON.parse would.
  switch (parseJsonString(buf, start, end)) {
    case EnvelopeKey.connId:
      return F_CONN_ID;
    case EnvelopeKey.frame:
      return F_FRAME;
    case EnvelopeKey.closeCode:
      return F_CLOSE_CODE;
    case EnvelopeKey.pushWake:
      return F_PUSH_WAKE;
    default:
      return F_OTHER;
  }
}

// The strings of recently seen conn_ids, by a hash of their bytes. The same few ids
// come back on every frame; reusing the string skips decoding it, and V8 has already
// hashed it for the registry's Map. Direct-mapped and fixed-size, so a binary sending
// endless distinct ids only overwrites entries; long ids are not cached.
const ID_CACHE_SLOTS = 256; // a power of two
const ID_CACHE_MAX_BYTES = 128;
const cachedIdBytes: Array<Buffer | undefined> = new Array<Buffer | undefined>(ID_CACHE_SLOTS).fill(undefined);
const cachedIds: string[] = new Array<string>(ID_CACHE_SLOTS).fill('');

/** buf[start, end) (plain UTF-8, no escapes) as a string, from the cache when possible. */
function connIdString(buf: Buffer, start: number, end: number): string {
  const len = end - start;
  if (len > ID_CACHE_MAX_BYTES) return buf.toString('utf8', start, end);
  let h = len;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + buf[i]!) | 0;
  const slot = (h ^ (h >>> 16)) & (ID_CACHE_SLOTS - 1);
  const known = cachedIdBytes[slot];
  if (known !== undefined && bytesEqual(buf, start, end, known)) return cachedIds[slot]!;
  const id = buf.toString('utf8', start, end);
  cachedIdBytes[slot] = ownBuffer(buf.subarray(start, end)); // a copy: buf is only borrowed
  cachedIds[slot] = id;
  return id;
}

function isNullToken(buf: Buffer, start: number, end: number): boolean {
  return end - start === 4 && buf[start] === 0x6e; // the only valid 4-byte 'n…' value is null
}

/**
 * close_code value → code, 0 for "absent" (null or integer zero), or -1 if it is not a
 * plain JSON integer the relay can send. Fractions and exponents (4401.0, 4.401e3) are
 * rejected: the reference decodes close_code into an int, which refuses them too.
 */
function closeCodeOf(buf: Buffer, start: number, end: number): number {
  if (isNullToken(buf, start, end)) return 0;
  let i = start;
  const negative = buf[i] === 0x2d;
  if (negative) i++;
  // At most 4 digits can be in range; longer (or a leading-zero form) is rejected.
  if (end - i < 1 || end - i > 4) return -1;
  let n = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return -1; // string, object, fraction, exponent, …
    n = n * 10 + (c - 0x30);
  }
  if (n === 0) return 0; // 0 and -0 mean "absent"
  if (negative) return -1;
  return isSendableCloseCode(n) ? n : -1;
}

/**
 * Decodes one binary → relay envelope into a routing decision. Never throws.
 * Validates that the whole input is one JSON value; unknown fields are skipped.
 */
export function decodeBinaryEnvelope(buf: Buffer): BinaryEnvelope {
  beginScope(buf); // the message's strings are scanned in one SIMD copy
  const env = decode(buf);
  endScope();
  return env;
}

function decode(buf: Buffer): BinaryEnvelope {
  const end = buf.length;
  let pos = skipWs(buf, 0, end);
  if (pos >= end) return DROP_MALFORMED;
  if (buf[pos] !== 0x7b /* { */) {
    const after = scanValue(buf, pos, end);
    return after >= 0 && skipWs(buf, after, end) === end ? DROP_NOT_OBJECT : DROP_MALFORMED;
  }

  // Spans [start, end) of the last value seen for each field; -1 = absent.
  let connS = -1,
    connE = -1,
    frameS = -1,
    frameE = -1;
  let closeS = -1,
    closeE = -1,
    wakeS = -1,
    wakeE = -1;

  pos = skipWs(buf, pos + 1, end);
  if (pos < end && buf[pos] === CLOSE_BRACE) {
    pos++;
  } else {
    for (;;) {
      if (pos >= end || buf[pos] !== 0x22) return DROP_MALFORMED;
      const keyS = pos;
      pos = scanString(buf, pos, end);
      if (pos < 0) return DROP_MALFORMED;
      const field = fieldOf(buf, keyS, pos);
      pos = skipWs(buf, pos, end);
      if (pos >= end || buf[pos] !== 0x3a /* : */) return DROP_MALFORMED;
      const valS = skipWs(buf, pos + 1, end);
      const valE = scanValue(buf, valS, end);
      if (valE < 0) return DROP_MALFORMED;
      switch (field) {
        case F_CONN_ID:
          connS = valS;
          connE = valE;
          break;
        case F_FRAME:
          frameS = valS;
          frameE = valE;
          break;
        case F_CLOSE_CODE:
          closeS = valS;
          closeE = valE;
          break;
        case F_PUSH_WAKE:
          wakeS = valS;
          wakeE = valE;
          break;
      }
      pos = skipWs(buf, valE, end);
      if (pos >= end) return DROP_MALFORMED;
      const c = buf[pos]!;
      if (c === CLOSE_BRACE) {
        pos++;
        break;
      }
      if (c !== 0x2c /* , */) return DROP_MALFORMED;
      pos = skipWs(buf, pos + 1, end);
    }
  }
  if (skipWs(buf, pos, end) !== end) return DROP_MALFORMED; // trailing garbage

  // conn_id: a non-empty string, or absent (missing, null, "").
  let connId = '';
  if (connS >= 0 && !isNullToken(buf, connS, connE)) {
    if (buf[connS] !== 0x22) return DROP_MALFORMED; // number, bool, object, array
    if (hasBackslash(buf, connS + 1, connE - 1)) {
      const s = parseJsonString(buf, connS, connE);
      if (s === undefined) return DROP_MALFORMED;
      connId = s;
    } else {
      connId = connIdString(buf, connS + 1, connE - 1);
    }
  }

  if (connId === '') {
    if (wakeS < 0 || isNullToken(buf, wakeS, wakeE)) return DROP_MISSING_CONN_ID;
    try {
      return { kind: 'wake', wake: JSON.parse(buf.toString('utf8', wakeS, wakeE)) as unknown };
    } catch {
      return DROP_MALFORMED; // unreachable for validated JSON; kept so decode never throws
    }
  }

  let closeCode: number | undefined;
  if (closeS >= 0) {
    const n = closeCodeOf(buf, closeS, closeE);
    if (n < 0) return DROP_BAD_CLOSE_CODE;
    if (n > 0) closeCode = n;
  }

  if (frameS < 0 || isNullToken(buf, frameS, frameE)) {
    return closeCode === undefined ? DROP_MISSING_FRAME : { kind: 'close', connId, closeCode };
  }
  return { kind: 'frame', connId, frame: buf.subarray(frameS, frameE), closeCode };
}
