// Unit tests of a phone's outbox on a fake socket and a fake clock: straight
// writes, queueing and draining in order, per-item overhead, the per-phone and
// relay-wide budgets, close directives behind the queue, compaction of small
// views, and when writes count as stalled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferBudget } from '../../src/relay/buffer-budget.js';
import { ITEM_OVERHEAD, Outbox, type OutboxOwner } from '../../src/relay/outbox.js';
import { FakeClock } from '../helpers/clock.js';
import { fakePair, flushWrites } from '../helpers/fake-socket.js';

class Owner implements OutboxOwner {
  written: string[] = [];
  overflows: Array<[number, boolean]> = [];
  directives: number[] = [];
  onFrameWritten(frame: Buffer): void {
    this.written.push(frame.toString());
  }
  onOverflow(code: number, byDirective: boolean): void {
    this.overflows.push([code, byDirective]);
  }
  onDirectiveClose(code: number): void {
    this.directives.push(code);
  }
}

function setup(limit = 10_000, budgetBytes = 1_000_000) {
  const clock = new FakeClock();
  const budget = new BufferBudget(budgetBytes);
  const { socket, asWs, asSocket } = fakePair();
  const owner = new Owner();
  const outbox = new Outbox(asWs, asSocket, limit, budget, owner, clock);
  return { clock, budget, socket, owner, outbox };
}

const f = (s: string): Buffer => Buffer.from(s);

test('while the socket keeps up frames go straight to it, uncharged', async () => {
  const { budget, socket, owner, outbox } = setup();
  assert.ok(outbox.sendFrame(f('{"a":1}')));
  assert.ok(outbox.sendFrame(f('{"a":2}')));
  await flushWrites();
  assert.deepEqual(socket.text(), ['{"a":1}', '{"a":2}']);
  assert.deepEqual(owner.written, ['{"a":1}', '{"a":2}']);
  assert.equal(budget.usedBytes, 0);
  assert.equal(outbox.stalledSince, undefined);
});

test('a backed-up socket queues frames, charged length + per-item overhead, drained in order', () => {
  const { clock, budget, socket, outbox } = setup();
  socket.writableNeedDrain = true;
  const t0 = clock.now();
  outbox.sendFrame(f('12345'));
  clock.advance(50);
  outbox.sendFrame(f('1234567890'));
  assert.deepEqual(socket.frames, []);
  assert.equal(outbox.backlogBytes, 5 + 10 + 2 * ITEM_OVERHEAD);
  assert.equal(budget.usedBytes, 5 + 10 + 2 * ITEM_OVERHEAD);
  assert.equal(outbox.stalledSince, t0, 'stalled since the first frame had to wait');
  socket.drain();
  assert.deepEqual(socket.text(), ['12345', '1234567890']);
  assert.equal(budget.usedBytes, 0);
  assert.equal(outbox.backlogBytes, 0);
  assert.equal(outbox.stalledSince, undefined);
});

test('a drain that backs up again leaves the rest queued, in order, across many items', () => {
  const { budget, socket, outbox } = setup(1_000_000);
  socket.writableNeedDrain = true;
  for (let i = 0; i < 3000; i++) outbox.sendFrame(f(String(i)));
  let drains = 0;
  while (socket.frames.length < 3000) {
    socket.backUpAfter = 700;
    socket.drain();
    drains++;
  }
  assert.equal(drains, 5);
  assert.deepEqual(
    socket.text(),
    Array.from({ length: 3000 }, (_, i) => String(i)),
  );
  assert.equal(budget.usedBytes, 0);
});

test('the per-phone limit counts queued plus unsent socket bytes; overflow closes with 1011', () => {
  const { budget, socket, owner, outbox } = setup(1000);
  socket.writableNeedDrain = true;
  socket.writableLength = 500;
  assert.ok(outbox.sendFrame(f('x'.repeat(300))));
  assert.equal(outbox.pinnedBytes, 500 + 300 + ITEM_OVERHEAD);
  // 864 + 100 + 64 > 1000
  assert.ok(!outbox.sendFrame(f('y'.repeat(100))));
  assert.deepEqual(owner.overflows, [[1011, false]]);
  assert.equal(budget.usedBytes, 0, 'the overflow released the whole charge');
  assert.ok(!outbox.sendFrame(f('z')), 'sealed after overflow');
});

test('the relay-wide budget sheds the phone with the largest backlog', () => {
  const budget = new BufferBudget(1000);
  const clock = new FakeClock();
  const mk = () => {
    const { socket, asWs, asSocket } = fakePair();
    socket.writableNeedDrain = true;
    const owner = new Owner();
    return { socket, owner, outbox: new Outbox(asWs, asSocket, 100_000, budget, owner, clock) };
  };
  const small = mk();
  const large = mk();
  const newcomer = mk();
  small.outbox.sendFrame(f('s'.repeat(100)));
  large.outbox.sendFrame(f('l'.repeat(500)));
  assert.equal(budget.usedBytes, 100 + 500 + 2 * ITEM_OVERHEAD);
  assert.ok(newcomer.outbox.sendFrame(f('n'.repeat(300))));
  assert.deepEqual(large.owner.overflows, [[1011, false]]);
  assert.deepEqual(small.owner.overflows, []);
  assert.equal(budget.usedBytes, 100 + 300 + 2 * ITEM_OVERHEAD);
});

test('a close directive waits behind queued frames; later frames are refused', () => {
  const { socket, owner, outbox } = setup();
  socket.writableNeedDrain = true;
  outbox.sendFrame(f('one'));
  outbox.closeAfter(f('last'), 4000);
  assert.ok(!outbox.sendFrame(f('after')));
  assert.deepEqual(owner.directives, []);
  socket.drain();
  assert.deepEqual(socket.text(), ['one', 'last']);
  assert.deepEqual(owner.directives, [4000]);
});

test('a close directive on an idle socket writes and closes at once', async () => {
  const { socket, owner, outbox } = setup();
  outbox.closeAfter(undefined, 4001);
  assert.deepEqual(owner.directives, [4001]);
  await flushWrites();
  assert.deepEqual(socket.frames, []);
});

test('a close directive that overflows closes with its own code', () => {
  const { socket, owner, outbox } = setup(200);
  socket.writableNeedDrain = true;
  outbox.sendFrame(f('x'.repeat(100)));
  outbox.closeAfter(f('y'.repeat(100)), 4002);
  assert.deepEqual(owner.overflows, [[4002, true]]);
});

test('clear() drops the queue and releases its charge', () => {
  const { budget, socket, outbox } = setup();
  socket.writableNeedDrain = true;
  outbox.sendFrame(f('abc'));
  outbox.clear();
  assert.equal(budget.usedBytes, 0);
  socket.drain();
  assert.deepEqual(socket.frames, []);
});

test('a small view of a large buffer is copied before it waits; a view of most of its buffer is not', () => {
  const { socket, outbox } = setup(1_000_000);
  socket.writableNeedDrain = true;
  const parent = Buffer.alloc(100_000, 0x61);
  const small = parent.subarray(0, 9000); // 100000 > 2·9000 + 4096: copied
  const parent2 = Buffer.alloc(20_000, 0x62);
  const most = parent2.subarray(0, 9000); // 20000 ≤ 2·9000 + 4096: kept
  outbox.sendFrame(small);
  outbox.sendFrame(most);
  socket.drain();
  // Frames over 8 KiB are written as header + the queued buffer itself.
  const [w1, w2] = socket.frames;
  assert.notEqual(w1!.buffer, parent.buffer, 'the queued copy no longer pins the 100 kB parent');
  assert.ok(w1!.equals(small));
  assert.equal(w2, most);
});

test('writes that back the socket up mark the outbox stalled at that moment', async () => {
  const { clock, socket, outbox } = setup();
  socket.backUpAfter = 1;
  clock.advance(123);
  outbox.sendFrame(f('a'));
  assert.equal(outbox.stalledSince, clock.now());
  socket.drain();
  assert.equal(outbox.stalledSince, undefined);
  await flushWrites();
});
