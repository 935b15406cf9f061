// Black-box: heartbeat, message size limit, message deadline and the header
// timeout (relay-behaviour.md §6), with shortened tunables.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connectBinary, connectPhone, newServerId, sleep } from '../helpers/clients.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

/** A raw WebSocket frame from a client (masked), for fragment-level tests. */
function clientFrame(opcode: number, fin: boolean, payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff]);
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
  for (let i = 0; i < 100 && !buf.includes('\r\n\r\n'); i++) await sleep(10);
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
  for (let i = buf.indexOf('\r\n\r\n') + 4; i + 2 <= buf.length; ) {
    const op = (buf[i] as number) & 0x0f;
    let len = (buf[i + 1] as number) & 0x7f;
    let off = i + 2;
    if (len === 126) {
      len = buf.readUInt16BE(off);
      off += 2;
    }
    frames.push({ op, payload: buf.subarray(off, off + len) });
    i = off + len;
  }
  return frames;
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
      readMessageTimeoutMs: 400,
      headerTimeoutMs: 300,
      maxMessageBytes: 262_144,
    });
  });
  after(() => relay.stop());

  test('heartbeat: a peer that stops answering pings is closed 1011 heartbeat timeout', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    let pings = 0;
    binary.ws.on('ping', () => pings++);
    await sleep(700);
    assert.ok(pings >= 2, 'relay pings every interval');
    assert.ok(!binary.isClosed, 'answering peers stay');
    phone.ws.pause(); // stops reading: pings go unanswered
    await sleep(800);
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
    assert.equal((await phone.waitClose()).code, 1009);
    const big = `{"conn_id":"x","frame":"${'b'.repeat(262_144)}"}`;
    binary.send(big);
    assert.equal((await binary.waitClose()).code, 1009);
  });

  test('a stalled fragment: the message deadline closes with 1008 message timeout', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const { sock, data } = await rawPhone(relay.port, id);
    // Pongs keep the heartbeat happy (else, on a slow run, its 1011 can come
    // first); the message itself never completes.
    answerPings(sock, data);
    sock.write(clientFrame(0x1, false, Buffer.from('{"v":')));
    await sleep(900);
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
    await sleep(700);
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
