// ClusterStore against a real redis-server: every script's outcomes and the
// relay-behaviour §1–§2 semantics at store level across several nodes, retries
// that change nothing, fencing epochs, and no state left behind.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { RedisServer } from '../helpers/redis.js';
import { allKeys, conn, sleep, startNode, type TestNode } from './nodes.js';
import type { ExpiredSlot, ReapResult } from '../../src/cluster/store.js';

let redis: RedisServer;
let nodes: TestNode[] = [];

before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis.stop();
});
beforeEach(async () => {
  await redis.command('FLUSHALL');
});
afterEach(() => {
  for (const n of nodes) n.close();
  nodes = [];
});

async function node(id: string, opts: Parameters<typeof startNode>[2] = {}): Promise<TestNode> {
  const n = await startNode(redis.port, id, opts);
  nodes.push(n);
  return n;
}

function ok<T extends { kind: string }, K extends T['kind']>(r: T, kind: K): Extract<T, { kind: K }> {
  assert.equal(r.kind, kind, JSON.stringify(r));
  return r as Extract<T, { kind: K }>;
}

const SID = 'srv 1:{*}';

test('first claim wins; a second claim anywhere is a conflict naming the incumbent', async () => {
  const a = await node('a');
  const b = await node('b');
  const c1 = ok(await a.store.claim(SID, 'bin1'), 'claimed');
  const c2 = ok(await b.store.claim(SID, 'bin2'), 'conflict');
  assert.deepEqual(c2.incumbent, { node: a.store.self, claimId: 'bin1', epoch: c1.epoch });
  // Incumbent answered: 4409, nothing changes.
  ok(await b.store.resolveConflict(SID, 'bin2', c1.epoch, true), 'rejected');
  const reg = ok(await b.store.registerPhone(SID, conn(SID, 1), 16), 'registered');
  assert.deepEqual(reg, { kind: 'registered', binaryNode: a.store.self, epoch: c1.epoch, inGrace: false });
});

test('conflict with no pong → takeover: phones on every node evicted, incumbent displaced', async () => {
  const a = await node('a');
  const b = await node('b');
  const c = await node('c');
  const c1 = ok(await a.store.claim(SID, 'bin1'), 'claimed');
  ok(await a.store.registerPhone(SID, conn(SID, 1), 16), 'registered');
  ok(await c.store.registerPhone(SID, conn(SID, 2), 16), 'registered');
  ok(await b.store.claim(SID, 'bin2'), 'conflict');
  const t = ok(await b.store.resolveConflict(SID, 'bin2', c1.epoch, false), 'takeover');
  assert.ok(t.epoch > c1.epoch);
  assert.deepEqual(t.previous, { node: a.store.self, claimId: 'bin1', epoch: c1.epoch });
  assert.deepEqual(
    t.evicted.sort((x, y) => x.connId.localeCompare(y.connId)),
    [
      { connId: conn(SID, 1), node: a.store.self },
      { connId: conn(SID, 2), node: c.store.self },
    ],
  );
  // The displaced binary can neither arm grace nor resolve again with its stale epoch.
  ok(await a.store.releaseIntoGrace(SID, 'bin1', c1.epoch, 30_000), 'not_holder');
  ok(await c.store.claim(SID, 'bin3'), 'conflict');
  ok(await c.store.resolveConflict(SID, 'bin3', c1.epoch, false), 'rejected');
  // The evicted phones are gone from the cap count and their nodes' sets.
  assert.equal(await a.client.hlen(a.store.keys.phones(SID)), 0);
  assert.equal(await a.client.scard(a.store.keys.nodePhones(c.store.self)), 0);
});

test('the incumbent leaving during the probe makes the newcomer a reclaim; a changed holder a 4409', async () => {
  const a = await node('a');
  const b = await node('b');
  const c1 = ok(await a.store.claim(SID, 'bin1'), 'claimed');
  ok(await b.store.claim(SID, 'bin2'), 'conflict');
  ok(await a.store.releaseIntoGrace(SID, 'bin1', c1.epoch, 30_000), 'grace');
  const r = ok(await b.store.resolveConflict(SID, 'bin2', c1.epoch, false), 'reclaimed');
  assert.ok(r.epoch > c1.epoch);
  // A third claimant probed bin1 but the slot now belongs to bin2: 4409 even without a pong.
  ok(await a.store.resolveConflict(SID, 'bin3', c1.epoch, false), 'rejected');
});

test('reclaim during grace evicts every phone, including those that joined during grace', async () => {
  const a = await node('a');
  const b = await node('b');
  const c1 = ok(await a.store.claim(SID, 'bin1'), 'claimed');
  ok(await b.store.registerPhone(SID, conn(SID, 1), 16), 'registered');
  const g = ok(await a.store.releaseIntoGrace(SID, 'bin1', c1.epoch, 30_000), 'grace');
  assert.equal(g.epoch, c1.epoch);
  const late = ok(await b.store.registerPhone(SID, conn(SID, 2), 16), 'registered');
  assert.equal(late.inGrace, true);
  const r = ok(await b.store.claim(SID, 'bin2'), 'reclaimed');
  assert.equal(r.evicted.length, 2);
  assert.deepEqual(r.previous, { node: a.store.self, claimId: 'bin1', epoch: c1.epoch });
  assert.equal(await a.client.zcard(a.store.keys.grace), 0);
  // The old window can no longer fire.
  assert.deepEqual(await a.store.expireGrace('r1'), []);
  const reg = ok(await a.store.registerPhone(SID, conn(SID, 3), 16), 'registered');
  assert.equal(reg.binaryNode, b.store.self);
  assert.equal(reg.epoch, r.epoch);
});

test('the phone cap counts phones on every node; 4404 before 4429; duplicate conn_ids refused', async () => {
  const a = await node('a');
  const b = await node('b');
  ok(await a.store.registerPhone(SID, conn(SID, 1), 0), 'no_server');
  ok(await a.store.claim(SID, 'bin1'), 'claimed');
  ok(await a.store.registerPhone(SID, conn(SID, 1), 3), 'registered');
  ok(await b.store.registerPhone(SID, conn(SID, 2), 3), 'registered');
  ok(await b.store.registerPhone(SID, conn(SID, 1), 3), 'duplicate');
  ok(await a.store.registerPhone(SID, conn(SID, 3), 3), 'registered');
  ok(await b.store.registerPhone(SID, conn(SID, 4), 3), 'at_cap');
  assert.equal(await b.store.unregisterPhone(SID, conn(SID, 2)), true);
  assert.equal(await b.store.unregisterPhone(SID, conn(SID, 2)), false);
  // Only the phone's own node can remove it.
  assert.equal(await b.store.unregisterPhone(SID, conn(SID, 1)), false);
  ok(await b.store.registerPhone(SID, conn(SID, 4), 3), 'registered');
  await assert.rejects(() => a.store.registerPhone(SID, 'client-other-00000000', 3), RangeError);
  await assert.rejects(() => a.store.registerPhone(SID, `client-${SID}-XYZ`, 3), RangeError);
});

test('grace expiry: exactly once with two nodes racing; phones on every node returned', async () => {
  const a = await node('a');
  const b = await node('b');
  const sids = Array.from({ length: 20 }, (_, i) => `s${i}`);
  for (const s of sids) {
    const c = ok(await a.store.claim(s, `b-${s}`), 'claimed');
    ok(await a.store.registerPhone(s, conn(s, 1), 16), 'registered');
    ok(await b.store.registerPhone(s, conn(s, 2), 16), 'registered');
    ok(await a.store.releaseIntoGrace(s, `b-${s}`, c.epoch, 50), 'grace');
  }
  await sleep(80);
  const got: ExpiredSlot[] = [];
  const rounds = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).store.expireGrace(`race-${i}`, 3)));
  for (const r of rounds) {
    assert.ok(Array.isArray(r));
    got.push(...r);
  }
  while (got.length < sids.length) {
    const r = await b.store.expireGrace(`more-${got.length}`, 3);
    assert.ok(Array.isArray(r) && r.length > 0);
    got.push(...r);
  }
  assert.deepEqual(got.map((e) => e.serverId).sort(), [...sids].sort());
  for (const e of got) assert.equal(e.phones.length, 2);
  assert.deepEqual(await a.store.expireGrace('after'), []);
  // A phone for an expired slot gets 4404.
  ok(await a.store.registerPhone('s1', conn('s1', 9), 16), 'no_server');
  assert.deepEqual(await allKeys(a.client), ['pr:epoch', 'pr:gen', 'pr:lr:' + a.store.self, 'pr:lr:' + b.store.self, 'pr:nodes'].sort());
});

test('retries change nothing: every script run twice gives the same answer', async () => {
  const a = await node('a');
  const b = await node('b');
  const c1 = ok(await a.store.claim(SID, 'bin1'), 'claimed');
  assert.deepEqual(await a.store.claim(SID, 'bin1'), c1);
  ok(await a.store.registerPhone(SID, conn(SID, 1), 1), 'registered');
  ok(await a.store.registerPhone(SID, conn(SID, 1), 1), 'registered');
  assert.equal(await a.client.hlen(a.store.keys.phones(SID)), 1);
  ok(await b.store.claim(SID, 'bin2'), 'conflict');
  const t = await b.store.resolveConflict(SID, 'bin2', c1.epoch, false);
  ok(t, 'takeover');
  assert.deepEqual(await b.store.resolveConflict(SID, 'bin2', c1.epoch, false), t);
  const g = await b.store.releaseIntoGrace(SID, 'bin2', (t as { epoch: number }).epoch, 30_000);
  ok(g, 'grace');
  assert.deepEqual(await b.store.releaseIntoGrace(SID, 'bin2', (t as { epoch: number }).epoch, 30_000), g);
  ok(await b.store.registerPhone(SID, conn(SID, 2), 16), 'registered');
  const r = await a.store.claim(SID, 'bin3');
  ok(r, 'reclaimed');
  assert.deepEqual(await a.store.claim(SID, 'bin3'), r);
  // Expiry and reaping replay the stored result of the same request id.
  const c2 = ok(await a.store.claim('x', 'binx'), 'claimed');
  ok(await b.store.registerPhone('x', conn('x', 1), 16), 'registered');
  ok(await a.store.releaseIntoGrace('x', 'binx', c2.epoch, 1), 'grace');
  await sleep(10);
  const e1 = await a.store.expireGrace('req-1');
  assert.equal((e1 as ExpiredSlot[]).length, 1);
  assert.deepEqual(await a.store.expireGrace('req-1'), e1);
  assert.deepEqual(await a.store.expireGrace('req-2'), []);
  const r1 = await a.store.reap('reap-1', 30_000, { force: b.store.self });
  assert.deepEqual((r1 as ReapResult).nodes, [b.store.self]);
  assert.deepEqual(await a.store.reap('reap-1', 30_000, { force: b.store.self }), r1);
});

test('reaping a dead node: its slots enter grace, its phones go, the notices owed come back', async () => {
  const a = await node('a', { ttlMs: 400, reapMarginMs: 100 });
  const dead = await node('dead', { ttlMs: 400, reapMarginMs: 100 });
  // dead holds a slot with a phone on a; a holds a slot with a phone on dead.
  const cd = ok(await dead.store.claim('sd', 'bd'), 'claimed');
  ok(await a.store.registerPhone('sd', conn('sd', 1), 16), 'registered');
  const ca = ok(await a.store.claim('sa', 'ba'), 'claimed');
  ok(await dead.store.registerPhone('sa', conn('sa', 2), 16), 'registered');
  // Not yet: its heartbeat is fresh.
  const early = (await a.store.reap('r0', 5000)) as ReapResult;
  assert.deepEqual(early.nodes, []);
  for (let i = 0; i < 3; i++) {
    await sleep(200);
    ok(await a.store.heartbeat(), 'ok');
  }
  const res = (await a.store.reap('r1', 5000)) as ReapResult;
  assert.deepEqual(res.nodes, [dead.store.self]);
  assert.equal(res.slots.length, 1);
  assert.equal(res.slots[0]?.serverId, 'sd');
  assert.equal(res.slots[0]?.epoch, cd.epoch);
  assert.deepEqual(res.slots[0]?.phones, [{ connId: conn('sd', 1), node: a.store.self }]);
  assert.deepEqual(res.phones, [{ connId: conn('sa', 2), serverId: 'sa', binaryNode: a.store.self, epoch: ca.epoch }]);
  // The reaped node is fenced out of every mutation and told so by its heartbeat.
  ok(await dead.store.claim('new', 'bn'), 'fenced');
  ok(await dead.store.registerPhone('sa', conn('sa', 3), 16), 'fenced');
  ok(await dead.store.heartbeat(), 'reaped');
  // Its slot is in grace: a claim anywhere is an immediate reclaim, and phones stop counting.
  const r = ok(await a.store.claim('sd', 'bd2'), 'reclaimed');
  assert.deepEqual(r.evicted, [{ connId: conn('sd', 1), node: a.store.self }]);
  assert.equal(await a.client.hlen(a.store.keys.phones('sa')), 0);
  assert.equal(await a.client.exists(a.store.keys.nodeSlots(dead.store.self), a.store.keys.nodePhones(dead.store.self)), 0);
});

test('settled state leaves no per-server-id or per-phone key behind', async () => {
  const a = await node('a');
  const b = await node('b');
  const c1 = ok(await a.store.claim(SID, 'bin1'), 'claimed');
  ok(await b.store.registerPhone(SID, conn(SID, 1), 16), 'registered');
  ok(await a.store.registerPhone(SID, conn(SID, 2), 16), 'registered');
  const c2 = ok(await b.store.claim('t', 'bint'), 'claimed');
  await b.store.unregisterPhone(SID, conn(SID, 1));
  await a.store.unregisterPhone(SID, conn(SID, 2));
  ok(await a.store.releaseIntoGrace(SID, 'bin1', c1.epoch, 1), 'grace');
  ok(await b.store.releaseIntoGrace('t', 'bint', c2.epoch, 1), 'grace');
  await sleep(10);
  assert.equal(((await b.store.expireGrace('q')) as ExpiredSlot[]).length, 2);
  const keys = await allKeys(a.client);
  assert.deepEqual(keys, ['pr:epoch', 'pr:gen', `pr:lr:${b.store.self}`, 'pr:nodes']);
  // Leaving removes the node itself too.
  await a.store.reap('bye', 1000, { force: a.store.self });
  await b.store.reap('bye', 1000, { force: b.store.self });
  assert.deepEqual(await allKeys(a.client), ['pr:epoch', 'pr:gen']);
});

test('Redis restarted empty: generation change detected, 503 until re-asserted, fresh epochs', async () => {
  const a = await node('a', { ttlMs: 600 });
  const b = await node('b', { ttlMs: 600 });
  const c1 = ok(await a.store.claim('live', 'bl'), 'claimed');
  ok(await a.store.registerPhone('live', conn('live', 1), 16), 'registered');
  ok(await b.store.registerPhone('live', conn('live', 2), 16), 'registered');
  const c2 = ok(await a.store.claim('graced', 'bg'), 'claimed');
  ok(await a.store.releaseIntoGrace('graced', 'bg', c2.epoch, 60_000), 'grace');
  const oldGen = a.store.generation;
  await redis.restart();
  await sleep(300); // the client reconnects
  const changes: string[] = [];
  a.store.hooks = { generationChanged: (g) => changes.push(g), fenced: () => assert.fail('not fenced') };
  const hb = ok(await a.store.heartbeat(), 'generation_changed');
  assert.notEqual(hb.generation, oldGen);
  // Until a node has re-asserted, anything that could conflict is refused.
  ok(await a.store.claim('other', 'bo'), 'generation_changed');
  assert.deepEqual(changes, [hb.generation]);
  ok(await b.store.registerPhone('live', conn('live', 3), 16), 'generation_changed');
  const res = await a.store.reassert(hb.generation, [
    { serverId: 'live', claimId: 'bl', phones: [conn('live', 1)] },
    { serverId: 'graced', claimId: 'bg', graceLeftMs: 50_000, phones: [] },
  ]);
  assert.ok(Array.isArray(res));
  const live = res.find((r) => r.serverId === 'live');
  assert.ok(live?.kind === 'ok' && live.epoch > c1.epoch, 'epochs of a new generation exceed the old ones');
  assert.equal(a.store.generation, hb.generation);
  // The same re-assert again changes nothing.
  assert.deepEqual(await a.store.reassert(hb.generation, [{ serverId: 'live', claimId: 'bl', phones: [] }]), [live]);
  // b has not re-asserted yet: its writes are refused; once it has, a new slot is still
  // refused while the settle window (one TTL from the new generation) runs.
  ok(await b.store.claim('fresh', 'bf'), 'generation_changed');
  assert.deepEqual(await b.store.reassert(hb.generation, []), []);
  ok(await b.store.claim('fresh', 'bf'), 'settling');
  ok(await b.store.registerPhone('fresh', conn('fresh', 1), 16), 'settling');
  // A re-asserted slot works normally during the window.
  const reg = ok(await b.store.registerPhone('live', conn('live', 4), 16), 'registered');
  assert.equal(reg.binaryNode, a.store.self);
  assert.equal(await a.client.hlen(a.store.keys.phones('live')), 2);
  const g = await a.client.zscore(a.store.keys.grace, '677261636564');
  assert.ok(g !== null);
  for (let i = 0; i < 3; i++) {
    await sleep(250);
    ok(await a.store.heartbeat(), 'ok');
    ok(await b.store.heartbeat(), 'ok');
  }
  ok(await b.store.claim('fresh', 'bf'), 'claimed');
  ok(await b.store.registerPhone('nothing', conn('nothing', 1), 16), 'no_server');
  // A node re-asserting a slot someone else already holds loses it.
  const lost = await b.store.reassert(hb.generation, [{ serverId: 'live', claimId: 'other', phones: [] }]);
  assert.deepEqual(lost, [{ serverId: 'live', kind: 'lost' }]);
});

test('reapShares gives each live node exactly its part of a reap', async () => {
  const { reapShares } = await import('../../src/cluster/store.js');
  const shares = reapShares({
    nodes: ['d:000000000001'],
    slots: [
      {
        serverId: 's',
        epoch: 5,
        deadline: 9,
        phones: [
          { connId: 'c1', node: 'a:1' },
          { connId: 'c2', node: 'b:1' },
          { connId: 'c3', node: 'a:1' },
        ],
      },
      { serverId: 'lonely', epoch: 6, deadline: 9, phones: [] },
    ],
    phones: [
      { connId: 'p1', serverId: 'x', binaryNode: 'b:1', epoch: 3 },
      { connId: 'p2', serverId: 'y', binaryNode: '', epoch: 0 },
    ],
  });
  assert.deepEqual([...shares.keys()].sort(), ['a:1', 'b:1']);
  assert.deepEqual(
    shares.get('a:1')?.slots[0]?.phones.map((p) => p.connId),
    ['c1', 'c3'],
  );
  assert.deepEqual(shares.get('a:1')?.phones, []);
  assert.deepEqual(
    shares.get('b:1')?.slots[0]?.phones.map((p) => p.connId),
    ['c2'],
  );
  assert.deepEqual(
    shares.get('b:1')?.phones.map((p) => p.connId),
    ['p1'],
  );
});

test('expiredShares gives each node the phones it must close', async () => {
  const { expiredShares } = await import('../../src/cluster/store.js');
  const shares = expiredShares([
    {
      serverId: 's',
      epoch: 1,
      phones: [
        { connId: 'c1', node: 'a:1' },
        { connId: 'c2', node: 'b:1' },
      ],
    },
    { serverId: 't', epoch: 2, phones: [{ connId: 'c3', node: 'a:1' }] },
    { serverId: 'u', epoch: 3, phones: [] },
  ]);
  assert.deepEqual([...shares.keys()].sort(), ['a:1', 'b:1']);
  assert.deepEqual(
    shares.get('a:1')?.map((s) => [s.serverId, s.phones.map((p) => p.connId)]),
    [
      ['s', ['c1']],
      ['t', ['c3']],
    ],
  );
  assert.deepEqual(
    shares.get('b:1')?.map((s) => [s.serverId, s.phones.map((p) => p.connId)]),
    [['s', ['c2']]],
  );
});
