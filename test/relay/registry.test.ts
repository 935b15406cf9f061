// Unit tests of the registry state machine: no sockets, just decisions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRegistry } from '../../src/relay/registry.js';

interface P {
  connId: string;
}
const b1 = { name: 'b1' };
const b2 = { name: 'b2' };
const phone = (id: string): P => ({ connId: id });

test('first claim wins, a second claim on a live slot is a conflict', () => {
  const r = new MemoryRegistry<object, P>();
  assert.deepEqual(r.claim('s', b1), { kind: 'claimed' });
  assert.deepEqual(r.claim('s', b2), { kind: 'conflict', incumbent: b1 });
  assert.equal(r.holder('s'), b1);
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
});

test('phones: 4404 checked before the cap, cap enforced atomically, allowed during grace', () => {
  const r = new MemoryRegistry<object, P>();
  assert.equal(r.registerPhone('s', phone('a'), 0).kind, 'no_server');
  r.claim('s', b1);
  assert.equal(r.registerPhone('s', phone('a'), 2).kind, 'registered');
  assert.equal(r.registerPhone('s', phone('b'), 2).kind, 'registered');
  assert.equal(r.registerPhone('s', phone('c'), 2).kind, 'at_cap');
  const rel = r.releaseBinary('s', b1);
  assert.equal(rel.kind, 'grace');
  assert.deepEqual(r.counts(), { binaries: 0, phones: 2 });
  assert.equal(r.holder('s'), undefined);
  const p = phone('d');
  assert.ok(r.unregisterPhone('s', r.phone('s', 'a') as P));
  const reg = r.registerPhone('s', p, 2);
  assert.deepEqual(reg, { kind: 'registered', binary: b1, inGrace: true });
});

test('reclaim during grace evicts every phone and cancels the window', () => {
  const r = new MemoryRegistry<object, P>();
  r.claim('s', b1);
  const a = phone('a');
  r.registerPhone('s', a, 16);
  const rel = r.releaseBinary('s', b1);
  assert.equal(rel.kind, 'grace');
  const late = phone('late');
  r.registerPhone('s', late, 16);
  const res = r.claim('s', b2);
  assert.equal(res.kind, 'reclaimed');
  assert.deepEqual(res.kind === 'reclaimed' && res.evicted, [a, late]);
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
  // The stale grace timer firing later does nothing.
  assert.equal(rel.kind === 'grace' && r.expireGrace('s', rel.token), undefined);
  assert.equal(r.holder('s'), b2);
});

test('grace expiry removes the slot and returns its phones once', () => {
  const r = new MemoryRegistry<object, P>();
  r.claim('s', b1);
  const a = phone('a');
  r.registerPhone('s', a, 16);
  const rel = r.releaseBinary('s', b1);
  assert.ok(rel.kind === 'grace');
  assert.deepEqual(r.expireGrace('s', rel.token), [a]);
  assert.equal(r.expireGrace('s', rel.token), undefined);
  assert.deepEqual(r.counts(), { binaries: 0, phones: 0 });
  assert.equal(r.claim('s', b2).kind, 'claimed');
});

test('a displaced binary never arms a grace window', () => {
  const r = new MemoryRegistry<object, P>();
  r.claim('s', b1);
  const res = r.resolveConflict('s', b2, b1, false);
  assert.equal(res.kind, 'takeover');
  assert.deepEqual(r.releaseBinary('s', b1), { kind: 'not_holder' });
  assert.equal(r.holder('s'), b2);
});

test('conflict resolution: alive incumbent rejects; changed hands rejects; incumbent in grace reclaims', () => {
  const r = new MemoryRegistry<object, P>();
  r.claim('s', b1);
  assert.deepEqual(r.resolveConflict('s', b2, b1, true), { kind: 'rejected' });
  const b3 = { name: 'b3' };
  assert.deepEqual(r.resolveConflict('s', b3, b2, false), { kind: 'rejected' });
  r.releaseBinary('s', b1);
  assert.equal(r.resolveConflict('s', b2, b1, true).kind, 'reclaimed');
  assert.equal(r.holder('s'), b2);
});

test('takeover evicts phones and keeps counts right', () => {
  const r = new MemoryRegistry<object, P>();
  r.claim('s', b1);
  r.registerPhone('s', phone('a'), 16);
  const res = r.resolveConflict('s', b2, b1, false);
  assert.equal(res.kind === 'takeover' && res.evicted.length, 1);
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
});

test('unregister ignores phones that were already evicted or replaced', () => {
  const r = new MemoryRegistry<object, P>();
  r.claim('s', b1);
  const a = phone('a');
  r.registerPhone('s', a, 16);
  assert.ok(r.unregisterPhone('s', a));
  assert.ok(!r.unregisterPhone('s', a));
  assert.ok(!r.unregisterPhone('other', a));
  assert.deepEqual(r.counts(), { binaries: 1, phones: 0 });
});
