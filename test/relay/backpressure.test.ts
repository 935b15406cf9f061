// Black-box: per-phone queues and backpressure (relay-behaviour.md §4 and
// invariant 3 of §7): a stalled phone is shed without delaying anyone else.
// Kernel socket buffers on loopback absorb several MB before the relay queues
// anything, so tests send until the relay reports queued bytes instead of
// guessing a byte count.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectBinary, connectPhone, newServerId, noiseFrame, sleep, type TestClient } from '../helpers/clients.js';
import { nth, until } from '../helpers/wait.js';
import { metricValue } from '../helpers/metrics.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const MAX_SEND_BYTES = 64 * 1024 * 1024;

async function connIdOf(phone: TestClient, binary: TestClient): Promise<string> {
  phone.send('{"hello":1}');
  const raw = await binary.next();
  return (JSON.parse(raw) as { conn_id: string }).conn_id;
}

/** Stops a client reading its socket, so the relay's writes back up in TCP. */
function stall(c: TestClient): void {
  c.ws.pause();
}

const queued = (relay: TestRelay): Promise<number> => metricValue(relay.app.metrics, 'pyrycode_relay_queued_bytes');

/**
 * Resolves once the relay has read and handled everything the client sent
 * before: ws answers a ping when it parses it, after the messages ahead of it,
 * and the relay handles each message synchronously. The relay never pauses a
 * binary for a stalled phone, so this serves on the binary.
 */
function relayCaughtUp(c: TestClient): Promise<void> {
  const pong = nth(c.ws, 'pong', 1, 5000);
  c.ws.ping();
  return pong;
}

/** Sends `envelope` from the binary until the relay queues at least `bytes` (bounded). */
async function fillUntilQueued(relay: TestRelay, binary: TestClient, envelope: string, bytes: number): Promise<void> {
  for (let sent = 0; sent < MAX_SEND_BYTES; sent += envelope.length) {
    binary.send(envelope);
    await relayCaughtUp(binary);
    if ((await queued(relay)) >= bytes) return;
  }
  throw new Error('relay never queued');
}

describe('backpressure', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay({ phoneOutboxBytes: 512 * 1024, writeTimeoutMs: 1000, conflictProbeTimeoutMs: 400 });
  });
  after(() => relay.stop());

  test('a non-reading phone is closed 1011 while a reading phone keeps receiving promptly', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const slow = await connectPhone(relay.url, id);
    const fast = await connectPhone(relay.url, id);
    const slowId = await connIdOf(slow, binary);
    const fastId = await connIdOf(fast, binary);
    stall(slow);
    const frame = noiseFrame(60_000);
    let worst = 0;
    let i = 0;
    for (let sent = 0; !relay.logs.some((l) => l.includes('phone_backlog_full')); sent += frame.length) {
      assert.ok(sent < MAX_SEND_BYTES, 'stalled phone was never shed');
      binary.send(`{"conn_id":"${slowId}","frame":${frame}}`);
      const t0 = performance.now();
      binary.send(`{"conn_id":"${fastId}","frame":{"i":${i}}}`);
      assert.equal(await fast.next(), `{"i":${i}}`);
      worst = Math.max(worst, performance.now() - t0);
      i++;
    }
    slow.ws.resume();
    assert.deepEqual(await slow.waitClose(5000), { code: 1011, reason: 'phone backlog full' });
    // The binary hears about it with the relay's code.
    assert.equal(await binary.next(3000), `{"conn_id":"${slowId}","close_code":1011}`);
    assert.ok(worst < 250, `fast phone waited ${worst.toFixed(1)} ms for a frame`);
    assert.ok(!fast.isClosed && !binary.isClosed);
    binary.close();
    fast.close();
  });

  test('a write that makes no progress for the write timeout closes the phone with 1011', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const slow = await connectPhone(relay.url, id);
    const slowId = await connIdOf(slow, binary);
    stall(slow);
    // Writes to it stall no earlier than now.
    const t0 = performance.now();
    await fillUntilQueued(relay, binary, `{"conn_id":"${slowId}","frame":${noiseFrame(16_000)}}`, 1);
    // Closing it drops its outbox: the queued bytes fall to zero.
    await until(async () => (await queued(relay)) === 0, 4000, 'outbox dropped');
    // The relay's clock floors to whole milliseconds.
    assert.ok(performance.now() - t0 >= 1000 - 1, 'closed before the write timeout');
    slow.ws.resume(); // reading again lets the close frame through, behind the data already sent
    const closed = await slow.waitClose(4000);
    assert.deepEqual(closed, { code: 1011, reason: 'phone write failed' });
    assert.equal(await queued(relay), 0);
    binary.close();
  });

  test('the binary keeps its slot (answers the probe, 4409 for a duplicate) while a phone is stalled', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const slow = await connectPhone(relay.url, id);
    const slowId = await connIdOf(slow, binary);
    stall(slow);
    await fillUntilQueued(relay, binary, `{"conn_id":"${slowId}","frame":${noiseFrame(30_000)}}`, 100_000);
    const dup = await connectBinary(relay.url, id);
    assert.deepEqual(await dup.waitClose(), { code: 4409, reason: 'server-id already claimed' });
    assert.ok(!binary.isClosed);
    binary.close();
    slow.ws.terminate();
  });

  test('phone → binary: a binary that stops reading pauses its phones; nothing is lost', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    const connId = await connIdOf(phone, binary);
    stall(binary);
    let n = 0;
    // If the relay kept reading, everything would pile up in its memory and the
    // phone's own socket would never back up.
    while (phone.ws.bufferedAmount < 4 * 1024 * 1024) {
      assert.ok(n * 50_000 < MAX_SEND_BYTES, 'the relay never pushed back on the phone');
      phone.send(noiseFrame(50_000, n++));
      // Pacing, not waiting for an event: once the relay pauses this phone (the
      // point of the test) nothing it does is observable from here, so a ping
      // would go unanswered. 5 ms per MB gives an in-process relay time to read.
      if (n % 20 === 0) await sleep(5);
    }
    binary.ws.resume();
    for (let i = 0; i < n; i++) {
      assert.equal(await binary.next(5000), `{"conn_id":"${connId}","frame":${noiseFrame(50_000, i)}}`);
    }
    binary.close();
    phone.close();
  });
});

describe('relay-wide buffer budget', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay({ phoneOutboxBytes: 1024 * 1024, maxBufferedBytes: 1280 * 1024 });
  });
  after(() => relay.stop());

  test('when the budget is exhausted the phone with the largest backlog is closed 1011', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const big = await connectPhone(relay.url, id);
    const small = await connectPhone(relay.url, id);
    const bigId = await connIdOf(big, binary);
    const smallId = await connIdOf(small, binary);
    stall(big);
    stall(small);
    await fillUntilQueued(relay, binary, `{"conn_id":"${bigId}","frame":${noiseFrame(20_000)}}`, 700 * 1024);
    const smallFrame = `{"conn_id":"${smallId}","frame":${noiseFrame(20_000)}}`;
    for (let sent = 0; !relay.logs.some((l) => l.includes('phone_backlog_full')); sent += smallFrame.length) {
      assert.ok(sent < MAX_SEND_BYTES, 'budget never enforced');
      binary.send(smallFrame);
      if (sent % (smallFrame.length * 16) === 0) await relayCaughtUp(binary);
    }
    const shed = relay.events().find((e) => e.event === 'phone_backlog_full');
    assert.equal(shed?.conn_id, bigId);
    assert.ok((await queued(relay)) <= 1280 * 1024);
    big.ws.resume();
    assert.deepEqual(await big.waitClose(5000), { code: 1011, reason: 'phone backlog full' });
    assert.ok(!small.isClosed && !binary.isClosed);
    binary.close();
    small.ws.terminate();
  });
});
