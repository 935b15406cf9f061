// Client-side (masked) WebSocket text frames for the benchmark's own processes,
// written straight to the socket. Masking is done a 32-bit word at a time on an
// aligned copy, so the generator and the echo binaries stay cheap at 64 KiB
// without a native addon; the peer still unmasks every byte, as it would for a
// real client. A random mask is chosen per buffer, not per frame.
import { randomFillSync } from 'node:crypto';

const FIN_TEXT = 0x81;
const MASK_BIT = 0x80;

function headerLength(len: number): number {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + 4;
}

function writeHeader(buf: Buffer, len: number, mask: Buffer): number {
  buf[0] = FIN_TEXT;
  let o = 2;
  if (len < 126) {
    buf[1] = MASK_BIT | len;
  } else if (len < 65536) {
    buf[1] = MASK_BIT | 126;
    buf.writeUInt16BE(len, 2);
    o = 4;
  } else {
    buf[1] = MASK_BIT | 127;
    buf.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    buf.writeUInt32BE(len >>> 0, 6);
    o = 10;
  }
  mask.copy(buf, o);
  return o + 4;
}

/** XORs `buf` (must start 4-byte aligned in its ArrayBuffer) with `mask` in place. */
function maskAligned(buf: Buffer, mask: Buffer): void {
  const words = buf.length >>> 2;
  const w = new Int32Array(buf.buffer, buf.byteOffset, words);
  const m = mask.readInt32LE(0); // typed arrays use the platform's (little-endian) order
  for (let i = 0; i < words; i++) w[i]! ^= m;
  for (let i = words << 2; i < buf.length; i++) buf[i]! ^= mask[i & 3]!;
}

function newMask(): Buffer {
  const mask = Buffer.alloc(4);
  while (mask.readInt32LE(0) === 0) randomFillSync(mask); // a zero mask would let the peer skip unmasking
  return mask;
}

/**
 * A frame for `payload` whose payload part can be patched in place:
 * `head` (header + mask) and `body` (masked payload, aligned) are written as two chunks.
 */
export class MaskedFrame {
  readonly head: Buffer;
  readonly body: Buffer;
  private readonly mask = newMask();

  constructor(payload: Buffer) {
    this.head = Buffer.allocUnsafe(headerLength(payload.length));
    writeHeader(this.head, payload.length, this.mask);
    this.body = Buffer.allocUnsafeSlow(payload.length);
    payload.copy(this.body);
    maskAligned(this.body, this.mask);
  }

  /** Re-masks payload bytes [from, to) from the unmasked `payload`. */
  patch(payload: Buffer, from: number, to: number): void {
    for (let i = from; i < to; i++) this.body[i] = payload[i]! ^ this.mask[i & 3]!;
  }
}

/** Header + masked copy of `payload`, for one-off echoes (two chunks, corked by the caller). */
export function maskedCopy(payload: Buffer): [Buffer, Buffer] {
  const mask = echoMask;
  const head = Buffer.allocUnsafe(headerLength(payload.length));
  writeHeader(head, payload.length, mask);
  const body = payload.length >= 4096 ? Buffer.allocUnsafeSlow(payload.length) : alignedSmall(payload.length);
  payload.copy(body);
  maskAligned(body, mask);
  return [head, body];
}

const echoMask = newMask();

/** A small buffer starting on a 4-byte boundary (pool slices are 8-aligned in Node 20, but do not rely on it). */
function alignedSmall(len: number): Buffer {
  const b = Buffer.allocUnsafe(len + 3);
  const pad = (4 - (b.byteOffset & 3)) & 3;
  return b.subarray(pad, pad + len);
}
