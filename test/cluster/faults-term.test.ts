// Cluster faults, black box (cluster.md §3): SIGTERM on one node, as in a rolling
// deploy. It drains as a single relay does (1001 "shutting down" to its own
// connections), but first puts its slots into grace in Redis, so a binary that
// redials another node reclaims at once, with no probe wait; the live binaries of
// its phones get a 1001 notice each; it leaves the cluster (its entry is gone at
// once, not after a TTL) and exits 0; nothing of it stays in Redis.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { NumberedBinary, every, expectNoOrphans, nodeRefs } from '../helpers/cluster-traffic.js';
import { newServerId, sleep } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { waitExit } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis.js';

describe('cluster faults: SIGTERM of a node', () => {
  let redis: RedisServer | undefined;
  let nodes: RelayNode[] = [];

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
  });

  test('drain 1001, slots in grace first (a redial elsewhere reclaims with no probe wait), notices 1001 for its phones', async () => {
    redis = await RedisServer.start();
    // A long probe timeout and grace: a takeover would take 8 s, a reclaim is immediate.
    nodes = await startNodes(redis, ['t-a', 't-b'], ['--conflict-probe-timeout', '8s', '--grace-period', '4s', '--drain-spread', '0s']);
    const [a, b] = nodes as [RelayNode, RelayNode];
    const onA = newServerId();
    const onB = newServerId();
    // Binary on A with a phone on B; binary on B with a phone on A and one on B; a same-node pair on B.
    const bA = await NumberedBinary.dial(a.base, onA);
    const bB = await NumberedBinary.dial(b.base, onB);
    await sleep(CLAIM_VISIBLE_MS);
    const pOfA = await bA.addPhone(b.base);
    const pOnA = await bB.addPhone(a.base);
    const pOnB = await bB.addPhone(b.base);
    await eventually(() => [pOfA, pOnA, pOnB].every((p) => p.connId !== undefined), 3000, 'phones known');
    const stop = every(20, () => {
      bA.pump();
      bB.pump();
    });
    let exit: Awaited<ReturnType<typeof waitExit>>;
    try {
      const refsBefore = await nodeRefs(redis, 'rt');
      a.kill('SIGTERM');
      assert.deepEqual(await bA.client.waitClose(5000), { code: 1001, reason: 'shutting down' });
      assert.deepEqual(await pOnA.client.waitClose(5000), { code: 1001, reason: 'shutting down' });
      // bA's phone on B stays: its slot is in grace, not lost (it sent nothing since, or it would be 4404).
      exit = await waitExit(a.child, 10_000);
      assert.equal(exit.code, 0);
      // The live binary on B heard that its phone on A went away.
      await eventually(() => pOnA.notices.length > 0, 3000, 'notice for the phone on A');
      assert.deepEqual(pOnA.notices, [1001]);
      // A left: its entry is gone at once.
      const refsAfter = await nodeRefs(redis, 'rt');
      assert.equal(refsAfter.length, refsBefore.length - 1);
      assert.ok(refsAfter.every((r) => r.startsWith('t-b:')));
    } finally {
      stop();
    }
    // The binary redials on B: a reclaim with no probe wait; its old phone is closed 4404.
    const t1 = Date.now();
    const again = await NumberedBinary.dial(b.base, onA);
    // Whichever comes first (it was sending throughout): its frame reached A while its
    // binary was in grace (4404 no server, as on one node), a frame toward A found A
    // gone (1012 route lost), or none went and the reclaim closes it (4404 reclaimed).
    const closed = await pOfA.client.waitClose(3000);
    const seen = `${closed.code} ${closed.reason}`;
    assert.ok(['4404 no server with that id', '1012 relay route lost', '4404 binary reclaimed server-id'].includes(seen), seen);
    assert.ok(Date.now() - t1 < 2000, `reclaimed after ${Date.now() - t1} ms (a probe would take 8 s)`);
    assert.ok(again.open);
    const fresh = await again.addPhone(b.base);
    await eventually(() => fresh.connId !== undefined, 3000, 'the fresh phone reaches the binary');
    for (let i = 0; i < 10; i++) again.pump();
    await eventually(() => fresh.settled && fresh.gotAtPhone === 10, 3000, 'frames after the reclaim');
    // The same-node pair on B went on untouched, with nothing lost.
    assert.ok(pOnB.open);
    await eventually(() => pOnB.settled, 3000, 'same-node pair settled');
    assert.deepEqual([...bA.violations, ...bB.violations, ...again.violations], []);
    fresh.client.close(4000);
    again.client.close();
    bB.client.close();
    pOnB.client.close();
    // Once the last grace window (4 s) has ended.
    await expectNoOrphans(redis, 'rt', 4000 + 5000);
  });
});
