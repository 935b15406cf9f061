// Membership against a real redis-server with short TTLs: joining, the reaper's
// deadline, self-fencing when cut off (TCP proxy) or when Redis freezes, no
// fencing for short outages, re-assert after Redis restarts empty, and grace
// expiry by exactly one node.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { bootCluster, type ClusterNode } from '../../src/cluster/boot.js';
import type { MembershipEvents } from '../../src/cluster/membership.js';
import type { ReassertSlot } from '../../src/cluster/store.js';
import { RedisServer } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { allKeys, conn, PREFIX, sleep, target } from './nodes.js';

const TTL = 1500;
const GRACE = 60_000;

let redis: RedisServer;
let running: ClusterNode[] = [];
let proxies: TcpProxy[] = [];

before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis.stop();
});
beforeEach(async () => {
  redis.resume();
  await redis.command('FLUSHALL');
});
afterEach(async () => {
  for (const n of running) {
    n.membership.stop();
    for (const c of [n.connections.registry, n.connections.busPub, n.connections.busSub]) c.disconnect();
  }
  running = [];
  for (const p of proxies) await p.close();
  proxies = [];
});

interface Recorded {
  node: ClusterNode;
  events: { name: keyof MembershipEvents; at: number; args: unknown[] }[];
  lastHeartbeatOk(): number;
}

async function boot(nodeId: string, port = redis.port, reassert?: () => ReassertSlot[], ttl = TTL): Promise<Recorded> {
  const node = await bootCluster(
    { redis: target(port), prefix: PREFIX, nodeId, nodeTtlMs: ttl },
    { graceMs: GRACE, reassertSource: reassert },
  );
  running.push(node);
  const rec: Recorded = {
    node,
    events: [],
    // The monotonic send time of the last acknowledged heartbeat (fence margin TTL/10).
    lastHeartbeatOk: () => node.membership.leaseDeadline - TTL + TTL / 10,
  };
  for (const name of ['fenced', 'rejoined', 'generation', 'reasserted', 'reaped', 'expired'] as const) {
    node.membership.on(name, (...args: unknown[]) => rec.events.push({ name, at: performance.now(), args }));
  }
  return rec;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const first = (r: Recorded, name: keyof MembershipEvents) => r.events.find((e) => e.name === name);

test('nodes join, see each other, and stay live across many heartbeats', async () => {
  const a = await boot('a');
  const b = await boot('b');
  await sleep(TTL * 2);
  assert.equal(a.node.membership.state, 'live');
  assert.equal(a.node.membership.live, true);
  assert.equal(a.node.membership.liveNodes, 2);
  assert.equal(b.node.membership.liveNodes, 2);
  assert.deepEqual(a.events.concat(b.events), []);
});

test('a node that dies is reaped within TTL + 2 s of its last heartbeat; its state is returned', async () => {
  const a = await boot('a');
  const d = await boot('dead');
  const c = await d.node.store.claim('sid', 'bin');
  assert.equal(c.kind, 'claimed');
  assert.equal((await a.node.store.registerPhone('sid', conn('sid', 1), 16)).kind, 'registered');
  assert.equal((await a.node.store.claim('mine', 'b2')).kind, 'claimed');
  assert.equal((await d.node.store.registerPhone('mine', conn('mine', 2), 16)).kind, 'registered');
  // Kill it: no more heartbeats, connections gone (as a SIGKILL would leave it).
  d.node.membership.stop();
  for (const x of [d.node.connections.registry, d.node.connections.busPub, d.node.connections.busSub]) x.disconnect();
  const lastBeat = d.lastHeartbeatOk();
  await until(() => first(a, 'reaped') !== undefined, TTL + 3000, 'reaped');
  const reaped = first(a, 'reaped');
  assert.ok(reaped);
  // Measured from when its last successful heartbeat was sent (an upper bound on its score).
  const late = reaped.at - lastBeat;
  assert.ok(late > TTL && late <= TTL + 2000, `reaped ${Math.round(late)} ms after its last heartbeat`);
  const res = reaped.args[0] as import('../../src/cluster/store.js').ReapResult;
  assert.deepEqual(res.nodes, [d.node.ref]);
  assert.deepEqual(
    res.slots.map((s) => s.serverId),
    ['sid'],
  );
  assert.deepEqual(
    res.phones.map((p) => [p.connId, p.binaryNode]),
    [[conn('mine', 2), a.node.ref]],
  );
  // Reaped exactly once.
  await sleep(600);
  assert.equal(a.events.filter((e) => e.name === 'reaped').length, 1);
});

test('cut off from Redis: the node fences itself before anyone reaps it, then rejoins anew', async () => {
  const proxy = await TcpProxy.start(redis.port);
  proxies.push(proxy);
  const a = await boot('a');
  const b = await boot('b', proxy.port);
  await sleep(200);
  const oldRef = b.node.ref;
  const deadline = b.node.membership.leaseDeadline;
  proxy.cut();
  const cutAt = performance.now();
  await until(() => first(b, 'fenced') !== undefined, TTL + 1000, 'fenced');
  const fenced = first(b, 'fenced');
  assert.ok(fenced);
  assert.equal(fenced.args[0], 'lease_expired');
  assert.ok(fenced.at <= deadline + 100, 'fenced at its lease deadline');
  assert.ok(fenced.at - cutAt <= TTL, `fenced ${Math.round(fenced.at - cutAt)} ms after the cut`);
  assert.equal(b.node.membership.live, false);
  await until(() => first(a, 'reaped') !== undefined, TTL + 3000, 'reaped by a');
  const reaped = first(a, 'reaped');
  assert.ok(reaped && reaped.at > fenced.at, 'reaped strictly after fencing');
  assert.deepEqual((reaped.args[0] as { nodes: string[] }).nodes, [oldRef]);
  proxy.restore();
  await until(() => first(b, 'rejoined') !== undefined, 5000, 'rejoined');
  const rejoined = first(b, 'rejoined')?.args[0] as { ref: string; previous: string };
  assert.equal(rejoined.previous, oldRef);
  assert.notEqual(rejoined.ref, oldRef);
  assert.ok(rejoined.ref.startsWith('b:'));
  assert.equal(b.node.membership.state, 'live');
  assert.equal((await b.node.store.claim('after', 'x')).kind, 'claimed');
  await sleep(TTL / 2);
  assert.equal(b.node.membership.liveNodes, 2);
});

test('Redis frozen (SIGSTOP) longer than the TTL: every node fences; all rejoin when it thaws', async () => {
  const a = await boot('a');
  const b = await boot('b');
  await sleep(100);
  redis.pause();
  await until(() => first(a, 'fenced') !== undefined && first(b, 'fenced') !== undefined, TTL + 1000, 'both fenced');
  redis.resume();
  await until(() => first(a, 'rejoined') !== undefined && first(b, 'rejoined') !== undefined, 5000, 'both rejoined');
  assert.equal(a.node.membership.state, 'live');
  assert.equal(b.node.membership.state, 'live');
});

test('an outage shorter than TTL/3 never fences (a link cut, then a freeze)', async () => {
  // A longer TTL here: the bound is about the outage, not about a loaded test machine.
  const ttl = 3000;
  const proxy = await TcpProxy.start(redis.port);
  proxies.push(proxy);
  const a = await boot('a', redis.port, undefined, ttl);
  const b = await boot('b', proxy.port, undefined, ttl);
  for (let i = 0; i < 3; i++) {
    await sleep(ttl / 3);
    proxy.cut();
    await sleep(ttl / 3 - 100);
    proxy.restore();
  }
  await sleep(ttl / 3);
  redis.pause();
  await sleep(ttl / 3 - 100);
  redis.resume();
  await sleep(ttl);
  assert.deepEqual(
    a.events.concat(b.events).map((e) => e.name),
    [],
  );
  assert.equal(b.node.membership.live, true);
});

test('Redis restarted empty: no fence; generation change, re-assert restores state with fresh epochs', async () => {
  let slots: ReassertSlot[] = [];
  const a = await boot('a', redis.port, () => slots);
  const c = await a.node.store.claim('kept', 'bk');
  assert.equal(c.kind, 'claimed');
  assert.equal((await a.node.store.registerPhone('kept', conn('kept', 1), 16)).kind, 'registered');
  slots = [{ serverId: 'kept', claimId: 'bk', phones: [conn('kept', 1)] }];
  const oldGen = a.node.store.generation;
  await redis.restart();
  await until(() => first(a, 'reasserted') !== undefined, TTL, 'reasserted');
  const gen = first(a, 'generation')?.args[0];
  assert.ok(typeof gen === 'string' && gen !== oldGen);
  const info = first(a, 'reasserted')?.args[0] as { generation: string; outcomes: { kind: string; epoch?: number }[] };
  assert.equal(info.generation, gen);
  assert.equal(info.outcomes[0]?.kind, 'ok');
  assert.ok((info.outcomes[0]?.epoch ?? 0) > (c.kind === 'claimed' ? c.epoch : Infinity));
  assert.equal(a.node.store.generation, gen);
  const reg = await a.node.store.registerPhone('kept', conn('kept', 2), 16);
  assert.equal(reg.kind, 'registered');
  assert.equal(await a.node.connections.registry.hlen(a.node.keys.phones('kept')), 2);
  await sleep(TTL);
  assert.equal(first(a, 'fenced'), undefined);
  assert.equal(a.node.membership.live, true);
});

test('grace windows expire through the poll, on exactly one of two nodes', async () => {
  const a = await boot('a');
  const b = await boot('b');
  for (const s of ['g1', 'g2', 'g3']) {
    const c = await a.node.store.claim(s, `b${s}`);
    assert.equal(c.kind, 'claimed');
    await b.node.store.registerPhone(s, conn(s, 1), 16);
    await a.node.store.releaseIntoGrace(s, `b${s}`, c.kind === 'claimed' ? c.epoch : 0, 300);
  }
  await sleep(1200);
  const expired = [...a.events, ...b.events]
    .filter((e) => e.name === 'expired')
    .flatMap((e) => e.args[0] as { serverId: string }[])
    .map((s) => s.serverId)
    .sort();
  assert.deepEqual(expired, ['g1', 'g2', 'g3']);
});

test('leaving removes every key of the node; only the generation and epoch counter remain', async () => {
  const a = await boot('a');
  const b = await boot('b');
  const c = await a.node.store.claim('s', 'bs');
  await b.node.store.registerPhone('s', conn('s', 1), 16);
  await b.node.close();
  const left = await a.node.store.releaseIntoGrace('s', 'bs', c.kind === 'claimed' ? c.epoch : 0, 1);
  assert.equal(left.kind, 'grace');
  await sleep(600);
  await a.node.close();
  running = [];
  const probe = (await import('ioredis')).Redis;
  const raw = new probe(redis.port, '127.0.0.1');
  assert.deepEqual(await allKeys(raw), [`${PREFIX}:epoch`, `${PREFIX}:gen`]);
  raw.disconnect();
});

test('a stalled event loop: the lease reads expired at once on waking, and the node fences', async () => {
  const a = await boot('a');
  await sleep(100);
  const deadline = a.node.membership.leaseDeadline;
  assert.equal(a.node.membership.live, true);
  // Block the loop past the lease (a long GC pause or a synchronous hog).
  while (performance.now() < deadline + 50) {
    /* spin */
  }
  assert.equal(a.node.membership.live, false, 'expired before any timer could run');
  await until(() => first(a, 'fenced') !== undefined, 1000, 'fenced');
  assert.equal(first(a, 'fenced')?.args[0], 'lease_expired');
});
