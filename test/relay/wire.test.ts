// The pre-framed write path must put exactly the codec's envelope on the wire,
// as one unmasked FIN text frame, at every header-length boundary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { makeWrapPrefix, wrapPhoneFrame } from '../../src/relay/envelope.js';
import { framePhoneFrame, headerLength } from '../../src/relay/wire.js';

/** Parses one server frame: [opcode byte, payload]. */
function parseFrame(buf: Buffer): { first: number; payload: Buffer } {
  let len = (buf[1] as number) & 0x7f;
  let off = 2;
  assert.equal((buf[1] as number) & 0x80, 0, 'server frames are never masked');
  if (len === 126) {
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  assert.equal(buf.length, off + len, 'exactly one frame');
  return { first: buf[0] as number, payload: buf.subarray(off) };
}

test('framePhoneFrame = one FIN text frame whose payload is wrapPhoneFrame, across header sizes', () => {
  const prefix = makeWrapPrefix('client-0b8a2f4e-1c2d-4e5f-8a9b-000000000001-deadbeef');
  const overhead = prefix.length + 1;
  for (const payloadLen of [0, 1, 124, 125, 126, 127, 65535, 65536, 70000]) {
    const frameLen = Math.max(0, payloadLen - overhead);
    const frame = Buffer.from('"' + 'x'.repeat(Math.max(0, frameLen - 2)) + '"');
    const framed = framePhoneFrame(prefix, frame);
    const { first, payload } = parseFrame(framed);
    assert.equal(first, 0x81);
    assert.deepEqual(payload, wrapPhoneFrame(prefix, frame));
    assert.equal(framed.length, headerLength(payload.length) + payload.length);
  }
});

test('property: framePhoneFrame carries the frame bytes exactly', () => {
  fc.assert(
    fc.property(fc.string(), fc.uint8Array({ maxLength: 70_000 }), (connId, bytes) => {
      const prefix = makeWrapPrefix(connId);
      const frame = Buffer.from(bytes);
      const { first, payload } = parseFrame(framePhoneFrame(prefix, frame));
      assert.equal(first, 0x81);
      assert.deepEqual(payload, wrapPhoneFrame(prefix, frame));
    }),
    { numRuns: 300 },
  );
});
