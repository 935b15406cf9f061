// Benchmark frames: `{"seq":"NNNNNNNNNN","pad":"xx…"}`, exactly B bytes of JSON.
// The sequence number sits at a fixed offset so it is stamped into a prepared
// Buffer and read back without parsing or allocating.
const HEAD = '{"seq":"';
const MID = '","pad":"';
const TAIL = '"}';
export const SEQ_OFFSET = HEAD.length;
export const SEQ_DIGITS = 10;
export const MIN_FRAME_BYTES = HEAD.length + SEQ_DIGITS + MID.length + TAIL.length;

/** A frame of exactly `bytes` bytes with sequence number 0. */
export function makeFrame(bytes: number): Buffer {
  if (bytes < MIN_FRAME_BYTES) throw new Error(`frame size must be at least ${MIN_FRAME_BYTES}`);
  const pad = 'x'.repeat(bytes - MIN_FRAME_BYTES);
  return Buffer.from(`${HEAD}${'0'.repeat(SEQ_DIGITS)}${MID}${pad}${TAIL}`, 'latin1');
}

export function stampSeq(frame: Buffer, seq: number): void {
  for (let i = SEQ_OFFSET + SEQ_DIGITS - 1; i >= SEQ_OFFSET; i--) {
    frame[i] = 0x30 + (seq % 10);
    seq = Math.floor(seq / 10);
  }
}

/** The sequence number in `frame`, or -1 if the bytes there are not digits. */
export function readSeq(frame: Buffer): number {
  if (frame.length < MIN_FRAME_BYTES) return -1;
  let n = 0;
  for (let i = SEQ_OFFSET; i < SEQ_OFFSET + SEQ_DIGITS; i++) {
    const d = frame[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
