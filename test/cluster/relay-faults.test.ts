// Cluster mode, black box: what the faults of cluster.md §3 do to clients.
// SIGTERM puts slots into grace before binaries close (a redial elsewhere
// reclaims with no probe wait); a killed node's phones are reported to their
// binaries with 1001 once it is reaped and stop counting towards the cap; a
// killed node's binaries reclaim elsewhere; a node cut off from Redis fences
// (1012, 503) and comes back under a new incarnation.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { CLAIM_VISIBLE_MS, splitPair, startNode, startNodes, type RelayNode } from '../helpers/cluster.js';
import { connectBinary, connectPhone, newServerId, phoneConnId, sleep } from '../helpers/clients.js';
import { eventually, httpRequest, upgrade } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';
import { freePort, runCli } from '../helpers/process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/** TTL 3 s: a dead node is reaped within TTL + 2 s of its last heartbeat. */
const REAPED_MS = 5000;

describe('cluster faults', () => {
  let redis: RedisServer | undefined;
  let nodes: RelayNode[] = [];
  let proxy: TcpProxy | undefined;

  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    nodes = [];
    await proxy?.close();
    proxy = undefined;
    await redis?.stop();
    redis = undefined;
  });

  test('SIGTERM: slots enter grace before binaries close, so a redial elsewhere reclaims with no probe wait', async () => {
    redis = await RedisServer.start();
    // A long probe timeout: a takeover would take 8 s, a reclaim is immediate.
    nodes = await startNodes(
      redis,
      ['term-a', 'term-b'],
      ['--conflict-probe-timeout', '8s', '--grace-period', '10s', '--drain-spread', '0s'],
    );
    const [a, b] = nodes as [RelayNode, RelayNode];
    const { sid, binary, phone } = await splitPair(a, b);
    a.kill('SIGTERM');
    assert.deepEqual(await binary.waitClose(5000), { code: 1001, reason: 'shutting down' });
    const t0 = Date.now();
    const again = await connectBinary(b.base, sid);
    // The phone on B is evicted by the reclaim (4404), not left waiting for a probe.
    assert.deepEqual(await phone.waitClose(3000), { code: 4404, reason: 'binary reclaimed server-id' });
    assert.ok(Date.now() - t0 < 2000, `reclaimed after ${Date.now() - t0} ms`);
    const fresh = await connectPhone(b.base, sid);
    fresh.send('{"n":1}');
    assert.deepEqual(((await again.nextJson(3000)) as { frame: unknown }).frame, { n: 1 });
    assert.ok(!again.isClosed);
    again.close();
  });

  test('a killed node holding phones: their binary gets 1001 for each within TTL + 2 s, and the cap frees up', async () => {
    redis = await RedisServer.start();
    nodes = await startNodes(redis, ['kill-a', 'kill-c'], ['--max-phones-per-server', '2']);
    const [a, c] = nodes as [RelayNode, RelayNode];
    const sid = newServerId();
    const binary = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const p1 = await connectPhone(c.base, sid);
    const p2 = await connectPhone(c.base, sid);
    const ids = [await phoneConnId(p1, binary), await phoneConnId(p2, binary)].sort();
    // At the cap.
    const over = await connectPhone(a.base, sid);
    assert.equal((await over.waitClose(3000)).code, 4429);
    const t0 = Date.now();
    c.kill('SIGKILL');
    const notices = [(await binary.nextJson(REAPED_MS + 2000)) as { conn_id: string; close_code: number }];
    notices.push((await binary.nextJson(2000)) as { conn_id: string; close_code: number });
    assert.ok(Date.now() - t0 <= REAPED_MS + 1000, `notices after ${Date.now() - t0} ms`);
    assert.deepEqual(
      notices.map((n) => [n.conn_id, n.close_code]).sort(),
      ids.map((id) => [id, 1001]),
    );
    assert.ok(await binary.silentFor(300), 'one notice per phone');
    // The dead node's phones no longer count: two new ones fit.
    const n1 = await connectPhone(a.base, sid);
    const n2 = await connectPhone(a.base, sid);
    await phoneConnId(n1, binary);
    await phoneConnId(n2, binary);
    binary.close();
  });

  test('a killed node holding a binary: once reaped, a redial on another node reclaims at once', async () => {
    redis = await RedisServer.start();
    nodes = await startNodes(redis, ['dead-a', 'dead-b'], ['--conflict-probe-timeout', '8s', '--grace-period', '20s']);
    const [a, b] = nodes as [RelayNode, RelayNode];
    const { sid, phone } = await splitPair(a, b);
    a.kill('SIGKILL');
    // Reaped (not merely past its TTL, which cluster_nodes already shows): its slot is in grace.
    await eventually(() => b.events('cluster_node_reaped').length > 0, REAPED_MS + 3000, 'A reaped');
    // Phones stay through the grace the reaping started.
    assert.ok(!phone.isClosed);
    const t0 = Date.now();
    const again = await connectBinary(b.base, sid);
    assert.deepEqual(await phone.waitClose(3000), { code: 4404, reason: 'binary reclaimed server-id' });
    assert.ok(Date.now() - t0 < 2000, `reclaimed after ${Date.now() - t0} ms`);
    again.close();
  });

  test('a node cut off from Redis fences: 1012 to its clients, 503 to upgrades and /healthz, then rejoins', async () => {
    redis = await RedisServer.start();
    proxy = await TcpProxy.start(redis.port);
    const a = await startNode(redis, { nodeId: 'fence-a', args: ['--grace-period', '10s'] });
    nodes.push(a);
    const c = await startNode(redis, { nodeId: 'fence-c', redisUrl: `redis://127.0.0.1:${proxy.port}`, args: ['--grace-period', '10s'] });
    nodes.push(c);
    const sid = newServerId();
    const binary = await connectBinary(c.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const local = await connectPhone(c.base, sid);
    const remote = await connectPhone(a.base, sid);
    await phoneConnId(local, binary);
    await phoneConnId(remote, binary);
    proxy.cut({ silent: true });
    // Fenced within the TTL of its last heartbeat.
    assert.deepEqual(await binary.waitClose(5000), { code: 1012, reason: 'relay route lost' });
    assert.deepEqual(await local.waitClose(2000), { code: 1012, reason: 'relay route lost' });
    const h = await httpRequest(c.port, '/healthz');
    assert.equal(h.status, 503);
    assert.equal((JSON.parse(h.body) as { status: string }).status, 'unavailable');
    assert.equal(
      (
        await upgrade(c.port, '/v1/server', {
          headers: { 'X-Pyrycode-Server': newServerId(), 'X-Pyrycode-Version': '0.23.0', 'User-Agent': 'pyry/0.23.0' },
        })
      ).status,
      503,
    );
    // The others reap it (its slot enters grace); its binary reclaims elsewhere at
    // once, and the phone elsewhere is closed 4404 (cluster.md §3 row 3: 1012 or
    // 4404, whichever comes first; the cut also silenced C's bus, so 4404 here).
    await eventually(() => a.events('cluster_node_reaped').length > 0, REAPED_MS + 3000, 'C reaped');
    const elsewhere = await connectBinary(a.base, sid);
    const closed = await remote.waitClose(3000);
    assert.ok(closed.code === 4404 || closed.code === 1012, `remote phone closed ${closed.code}`);
    await sleep(300);
    assert.ok(!elsewhere.isClosed);
    proxy.restore();
    await eventually(async () => (await httpRequest(c.port, '/healthz')).status === 200, 8000, 'C rejoined');
    // Live again (200) a moment before it has reaped its previous life and logged.
    await eventually(() => c.events('cluster_rejoined').length === 1, 3000, 'cluster_rejoined');
    assert.equal(c.events('cluster_fenced').length, 1);
    elsewhere.close();
  });
});

describe('cluster faults: Redis', () => {
  test('boot with Redis unreachable: exit 1 after the TTL, one redis_unavailable line, no URL', async () => {
    const port = await freePort();
    const r = await runCli(
      ['--insecure-listen', `127.0.0.1:${await freePort()}`, '--node-id', 'boot-x', '--cluster-node-ttl', '3s'],
      { PYRYCODE_RELAY_REDIS_URL: `redis://:s3cret-pw@127.0.0.1:${port}/0` },
      20_000,
    );
    assert.equal(r.code, 1);
    const lines = r.stderr.split('\n').filter((l) => l.includes('"event":"redis_unavailable"'));
    assert.equal(lines.length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /s3cret-pw|redis:\/\//);
    assert.doesNotMatch(r.stderr, /relay_started/);
  });

  test('Redis restarted empty: a same-node pair keeps working; the slot is re-asserted', async () => {
    const redis = await RedisServer.start();
    const nodes = await startNodes(redis, ['gen-a', 'gen-b']);
    const [a, b] = nodes as [RelayNode, RelayNode];
    try {
      const sid = newServerId();
      const binary = await connectBinary(a.base, sid);
      await sleep(CLAIM_VISIBLE_MS);
      const local = await connectPhone(a.base, sid);
      const cross = await connectPhone(b.base, sid);
      const localId = await phoneConnId(local, binary);
      const crossId = await phoneConnId(cross, binary);
      await redis.restart(200);
      // Same-node pair: nothing lost, in order. The only other thing the binary may
      // hear is the cross-node phone's 1012 notice (its route may be closed).
      for (let i = 0; i < 20; i++) local.send(`{"i":${i}}`);
      for (let i = 0; i < 20;) {
        const env = await binary.nextJson(5000);
        if (env.conn_id === crossId) {
          assert.deepEqual(env, { conn_id: crossId, close_code: 1012 });
          continue;
        }
        assert.deepEqual(env, { conn_id: localId, frame: { i } });
        i++;
      }
      binary.send(`{"conn_id":"${localId}","frame":{"back":1}}`);
      assert.equal(await local.next(3000), '{"back":1}');
      // The cross-node pair keeps working or is closed 1012 (never anything else).
      const crossOk = await Promise.race([cross.closed.then((c) => c.code), sleep(4000).then(() => 0)]);
      assert.ok(crossOk === 0 || crossOk === 1012, `cross-node phone closed ${crossOk}`);
      // Re-asserted: within the TTL a new phone on the other node reaches the same binary.
      await eventually(
        async () => {
          const p = await connectPhone(b.base, sid);
          const closed = await Promise.race([p.closed, sleep(500).then(() => undefined)]);
          if (closed !== undefined) return false;
          p.send('{"late":1}');
          for (;;) {
            const env = (await binary.nextJson(3000)) as { frame?: unknown };
            if (env.frame !== undefined && JSON.stringify(env.frame) === '{"late":1}') return true;
          }
        },
        8000,
        'a phone on B registers again',
      );
      assert.ok(!binary.isClosed && !local.isClosed);
      binary.close();
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
  });
});
