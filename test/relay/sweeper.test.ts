// Unit tests of the sweep and the per-connection deadlines it enforces, on a
// fake clock with fake sockets: heartbeat, message deadline, write progress,
// the drain order and waiting for the last connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BinaryLink } from '../../src/relay/binary-link.js';
import { BufferBudget } from '../../src/relay/buffer-budget.js';
import { PhoneLink } from '../../src/relay/phone-link.js';
import { Sweeper, sweepIntervalMs, type Swept, type Timeouts } from '../../src/relay/sweeper.js';
import { FakeClock } from '../helpers/clock.js';
import { fakePair } from '../helpers/fake-socket.js';

const T: Timeouts = { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 400, readMessageTimeoutMs: 800, writeTimeoutMs: 600 };

function phone(clock: FakeClock) {
  const pair = fakePair();
  const events = { onFrameWritten() {}, onBacklogClose() {} };
  const link = new PhoneLink(pair.asWs, pair.asSocket, clock, '127.0.0.1', 's', 'c1', undefined, 1_000_000, new BufferBudget(1e9), events);
  return { ...pair, link };
}

function binary(clock: FakeClock) {
  const pair = fakePair();
  const paused: string[] = [];
  const events = { pausePhones: () => paused.push('pause'), resumePhones: () => paused.push('resume') };
  const link = new BinaryLink(pair.asWs, pair.asSocket, clock, '127.0.0.1', 's', 'b1', '0.23.0', 1000, events);
  return { ...pair, link, paused };
}

test('the sweep runs every quarter of the shortest deadline, clamped to 10 ms … 1 s', () => {
  assert.equal(sweepIntervalMs(T), 100);
  assert.equal(sweepIntervalMs({ ...T, heartbeatTimeoutMs: 4 }), 10);
  assert.equal(
    sweepIntervalMs({ heartbeatIntervalMs: 60_000, heartbeatTimeoutMs: 60_000, readMessageTimeoutMs: 60_000, writeTimeoutMs: 60_000 }),
    1000,
  );
});

test('each sweep ticks every link with the clock time; stop() ends the sweeps', () => {
  const clock = new FakeClock();
  const sweeper = new Sweeper<Swept>(T, clock);
  const seen: number[] = [];
  sweeper.add({ drainFirst: false, tick: (now) => seen.push(now) });
  const start = clock.now();
  clock.advance(350);
  assert.deepEqual(seen, [start + 100, start + 200, start + 300]);
  sweeper.stop();
  clock.advance(1000);
  assert.equal(seen.length, 3);
  assert.equal(clock.pending, 0);
});

test('drain order: links marked drainFirst (phones) before the rest, whatever the insertion order', () => {
  const clock = new FakeClock();
  const sweeper = new Sweeper<Swept & { name: string }>(T, clock);
  for (const [name, drainFirst] of [
    ['b1', false],
    ['p1', true],
    ['b2', false],
    ['p2', true],
  ] as const) {
    sweeper.add({ name, drainFirst, tick() {} });
  }
  assert.deepEqual(
    sweeper.drainOrder().map((l) => l.name),
    ['p1', 'p2', 'b1', 'b2'],
  );
  sweeper.stop();
});

test('waitEmpty resolves when the last link leaves, or at its deadline', async () => {
  const clock = new FakeClock();
  const sweeper = new Sweeper<Swept>(T, clock);
  const l: Swept = { drainFirst: false, tick() {} };
  sweeper.add(l);
  let emptied = false;
  const w = sweeper.waitEmpty(5000).then(() => (emptied = true));
  await Promise.resolve();
  assert.ok(!emptied);
  sweeper.delete(l);
  await w;
  sweeper.add(l);
  let timedOut = false;
  const w2 = sweeper.waitEmpty(500).then(() => (timedOut = true));
  clock.advance(499);
  await Promise.resolve();
  assert.ok(!timedOut);
  clock.advance(1);
  await w2;
  sweeper.stop();
});

test('heartbeat: a ping after the interval, a close with 1011 when no pong comes in time', () => {
  const clock = new FakeClock();
  const { ws, link } = binary(clock);
  const sweeper = new Sweeper(T, clock);
  sweeper.add(link);
  clock.advance(999);
  assert.equal(ws.pings, 0);
  clock.advance(1);
  assert.equal(ws.pings, 1);
  clock.advance(399);
  assert.deepEqual(ws.closes, []);
  clock.advance(1);
  assert.deepEqual(ws.closes, [{ code: 1011, reason: 'heartbeat timeout' }]);
  sweeper.stop();
});

test('heartbeat: a pong in time clears the outstanding ping; the next ping follows the interval', () => {
  const clock = new FakeClock();
  const { ws, link } = phone(clock);
  const sweeper = new Sweeper(T, clock);
  sweeper.add(link);
  clock.advance(1000);
  assert.equal(ws.pings, 1);
  clock.advance(300);
  ws.emit('pong');
  clock.advance(1000);
  assert.deepEqual(ws.closes, []);
  assert.equal(ws.pings, 2);
  sweeper.stop();
});

test('message deadline: a message left half-received is closed with 1008; progress restarts the clock', () => {
  const clock = new FakeClock();
  const { ws, link } = phone(clock);
  const sweeper = new Sweeper({ ...T, heartbeatIntervalMs: 60_000 }, clock);
  sweeper.add(link);
  ws._receiver._bufferedBytes = 10;
  clock.advance(700);
  link.received(); // a message completed meanwhile: the deadline restarts
  clock.advance(700);
  assert.deepEqual(ws.closes, []);
  clock.advance(200);
  assert.deepEqual(ws.closes, [{ code: 1008, reason: 'message timeout' }]);
  sweeper.stop();
});

test('write progress: a phone whose writes stall past the write timeout is closed with 1011', () => {
  const clock = new FakeClock();
  const { ws, socket, link } = phone(clock);
  const sweeper = new Sweeper({ ...T, heartbeatIntervalMs: 60_000 }, clock);
  sweeper.add(link);
  socket.writableNeedDrain = true;
  link.sendFrame(Buffer.from('{}'));
  clock.advance(500);
  assert.deepEqual(ws.closes, []);
  clock.advance(100);
  assert.deepEqual(ws.closes, [{ code: 1011, reason: 'phone write failed' }]);
  sweeper.stop();
});

const PHONE = { connId: 'client-s-00000000', wrapPrefix: Buffer.from('{"conn_id":"client-s-00000000","frame":') };

test('write progress: a binary socket that drains in time is left alone; one that stalls is closed', () => {
  const clock = new FakeClock();
  const { ws, socket, link, paused } = binary(clock);
  const sweeper = new Sweeper({ ...T, heartbeatIntervalMs: 60_000 }, clock);
  sweeper.add(link);
  socket.writableNeedDrain = true;
  socket.writableLength = 5000; // past the 1000-byte high-water mark: phones paused
  link.fromPhone(PHONE, Buffer.from('{}'));
  assert.deepEqual(paused, ['pause']);
  clock.advance(500);
  socket.drain();
  assert.deepEqual(paused, ['pause', 'resume']);
  clock.advance(1000);
  assert.deepEqual(ws.closes, []);
  socket.writableNeedDrain = true;
  link.fromPhone(PHONE, Buffer.from('{}'));
  clock.advance(600);
  assert.deepEqual(ws.closes, [{ code: 1011, reason: 'binary write failed' }]);
  sweeper.stop();
});

test('probe: a pong answers true; silence answers false at the timeout; a close answers false at once', async () => {
  const clock = new FakeClock();
  const { ws, link } = binary(clock);
  const alive = link.probe(300);
  assert.equal(ws.pings, 1);
  ws.emit('pong');
  assert.equal(await alive, true);
  const silent = link.probe(300);
  clock.advance(300);
  assert.equal(await silent, false);
  const closing = link.probe(300);
  link.markClosed();
  assert.equal(await closing, false);
  assert.equal(await link.probe(300), false);
  assert.equal(clock.pending, 0, 'no timer left behind');
});
