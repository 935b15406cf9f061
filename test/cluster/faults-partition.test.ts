// Cluster faults, black box (cluster.md §3): one node cut off from Redis by a TCP
// proxy while the rest is fine. Within TTL of its last heartbeat it fences itself:
// every connection closed 1012 "relay route lost", upgrades and /healthz answered
// 503 `"status":"unavailable"`. The others reap it within TTL + 2 s; its binaries
// reclaim elsewhere; phones elsewhere whose binary was on it are closed 1012 (the
// route is found lost) or 4404 (reclaimed), whichever comes first. When the link
// returns it rejoins under a new incarnation and serves again.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { CLAIM_VISIBLE_MS, startNode, type RelayNode } from '../helpers/cluster.js';
import { NumberedBinary, every, expectNoOrphans, nodeRefs } from '../helpers/cluster-traffic.js';
import { newServerId, sleep } from '../helpers/clients.js';
import { eventually, httpRequest, upgrade } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const TTL_MS = 3000;
const REAPED_MS = TTL_MS + 2000;

describe('cluster faults: one node cut off from Redis', () => {
  let redis: RedisServer | undefined;
  let proxy: TcpProxy | undefined;
  let nodes: RelayNode[] = [];

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await proxy?.close();
    await redis?.stop();
  });

  test('fences within TTL (1012, 503 unavailable), is reaped, its binaries reclaim elsewhere, rejoins as a new incarnation', async () => {
    redis = await RedisServer.start();
    proxy = await TcpProxy.start(redis.port);
    const GRACE_MS = 5000;
    const args = ['--grace-period', `${GRACE_MS / 1000}s`, '--conflict-probe-timeout', '8s'];
    const a = await startNode(redis, { nodeId: 'cut-a', args });
    const c = await startNode(redis, { nodeId: 'cut-c', args, redisUrl: `redis://127.0.0.1:${proxy.port}` });
    nodes = [a, c];
    const refC = (await nodeRefs(redis, 'rt')).find((r) => r.startsWith('cut-c:'));
    assert.ok(refC !== undefined);

    // On C: a binary with a busy phone on A and an idle one on A; a same-node pair.
    // On A: a binary with a phone on C.
    const sidC = newServerId();
    const bC = await NumberedBinary.dial(c.base, sidC);
    const bA = await NumberedBinary.dial(a.base, newServerId());
    const bCC = await NumberedBinary.dial(c.base, newServerId());
    await sleep(CLAIM_VISIBLE_MS);
    const busyOnA = await bC.addPhone(a.base);
    const idleOnA = await bC.addPhone(a.base);
    const pOnC = await bA.addPhone(c.base);
    const sameC = await bCC.addPhone(c.base);
    await eventually(() => [busyOnA, idleOnA, pOnC, sameC].every((p) => p.connId !== undefined), 3000, 'phones known');
    const stop = every(20, () => {
      busyOnA.send();
      busyOnA.reply();
      pOnC.send();
      pOnC.reply();
      sameC.send();
      sameC.reply();
    });
    try {
      await eventually(() => busyOnA.gotAtPhone > 10 && pOnC.gotAtPhone > 10 && sameC.gotAtPhone > 10, 5000, 'traffic flowing');
      const t0 = Date.now();
      proxy.cut();

      // C fences: everything on it closes 1012 within TTL of its last heartbeat (≤ TTL after the cut).
      const routeLost = { code: 1012, reason: 'relay route lost' };
      for (const cl of [bC.client, bCC.client, sameC.client, pOnC.client]) assert.deepEqual(await cl.waitClose(TTL_MS + 1000), routeLost);
      const fencedAt = Date.now() - t0;
      assert.ok(fencedAt <= TTL_MS, `fenced ${fencedAt} ms after the cut`);
      const h = await c.healthz();
      assert.equal(h.status, 503);
      assert.equal(h.body.status, 'unavailable');
      assert.equal(h.body.node_id, 'cut-c');
      const up = await upgrade(c.port, '/v1/server', {
        headers: { 'X-Pyrycode-Server': newServerId(), 'X-Pyrycode-Version': '0.23.0', 'User-Agent': 'pyry/0.23.0' },
      });
      assert.deepEqual([up.status, up.body.trim()], [503, 'unavailable']);
      assert.equal((await httpRequest(a.port, '/healthz')).status, 200, 'the rest is fine');

      // A: the busy phone's frames went to C's channel, which no one hears any more: 1012.
      assert.deepEqual(await busyOnA.client.waitClose(TTL_MS), routeLost);
      // A's binary hears its phone on C is gone: 1012 (its frames found the route lost).
      await eventually(() => pOnC.notices.length > 0, REAPED_MS, 'notice for the phone on C');
      assert.deepEqual(pOnC.notices, [1012]);
      // A reaps C within TTL + 2 s of its last heartbeat.
      await eventually(() => a.events('cluster_node_reaped').length > 0, REAPED_MS + 500, 'C reaped');
      assert.ok(Date.now() - t0 <= REAPED_MS + 500, `reaped ${Date.now() - t0} ms after the cut`);
      assert.ok(!(await nodeRefs(redis, 'rt')).includes(refC));
      // The idle phone's binary is on C too: the link to C is lost, so it is closed 1012 as well.
      assert.deepEqual(await idleOnA.client.waitClose(1000), routeLost);
      // The binary redials on A: C's slots are in grace since the reap, so it reclaims at
      // once (a takeover would wait for the 8 s probe) and a phone of it on A works.
      const t1 = Date.now();
      const back = await NumberedBinary.dial(a.base, sidC);
      const near = await back.addPhone(a.base);
      await eventually(() => near.connId !== undefined, 2000, 'a phone reaches the reclaimed binary');
      assert.ok(Date.now() - t1 < 2000, `reclaimed after ${Date.now() - t1} ms`);
      // Still fenced while cut: /healthz 503.
      assert.equal((await c.healthz()).status, 503);

      // The link returns: C rejoins under a new incarnation and serves again.
      proxy.restore();
      await eventually(async () => (await c.healthz()).status === 200, 10_000, 'C rejoined');
      const refs = await nodeRefs(redis, 'rt');
      const refC2 = refs.find((r) => r.startsWith('cut-c:'));
      assert.ok(refC2 !== undefined && refC2 !== refC, `new incarnation ${refC2} after ${refC}`);
      await eventually(async () => (await c.healthz()).body.cluster_nodes === 2, 5000, 'C sees two nodes');
      const fresh = await back.addPhone(c.base);
      await eventually(() => fresh.connId !== undefined, 3000, 'a phone on C reaches the binary on A');
      for (let i = 0; i < 30; i++) back.pump();
      await eventually(() => fresh.settled && fresh.gotAtPhone === 30, 3000, 'frames across A and the rejoined C').catch((err: Error) => {
        const st = {
          open: fresh.open,
          sent: fresh.sent,
          atBinary: fresh.gotAtBinary,
          byBinary: fresh.sentByBinary,
          atPhone: fresh.gotAtPhone,
          v: back.violations,
          notices: fresh.notices,
        };
        throw new Error(
          `${err.message}: ${JSON.stringify(st)}; A: ${a.child.out.stderr
            .split('\n')
            .filter((l) => l.includes('cluster_'))
            .slice(-8)
            .join(' | ')}; C: ${c.child.out.stderr
            .split('\n')
            .filter((l) => l.includes('cluster_'))
            .slice(-8)
            .join(' | ')}`,
        );
      });
      assert.deepEqual([...bC.violations, ...bA.violations, ...bCC.violations, ...back.violations], []);
      fresh.client.close();
      near.client.close();
      back.client.close();
      bA.client.close();
    } finally {
      stop();
    }
    // Once the last grace window has ended.
    await expectNoOrphans(redis, 'rt', GRACE_MS + REAPED_MS);
  });
});
