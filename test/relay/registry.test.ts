// Unit tests of the single-node registry: no sockets, just decisions, with the
// grace windows on a fake clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRegistry } from '../../src/relay/registry.js';
import { FakeClock } from '../helpers/clock.js';

interface P {
  connId: string;
}
const b1 = { name: 'b1' };
const b2 = { name: 'b2' };
const phone = (id: string): P => ({ connId: id });
const GRACE = 1000;

function setup(): { r: MemoryRegistry<object, P>; clock: FakeClock; expired: Array<[string, P[]]> } {
  const clock = new FakeClock();
  const expired: Array<[string, P[]]> = [];
  const r = new MemoryRegistry<object, P>({ graceExpired: (s, phones) => expired.push([s, phones]) }, { gracePeriodMs: GRACE, clock });
  return { r, clock, expired };
}

test('first claim wins, a second claim on a live slot is a conflict', async () => {
  const { r } = setup();
  assert.deepEqual(await r.claim('s', b1), { kind: 'claimed' });
  assert.deepEqual(await r.claim('s', b2), { kind: 'conflict', incumbent: b1 });
  assert.equal(r.holder('s'), b1);
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
});

test('phones: 4404 checked before the cap, cap enforced atomically, allowed during grace', async () => {
  const { r } = setup();
  assert.equal((await r.registerPhone('s', phone('a'), 0)).kind, 'no_server');
  await r.claim('s', b1);
  // Issued together, before either settles: the cap still holds.
  const [a, b, c] = await Promise.all([
    r.registerPhone('s', phone('a'), 2),
    r.registerPhone('s', phone('b'), 2),
    r.registerPhone('s', phone('c'), 2),
  ]);
  assert.deepEqual([a.kind, b.kind, c.kind], ['registered', 'registered', 'at_cap']);
  assert.equal(await r.releaseBinary('s', b1), true);
  assert.deepEqual(r.counts(), { binaries: 0, phones: 2 });
  assert.equal(r.holder('s'), undefined);
  assert.ok(await r.unregisterPhone('s', r.phone('s', 'a') as P));
  assert.deepEqual(await r.registerPhone('s', phone('d'), 2), { kind: 'registered', binary: b1, inGrace: true });
  await r.close();
});

test('reclaim during grace evicts every phone and cancels the window', async () => {
  const { r, clock, expired } = setup();
  await r.claim('s', b1);
  const a = phone('a');
  await r.registerPhone('s', a, 16);
  assert.equal(await r.releaseBinary('s', b1), true);
  const late = phone('late');
  await r.registerPhone('s', late, 16);
  clock.advance(GRACE - 1);
  const res = await r.claim('s', b2);
  assert.deepEqual(res, { kind: 'reclaimed', evicted: [a, late] });
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
  assert.equal(clock.pending, 0, 'the window was cancelled');
  clock.advance(10 * GRACE);
  assert.deepEqual(expired, []);
  assert.equal(r.holder('s'), b2);
});

test('grace expiry is reported once, with the phones, and frees the slot', async () => {
  const { r, clock, expired } = setup();
  await r.claim('s', b1);
  const a = phone('a');
  await r.registerPhone('s', a, 16);
  await r.releaseBinary('s', b1);
  clock.advance(GRACE - 1);
  assert.deepEqual(expired, []);
  clock.advance(1);
  assert.deepEqual(expired, [['s', [a]]]);
  clock.advance(10 * GRACE);
  assert.equal(expired.length, 1);
  assert.deepEqual(r.counts(), { binaries: 0, phones: 0 });
  assert.equal((await r.claim('s', b2)).kind, 'claimed');
});

test('close() stops every grace window: no report afterwards', async () => {
  const { r, clock, expired } = setup();
  await r.claim('s', b1);
  await r.claim('t', b2);
  await r.releaseBinary('s', b1);
  await r.releaseBinary('t', b2);
  assert.equal(clock.pending, 2);
  await r.close();
  assert.equal(clock.pending, 0);
  clock.advance(10 * GRACE);
  assert.deepEqual(expired, []);
});

test('a displaced binary never arms a grace window', async () => {
  const { r, clock } = setup();
  await r.claim('s', b1);
  const res = await r.resolveConflict('s', b2, b1, false);
  assert.equal(res.kind, 'takeover');
  assert.equal(await r.releaseBinary('s', b1), false);
  assert.equal(clock.pending, 0);
  assert.equal(r.holder('s'), b2);
});

test('releasing twice arms one window', async () => {
  const { r, clock } = setup();
  await r.claim('s', b1);
  assert.equal(await r.releaseBinary('s', b1), true);
  assert.equal(await r.releaseBinary('s', b1), false);
  assert.equal(clock.pending, 1);
});

test('conflict resolution: alive incumbent rejects; changed hands rejects; incumbent in grace reclaims', async () => {
  const { r } = setup();
  await r.claim('s', b1);
  assert.deepEqual(await r.resolveConflict('s', b2, b1, true), { kind: 'rejected' });
  const b3 = { name: 'b3' };
  assert.deepEqual(await r.resolveConflict('s', b3, b2, false), { kind: 'rejected' });
  await r.releaseBinary('s', b1);
  assert.equal((await r.resolveConflict('s', b2, b1, true)).kind, 'reclaimed');
  assert.equal(r.holder('s'), b2);
  await r.close();
});

test('conflict resolution after the slot emptied is a plain claim', async () => {
  const { r, clock } = setup();
  await r.claim('s', b1);
  await r.releaseBinary('s', b1);
  clock.advance(GRACE);
  assert.deepEqual(await r.resolveConflict('s', b2, b1, true), { kind: 'claimed' });
  assert.equal(r.holder('s'), b2);
});

test('takeover evicts phones and keeps counts right', async () => {
  const { r } = setup();
  await r.claim('s', b1);
  await r.registerPhone('s', phone('a'), 16);
  const res = await r.resolveConflict('s', b2, b1, false);
  assert.equal(res.kind === 'takeover' && res.evicted.length, 1);
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
});

test('unregister ignores phones that were already evicted or replaced', async () => {
  const { r } = setup();
  await r.claim('s', b1);
  const a = phone('a');
  await r.registerPhone('s', a, 16);
  assert.ok(await r.unregisterPhone('s', a));
  assert.ok(!(await r.unregisterPhone('s', a)));
  assert.ok(!(await r.unregisterPhone('other', a)));
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
});
