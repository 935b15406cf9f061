// Cluster faults, black box (cluster.md §3): a node killed with SIGKILL. Its
// binaries' slots go into grace when it is reaped (within TTL + 2 s): a binary
// redialling another node then reclaims at once (phones elsewhere 4404), one that
// never returns ends in 1000 at grace expiry, counted once; before the reap a
// redial takes over (no pong from a dead node). Its phones are reported to their
// live binaries with a 1001 notice each and stop counting towards the cap.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { NumberedBinary, every, expectNoOrphans } from '../helpers/cluster-traffic.js';
import { connectBinary, connectPhone, newServerId, sleep } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';

/** --cluster-node-ttl 3s: a dead node is reaped within TTL + 2 s of its last heartbeat. */
const TTL_MS = 3000;
const REAPED_MS = TTL_MS + 2000;
const GRACE_MS = 2000;

const reapedBy = (nodes: RelayNode[]): boolean => nodes.some((n) => n.events('cluster_node_reaped').length > 0);

async function sum(nodes: RelayNode[], cell: string): Promise<number> {
  let total = 0;
  for (const n of nodes) total += await n.metric(cell);
  return total;
}

describe('cluster faults: SIGKILL of a node', () => {
  let redis: RedisServer | undefined;
  let nodes: RelayNode[] = [];

  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    nodes = [];
    await redis?.stop();
    redis = undefined;
  });

  test('holding binaries: reaped within TTL + 2 s, then a redial elsewhere reclaims at once (4404) or grace ends in 1000, counted once', async () => {
    redis = await RedisServer.start();
    // A long probe timeout: a reclaim is immediate, a takeover would take 8 s.
    nodes = await startNodes(redis, ['k1-a', 'k1-b', 'k1-c'], ['--conflict-probe-timeout', '8s', '--grace-period', `${GRACE_MS / 1000}s`]);
    const [a, b, c] = nodes as [RelayNode, RelayNode, RelayNode];
    const returning = newServerId();
    const gone = newServerId();
    const b1 = await NumberedBinary.dial(a.base, returning);
    const b2 = await NumberedBinary.dial(a.base, gone);
    await sleep(CLAIM_VISIBLE_MS);
    const p1 = await b1.addPhone(b.base);
    const p2 = await b1.addPhone(c.base);
    const p3 = await b2.addPhone(b.base);
    await eventually(() => [p1, p2, p3].every((p) => p.connId !== undefined), 3000, 'phones known to their binaries');
    const expiriesBefore = await sum([b, c], 'pyrycode_relay_grace_expiries_total');

    const t0 = Date.now();
    a.kill('SIGKILL');
    await eventually(() => reapedBy([b, c]), REAPED_MS + 1000, 'A reaped');
    const reapedAt = Date.now() - t0;
    assert.ok(reapedAt <= REAPED_MS, `reaped ${reapedAt} ms after the kill`);
    // Reaped: the slots are in grace, the phones elsewhere stay.
    assert.ok(p1.open && p2.open && p3.open, 'phones of a reaped node stay through grace');

    // The binary redials on B: a reclaim, at once, and its old phones are closed 4404 everywhere.
    const t1 = Date.now();
    const again = await NumberedBinary.dial(b.base, returning);
    assert.deepEqual(await p1.client.waitClose(2000), { code: 4404, reason: 'binary reclaimed server-id' });
    assert.deepEqual(await p2.client.waitClose(2000), { code: 4404, reason: 'binary reclaimed server-id' });
    assert.ok(Date.now() - t1 < 2000, `reclaimed after ${Date.now() - t1} ms (a probe would take 8 s)`);
    const fresh = await again.addPhone(c.base);
    await eventually(() => fresh.connId !== undefined, 3000, 'the fresh phone reaches the binary');
    for (let i = 0; i < 20; i++) again.pump();
    await eventually(() => fresh.settled && fresh.gotAtPhone === 20, 3000, 'frames across B and C after the reclaim');

    // The other binary never returns: its phone is closed 1000 at grace expiry, counted from the reap.
    assert.deepEqual(await p3.client.waitClose(REAPED_MS + GRACE_MS + 2000), { code: 1000, reason: '' });
    const closedAt = Date.now() - t0;
    assert.ok(closedAt >= TTL_MS - TTL_MS / 3 + GRACE_MS - 250, `grace expiry ${closedAt} ms after the kill is too early`);
    assert.ok(closedAt <= REAPED_MS + GRACE_MS + 1000, `grace expiry ${closedAt} ms after the kill`);
    await sleep(500);
    assert.equal((await sum([b, c], 'pyrycode_relay_grace_expiries_total')) - expiriesBefore, 1, 'counted once, by one node');
    assert.deepEqual([...b1.violations, ...b2.violations, ...again.violations], []);

    fresh.client.close(4000);
    again.client.close();
    await expectNoOrphans(redis, 'rt', GRACE_MS + REAPED_MS);
  });

  test('holding binaries, redialled before the reap: a takeover, at most the probe timeout later', async () => {
    redis = await RedisServer.start();
    nodes = await startNodes(redis, ['k2-a', 'k2-b', 'k2-c'], ['--conflict-probe-timeout', '1s']);
    const [a, b, c] = nodes as [RelayNode, RelayNode, RelayNode];
    const sid = newServerId();
    const b1 = await NumberedBinary.dial(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const onB = await b1.addPhone(b.base);
    const onC = await b1.addPhone(c.base);
    await eventually(() => onB.connId !== undefined && onC.connId !== undefined, 3000, 'phones known');

    a.kill('SIGKILL');
    await sleep(100);
    assert.ok(!reapedBy([b, c]));
    const t1 = Date.now();
    const again = await connectBinary(b.base, sid);
    // B probes A over the bus; A's channel has no subscriber: the link to A is lost
    // (B's phone of A's binary: 1012 route lost) and the probe fails → takeover,
    // whose eviction reaches C's phone as 4404.
    assert.deepEqual(await onB.client.waitClose(2500), { code: 1012, reason: 'relay route lost' });
    assert.deepEqual(await onC.client.waitClose(2500), { code: 4404, reason: 'binary reclaimed server-id' });
    assert.ok(Date.now() - t1 <= 1000 + 1000, `taken over after ${Date.now() - t1} ms`);
    assert.ok(!again.isClosed);
    const phone = await connectPhone(c.base, sid);
    phone.send('{"after":"takeover"}');
    assert.deepEqual((await again.nextJson(3000)).frame, { after: 'takeover' });
    assert.deepEqual(b1.violations, []);
    phone.close();
    again.close();
  });

  test('holding phones: within TTL + 2 s each live binary gets a 1001 notice per phone, the cap frees, other pairs go on', async () => {
    redis = await RedisServer.start();
    nodes = await startNodes(redis, ['k3-a', 'k3-b', 'k3-c'], ['--max-phones-per-server', '3']);
    const [a, b, c] = nodes as [RelayNode, RelayNode, RelayNode];
    const sid = newServerId();
    const binary = await NumberedBinary.dial(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const onC1 = await binary.addPhone(c.base);
    const onC2 = await binary.addPhone(c.base);
    const onB = await binary.addPhone(b.base);
    await eventually(() => binary.phones.every((p) => p.connId !== undefined), 3000, 'phones known');
    const over = await connectPhone(a.base, sid);
    assert.equal((await over.waitClose(3000)).code, 4429, 'at the cap of 3');
    // Idle pairs: nothing crosses the bus toward C, so the reap is what reports its phones.
    const t0 = Date.now();
    c.kill('SIGKILL');
    await eventually(() => onC1.notices.length > 0 && onC2.notices.length > 0, REAPED_MS + 1000, 'notices for C’s phones');
    const at = Date.now() - t0;
    assert.ok(at <= REAPED_MS, `notices ${at} ms after the kill`);
    await sleep(300);
    assert.deepEqual([onC1.notices, onC2.notices], [[1001], [1001]], 'one 1001 notice per phone of the dead node');
    // B's phone never noticed.
    assert.ok(onB.open);
    assert.deepEqual(onB.notices, []);
    // The two phones of the dead node no longer count: two more fit, a third does not.
    const extra1 = await binary.addPhone(a.base);
    const extra2 = await binary.addPhone(b.base);
    const third = await connectPhone(b.base, sid);
    assert.equal((await third.waitClose(3000)).code, 4429, 'at the cap of 3 again');
    assert.ok(extra1.open && extra2.open, 'both fit under the cap again');
    const stop = every(20, () => binary.pump());
    await sleep(500);
    stop();
    await eventually(() => binary.phones.filter((p) => p.open).every((p) => p.settled), 3000, 'open phones settle');
    assert.deepEqual(binary.violations, []);
  });
});
