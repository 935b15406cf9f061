// Unit tests of the conflict probe's deadline and the drain spread, on a fake clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictProbe } from '../../src/relay/conflict-probe.js';
import { scheduleDrain } from '../../src/relay/drain-schedule.js';
import { FakeClock } from '../helpers/clock.js';

test('the incumbent answering in time is alive', async () => {
  const clock = new FakeClock();
  const probe = new ConflictProbe(clock, 500);
  let asked = 0;
  const res = probe.alive({ probe: (ms) => ((asked = ms), Promise.resolve(true)) });
  assert.equal(await res, true);
  assert.equal(asked, 500, 'the endpoint is given the same timeout');
  assert.equal(clock.pending, 0);
});

test('an incumbent whose probe never settles (a lost node) counts as dead at the deadline', async () => {
  const clock = new FakeClock();
  const probe = new ConflictProbe(clock, 500);
  let settled: boolean | undefined;
  const res = probe.alive({ probe: () => new Promise<boolean>(() => {}) }).then((a) => (settled = a));
  clock.advance(499);
  await Promise.resolve();
  assert.equal(settled, undefined);
  clock.advance(1);
  await res;
  assert.equal(settled, false);
});

test('a failing probe counts as dead', async () => {
  const probe = new ConflictProbe(new FakeClock(), 500);
  assert.equal(await probe.alive({ probe: () => Promise.reject(new Error('node gone')) }), false);
});

test('drain spread: the first at once, the rest evenly over the window, in order', () => {
  const clock = new FakeClock();
  const start = clock.now();
  const closed: Array<[string, number]> = [];
  scheduleDrain(clock, ['p1', 'p2', 'p3', 'b1', 'b2'], 1000, (x) => closed.push([x, clock.now() - start]));
  assert.deepEqual(closed, [['p1', 0]]);
  clock.advance(1000);
  assert.deepEqual(closed, [
    ['p1', 0],
    ['p2', 250],
    ['p3', 500],
    ['b1', 750],
    ['b2', 1000],
  ]);
});

test('drain spread of 0 closes everything at once; cancel() stops what has not fired', () => {
  const clock = new FakeClock();
  const now: string[] = [];
  scheduleDrain(clock, ['a', 'b'], 0, (x) => now.push(x));
  assert.deepEqual(now, ['a', 'b']);
  const later: string[] = [];
  const d = scheduleDrain(clock, ['a', 'b', 'c'], 100, (x) => later.push(x));
  clock.advance(50);
  d.cancel();
  clock.advance(100);
  assert.deepEqual(later, ['a', 'b']);
  assert.equal(clock.pending, 0);
});
