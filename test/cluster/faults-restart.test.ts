// Cluster faults, black box (cluster.md §3): Redis restarted empty (no
// persistence), down for less than TTL/3. No node fences and /healthz stays 200;
// same-node pairs keep working with nothing lost; cross-node pairs keep working in
// order or are closed 1012 on both sides; within TTL the registry is rebuilt from
// the live nodes, so a second binary for a live server-id is still refused (never
// two live binaries for one server-id) and new pairs work across nodes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { NumberedBinary, every, expectNoOrphans } from '../helpers/cluster-traffic.js';
import { connectBinary, newServerId, sleep } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';

const TTL_MS = 3000;
const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

describe('cluster faults: Redis restarted empty', () => {
  let redis: RedisServer;
  let a: RelayNode;
  let b: RelayNode;

  before(async () => {
    redis = await RedisServer.start();
    [a, b] = (await startNodes(redis, ['rs-a', 'rs-b'])) as [RelayNode, RelayNode];
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('no fence; same-node pairs lose nothing; cross-node pairs go on in order or close 1012; the registry is rebuilt', async () => {
    const sidA = newServerId();
    const cross = await NumberedBinary.dial(a.base, newServerId());
    const sameA = await NumberedBinary.dial(a.base, sidA);
    const sameB = await NumberedBinary.dial(b.base, newServerId());
    await sleep(CLAIM_VISIBLE_MS);
    const remote = await cross.addPhone(b.base);
    const nearA = await sameA.addPhone(a.base);
    const nearB = await sameB.addPhone(b.base);
    await eventually(() => [remote, nearA, nearB].every((p) => p.connId !== undefined), 3000, 'phones known');
    const stop = every(20, () => [cross, sameA, sameB].forEach((x) => x.pump()));
    const statuses = new Set<number>();
    const poll = every(100, () => {
      for (const n of [a, b])
        void n.healthz().then(
          (h) => statuses.add(h.status),
          () => statuses.add(0),
        );
    });
    try {
      await eventually(() => nearA.gotAtPhone > 10 && remote.gotAtPhone > 10, 5000, 'traffic flowing');
      await redis.restart(300);
      await sleep(TTL_MS + 500);
    } finally {
      poll();
      stop();
    }
    assert.deepEqual([...statuses], [200], '/healthz never left 200');
    assert.equal(a.events('cluster_fenced').length + b.events('cluster_fenced').length, 0, 'no node fenced');
    assert.ok(a.events('cluster_generation_changed').length > 0 && b.events('cluster_generation_changed').length > 0);
    // Each of a node's three connections: one line when it dropped, one when it was back.
    for (const n of [a, b]) {
      const roles = (e: string): string[] =>
        n
          .events(e)
          .map((l) => String(l.reason))
          .sort();
      assert.deepEqual(roles('cluster_redis_lost'), ['bus-pub', 'bus-sub', 'registry']);
      assert.deepEqual(roles('cluster_redis_restored'), ['bus-pub', 'bus-sub', 'registry']);
      for (const l of n.events('cluster_redis_restored')) assert.ok(Number(l.duration) >= 300, `down ${String(l.duration)} ms`);
    }
    // Same-node pairs: open, everything arrived.
    await eventually(() => nearA.settled && nearB.settled, 5000, 'same-node pairs settled');
    for (const x of [sameA, sameB]) assert.ok(x.open && x.phones[0]!.open);
    // The cross-node pair: in order and complete, or closed 1012 with a 1012 notice.
    if (remote.open) {
      await eventually(() => remote.settled, 5000, 'cross-node pair settled');
    } else {
      assert.deepEqual(await remote.client.waitClose(100), { code: 1012, reason: 'relay route lost' });
      await eventually(() => remote.notices.length > 0, 3000, 'the binary’s notice');
      assert.deepEqual(remote.notices, [1012]);
    }
    assert.deepEqual(
      [cross, sameA, sameB].flatMap((x) => x.violations),
      [],
    );
    // Rebuilt: A's live slot is back in Redis, and a second binary for it is refused (the incumbent pongs).
    assert.match(await redis.command('EXISTS', `rt:s:${hex(sidA)}`), /^:1/);
    const second = await connectBinary(b.base, sidA);
    assert.equal((await second.waitClose(5000)).code, 4409);
    assert.ok(sameA.open);
    // New pairs across nodes work.
    const fresh = await NumberedBinary.dial(b.base, newServerId());
    await sleep(CLAIM_VISIBLE_MS);
    const p = await fresh.addPhone(a.base);
    const q = await cross.addPhone(b.base);
    await eventually(() => p.connId !== undefined && q.connId !== undefined, 3000, 'new phones known');
    for (let i = 0; i < 30; i++) [fresh, cross].forEach((x) => x.pump());
    await eventually(() => p.settled && q.settled && p.gotAtPhone === 30, 5000, 'new cross-node pairs');
    assert.deepEqual(
      [fresh, cross].flatMap((x) => x.violations),
      [],
    );
    for (const x of [fresh, cross, sameA, sameB]) {
      for (const ph of x.phones) ph.client.close();
      x.client.close();
    }
    await expectNoOrphans(redis, 'rt', 2000 + TTL_MS + 2000); // after the binaries' grace windows (2 s)
  });
});
