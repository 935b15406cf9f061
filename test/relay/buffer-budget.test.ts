// Unit tests of the relay-wide queued-bytes budget: who is shed, in what order,
// and that the accounting returns to zero.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferBudget, type Backlogged } from '../../src/relay/buffer-budget.js';

class Holder implements Backlogged {
  backlogBytes = 0;
  shedCount = 0;
  constructor(
    readonly name: string,
    private readonly budget: BufferBudget,
    readonly order: string[],
  ) {}
  add(bytes: number): boolean {
    if (!this.budget.charge(this, bytes)) return false;
    this.backlogBytes += bytes;
    return true;
  }
  take(bytes: number): void {
    this.backlogBytes -= bytes;
    this.budget.release(this, bytes);
  }
  shed(): void {
    this.shedCount++;
    this.order.push(this.name);
    const bytes = this.backlogBytes;
    this.backlogBytes = 0;
    this.budget.release(this, bytes);
  }
}

function setup(limit: number): { budget: BufferBudget; order: string[]; h: (n: string) => Holder } {
  const budget = new BufferBudget(limit);
  const order: string[] = [];
  return { budget, order, h: (n) => new Holder(n, budget, order) };
}

test('charges within the limit shed nobody and are counted exactly', () => {
  const { budget, order, h } = setup(1000);
  const a = h('a');
  const b = h('b');
  assert.ok(a.add(400));
  assert.ok(b.add(600));
  assert.equal(budget.usedBytes, 1000);
  assert.deepEqual(order, []);
  a.take(400);
  b.take(100);
  assert.equal(budget.usedBytes, 500);
});

test('overflow sheds the largest backlog first, then the next largest, until the charge fits', () => {
  const { budget, order, h } = setup(1000);
  const a = h('a');
  const b = h('b');
  const c = h('c');
  a.add(200);
  b.add(450);
  c.add(300);
  const d = h('d');
  // 950 used; 100 more needs 50: the largest (b) goes, then it fits.
  assert.ok(d.add(100));
  assert.deepEqual(order, ['b']);
  assert.equal(budget.usedBytes, 600);
  // 700 more needs 300 beyond the remaining 400: c (300) then a (200)? The largest is the newcomer itself.
  const e = h('e');
  assert.ok(!e.add(700));
  assert.deepEqual(order, ['b', 'e'], 'the newcomer with the largest pending backlog is the one shed');
  assert.equal(budget.usedBytes, 600);
});

test('the newcomer counts with its pending charge; on a tie it is the one shed', () => {
  const { budget, order, h } = setup(1000);
  const a = h('a');
  const b = h('b');
  a.add(300);
  b.add(600);
  // a: 300 queued + 300 pending = 600, equal to b: a goes, b keeps its queue.
  assert.ok(!a.add(300));
  assert.deepEqual(order, ['a']);
  assert.equal(budget.usedBytes, 600);
  // A shed holder starts again from zero and may queue once there is room.
  assert.ok(a.add(400));
  assert.equal(budget.usedBytes, 1000);
});

test('a holder whose backlog reaches zero is no longer a shedding candidate', () => {
  const { budget, order, h } = setup(100);
  const a = h('a');
  a.add(80);
  a.take(80);
  const b = h('b');
  assert.ok(b.add(100));
  assert.deepEqual(order, []);
  assert.equal(a.shedCount, 0);
  assert.equal(budget.usedBytes, 100);
});
