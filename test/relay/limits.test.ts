// Black-box: heartbeat, message size limit, message deadline and the header
// timeout (relay-behaviour.md §6), with shortened tunables.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CloseCode } from '../../src/protocol.js';
import { connectBinary, connectPhone, newServerId, sleep } from '../helpers/clients.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { nth, untilData } from '../helpers/wait.js';

const READ_MESSAGE_TIMEOUT_MS = 400;
/** What sweepIntervalMs gives for these flags: a quarter of the shortest deadline (200 ms). */
const SWEEP_MS = 50;
const MAX_MESSAGE_BYTES = 262_144;

/** A raw WebSocket frame from a client (masked), for fragment-level tests. */
function clientFrame(opcode: number, fin: boolean, payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len = payload.length;
  const b0 = (fin ? 0x80 : 0) | opcode;
  let head: Buffer;
  if (len < 126) head = Buffer.from([b0, 0x80 | len]);
  else if (len < 65_536) head = Buffer.from([b0, 0x80 | 126, len >> 8, len & 0xff]);
  else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([head, mask, body]);
}

/** Opens a raw TCP socket and completes a /v1/client or /v1/server upgrade by hand. */
async function rawUpgrade(port: number, path: string, headers: string): Promise<{ sock: Socket; data: () => Buffer }> {
  const sock = connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
  });
  await new Promise((r) => sock.once('connect', r));
  sock.write(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`,
  );
  await untilData(sock, () => buf.includes('\r\n\r\n'), 1000, 'upgrade response');
  assert.match(buf.toString('latin1'), /^HTTP\/1\.1 101/);
  return { sock, data: () => buf };
}

/** A phone upgraded by hand on a raw socket, for frame-level tests. */
function rawPhone(port: number, serverId: string): ReturnType<typeof rawUpgrade> {
  return rawUpgrade(port, '/v1/client', `X-Pyrycode-Server: ${serverId}\r\nX-Pyrycode-Token: abc\r\nUser-Agent: pyrycode-mobile/1\r\n`);
}

/** Answers every ping the relay sends on a raw socket, as a live client does. */
function answerPings(sock: Socket, data: () => Buffer): void {
  let answered = 0;
  sock.on('data', () => {
    const pings = serverFrames(data()).filter((f) => f.op === 0x9);
    for (const ping of pings.slice(answered)) sock.write(clientFrame(0xa, true, ping.payload));
    answered = pings.length;
  });
}

/** Server frames (unmasked) after the 101 head: opcode and payload of each. */
function serverFrames(buf: Buffer): Array<{ op: number; payload: Buffer }> {
  const frames = [];
  for (let i = buf.indexOf('\r\n\r\n') + 4; i + 2 <= buf.length;) {
    const op = (buf[i] as number) & 0x0f;
    let len = (buf[i + 1] as number) & 0x7f;
    let off = i + 2;
    if (len === 126) {
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      len = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    frames.push({ op, payload: buf.subarray(off, off + len) });
    i = off + len;
  }
  return frames;
}

/** Resolves once a close frame from the relay has arrived on a raw socket (bounded). */
function closeFrameOn(sock: Socket, data: () => Buffer, ms: number): Promise<void> {
  return untilData(sock, () => closeCodeIn(data()) !== undefined, ms, 'close frame');
}

function closeCodeIn(buf: Buffer): number | undefined {
  const close = serverFrames(buf).find((f) => f.op === 8);
  return close?.payload.readUInt16BE(0);
}

describe('limits and deadlines', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay({
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 300,
      readMessageTimeoutMs: READ_MESSAGE_TIMEOUT_MS,
      headerTimeoutMs: 300,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    });
  });
  after(() => relay.stop());

  test('heartbeat: a peer that stops answering pings is closed 1011 heartbeat timeout', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    // Three pings span more than interval + timeout (500 ms) after the first:
    // an answering peer outlives the deadline it would have missed.
    await nth(binary.ws, 'ping', 3, 3000);
    assert.ok(!binary.isClosed, 'answering peers stay');
    phone.ws.pause(); // stops reading: pings go unanswered
    // The relay closes it 1011 (its close frame waits unread in the phone's socket).
    await relay.waitEvent('phone_unregistered', { server_id: id, close_code: 1011 }, 1, 5000);
    phone.ws.resume();
    assert.deepEqual(await phone.waitClose(), { code: 1011, reason: 'heartbeat timeout' });
    binary.close();
  });

  test('the relay answers client pings at once', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const t0 = performance.now();
    const pong = new Promise((r) => binary.ws.once('pong', r));
    binary.ws.ping();
    await pong;
    assert.ok(performance.now() - t0 < 100);
    binary.close();
  });

  test('exactly 262,144 bytes is accepted; one more byte is 1009, both endpoints', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    const exact = `"${'a'.repeat(262_144 - 2)}"`;
    phone.send(exact);
    const env = await binary.next();
    assert.ok(env.endsWith(`${exact}}`));
    phone.send(`"${'a'.repeat(262_144 - 1)}"`);
    assert.deepEqual(await phone.waitClose(), { code: 1009, reason: '' });
    const big = `{"conn_id":"x","frame":"${'b'.repeat(262_144)}"}`;
    binary.send(big);
    assert.deepEqual(await binary.waitClose(), { code: 1009, reason: '' });
  });

  // protocol.md §4 and relay-behaviour.md §6 fix the code (1009), not a reason;
  // ws sends it itself as soon as the frame header announces the length:
  // a bare code, no reason bytes, one close frame.
  for (const leg of [
    { name: 'phone', path: '/v1/client', headers: 'X-Pyrycode-Token: abc\r\nUser-Agent: pyrycode-mobile/1\r\n' },
    { name: 'binary', path: '/v1/server', headers: 'X-Pyrycode-Version: 0.23.0\r\nUser-Agent: pyry/0.23.0\r\n' },
  ]) {
    test(`${leg.name}: a message over --max-message-bytes gets exactly one close frame, 1009 and no reason`, async () => {
      const id = newServerId();
      const binary = leg.name === 'phone' ? await connectBinary(relay.url, id) : undefined;
      const { sock, data } = await rawUpgrade(relay.port, leg.path, `X-Pyrycode-Server: ${id}\r\n${leg.headers}`);
      sock.write(clientFrame(0x1, true, Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x61)));
      await closeFrameOn(sock, data, 3000);
      // Answer it, and count close frames only once the relay has ended the connection.
      const ended = new Promise((r) => sock.once('close', r));
      sock.write(clientFrame(0x8, true, Buffer.from([0x03, 0xf1])));
      await ended;
      const closes = serverFrames(data()).filter((f) => f.op === 8);
      assert.equal(closes.length, 1);
      assert.deepEqual([...(closes[0]?.payload ?? [])], [CloseCode.tooBig >> 8, CloseCode.tooBig & 0xff]);
      if (binary !== undefined) {
        // The binary's close notice carries the relay's code (relay-behaviour.md §5).
        const notice = JSON.parse(await binary.next()) as Record<string, unknown>;
        assert.deepEqual(Object.keys(notice).sort(), ['close_code', 'conn_id']);
        assert.equal(notice.close_code, CloseCode.tooBig);
      }
      sock.destroy();
      binary?.close();
    });
  }

  test('a stalled fragment: the message deadline closes with 1008 message timeout', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const { sock, data } = await rawPhone(relay.port, id);
    // Pongs keep the heartbeat happy (else, on a slow run, its 1011 can come
    // first); the message itself never completes.
    answerPings(sock, data);
    const t0 = performance.now();
    sock.write(clientFrame(0x1, false, Buffer.from('{"v":')));
    // The deadline (400 ms) plus a sweep or two; no later than the old fixed 900 ms.
    await closeFrameOn(sock, data, 900);
    assert.ok(performance.now() - t0 >= READ_MESSAGE_TIMEOUT_MS - 5, 'not before the deadline');
    assert.equal(closeCodeIn(data()), 1008);
    assert.ok(data().includes('message timeout'));
    const notice = JSON.parse(await binary.next()) as { close_code: number };
    assert.equal(notice.close_code, 1008);
    sock.destroy();
    binary.close();
  });

  test('exactly one close frame on the wire, and the close handshake is bounded', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const { sock, data } = await rawPhone(relay.port, id);
    sock.write(clientFrame(0x1, true, Buffer.from('not json')));
    // Never answer the close frame: the relay must give up after its close timeout (1 s here).
    const t0 = Date.now();
    await new Promise((r) => sock.once('close', r));
    const waited = Date.now() - t0;
    assert.ok(waited >= 800 && waited < 3000, `closed after ${waited} ms`);
    const buf = data();
    const closes = serverFrames(buf).filter((f) => f.op === 8).length;
    assert.equal(closes, 1);
    assert.equal(closeCodeIn(buf), 1007);
    assert.equal((JSON.parse(await binary.next()) as { close_code: number }).close_code, 1007);
    binary.close();
  });

  test('idle time between messages is unlimited (no deadline without a partial message)', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    // A window in which nothing may happen: the shortest that still proves it is
    // the message deadline plus one sweep (the flags above), with one sweep of slack.
    await sleep(READ_MESSAGE_TIMEOUT_MS + 2 * SWEEP_MS);
    assert.ok(!phone.isClosed && !binary.isClosed);
    phone.send('{"still":"here"}');
    assert.match(await binary.next(), /still/);
    binary.close();
    phone.close();
  });

  test('slow headers: the TCP connection is closed without a response', async () => {
    const sock = connect(relay.port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => (got += d.toString()));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /v1/client HTTP/1.1\r\nHost: x\r\n');
    // Trickle bytes: an absolute deadline, not an idle timer.
    const trickle = setInterval(() => sock.write('X'), 50);
    const t0 = Date.now();
    await new Promise((r) => sock.once('close', r));
    clearInterval(trickle);
    assert.equal(got, '');
    assert.ok(Date.now() - t0 < 1000);
  });
});
