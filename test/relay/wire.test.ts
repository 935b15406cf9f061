// The pre-framed write path must put exactly the codec's envelope on the wire,
// as one unmasked FIN text frame, at every header-length boundary; and writes
// made in one callback must reach the kernel as one writev.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import fc from 'fast-check';
import { makeWrapPrefix, wrapPhoneFrame } from '../../src/relay/envelope.js';
import { coalesce, framePhoneFrame, headerLength } from '../../src/relay/wire.js';

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

/** A connected loopback TCP pair; counts the client's kernel writes (write or writev calls). */
async function socketPair(): Promise<{ client: Socket; server: Socket; writes: number[]; close(): void }> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => srv.once('connection', r));
  const client = connect((srv.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', r));
  const server = await accepted;
  const writes: number[] = []; // chunks per kernel write
  const s = client as unknown as { _writev(c: unknown[], cb: () => void): void; _write(c: unknown, e: string, cb: () => void): void };
  const writev = s._writev.bind(client);
  const write = s._write.bind(client);
  s._writev = (chunks, cb) => {
    writes.push(chunks.length);
    writev(chunks, cb);
  };
  s._write = (chunk, enc, cb) => {
    writes.push(1);
    write(chunk, enc, cb);
  };
  return {
    client,
    server,
    writes,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

test('coalesce: frames written in one callback leave in one writev, no later than the end of the loop turn', async () => {
  const p = await socketPair();
  try {
    // Idle (no flush for a while): flushed right after the current callback.
    await new Promise((r) => setTimeout(r, 5));
    coalesce(p.client);
    p.client.write(Buffer.from('a'));
    coalesce(p.client);
    p.client.write(Buffer.from('b'));
    await new Promise((r) => process.nextTick(r));
    assert.equal(p.client.writableCorked, 0, 'idle: flushed at the end of the callback');
    assert.deepEqual(p.writes, [2]);
    // Busy (a flush just happened): may wait for the end of the turn, still one writev.
    coalesce(p.client);
    p.client.write(Buffer.from('c'));
    coalesce(p.client);
    p.client.write(Buffer.from('d'));
    await new Promise((r) => setImmediate(r));
    assert.equal(p.client.writableCorked, 0, 'flushed by the end of the turn');
    assert.deepEqual(p.writes, [2, 2]);
    let got = '';
    p.server.on('data', (d: Buffer) => (got += d.toString()));
    while (got.length < 4) await new Promise((r) => setTimeout(r, 5));
    assert.equal(got, 'abcd');
  } finally {
    p.close();
  }
});
