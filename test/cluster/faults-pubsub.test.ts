// Cluster faults, black box (cluster.md §3 "a bus message is lost"). A gap in a
// link's sequence closes the pairs crossing that link. And Redis kills
// every pub/sub connection (`CLIENT KILL TYPE pubsub`, what its output-buffer
// limit does to a slow subscriber). Messages may have been lost, so the loss is
// declared, never silent: every cross-node pair is closed 1012 on both sides (the
// phone with 1012 "relay route lost", its binary a 1012 close notice), same-node
// pairs go on untouched, the bus re-subscribes, proves it, and carries new pairs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { Redis } from 'ioredis';
import { encodeBatch, headerBytes, messageBytes, type BusMessage } from '../../src/cluster/bus-codec.js';
import { NumberedBinary, every, nodeRefs } from '../helpers/cluster-traffic.js';
import { newServerId, sleep } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';

describe('cluster faults: pub/sub connections killed', () => {
  let redis: RedisServer;
  let a: RelayNode;
  let b: RelayNode;

  before(async () => {
    redis = await RedisServer.start();
    [a, b] = (await startNodes(redis, ['ps-a', 'ps-b'])) as [RelayNode, RelayNode];
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  /**
   * Two pairs, pumped every 15 ms until `stop()`, both flowing before it returns: one
   * crossing the bus (binary on A, phone on B) and one whose binary and phone both sit
   * on `home`.
   */
  async function flowingPairs(home: RelayNode) {
    const cross = await NumberedBinary.dial(a.base, newServerId());
    const local = await NumberedBinary.dial(home.base, newServerId());
    await sleep(CLAIM_VISIBLE_MS);
    const remote = await cross.addPhone(b.base);
    const near = await local.addPhone(home.base);
    await eventually(() => remote.connId !== undefined && near.connId !== undefined, 3000, 'phones known');
    const stop = every(15, () => {
      cross.pump();
      local.pump();
    });
    try {
      await eventually(() => remote.gotAtPhone > 20 && near.gotAtPhone > 20, 5000, 'traffic flowing');
    } catch (err) {
      stop();
      throw err;
    }
    return { cross, local, remote, near, stop };
  }

  test('a gap on a link (a batch missed): the pairs crossing it close 1012 on both sides, the others go on', async () => {
    const { cross, local, remote, near, stop } = await flowingPairs(b);
    try {
      const gapsBefore = await b.metric('pyrycode_relay_cluster_bus_gaps_total');
      // A batch on A → B's link (still in its first epoch: the first test of a fresh
      // cluster) far ahead of the next expected one: B has missed batches.
      const refs = await nodeRefs(redis, 'rt');
      const refA = refs.find((r) => r.startsWith('ps-a:'))!;
      const refB = refs.find((r) => r.startsWith('ps-b:'))!;
      const filler: BusMessage = { kind: 'pause', serverId: 'none', epoch: 1 };
      const ahead = encodeBatch(
        { src: refA, dst: refB, linkEpoch: 1, seq: 1_000_000, flags: 0 },
        [filler],
        0,
        1,
        headerBytes(refA, refB) + messageBytes(filler),
      );
      const pub = new Redis(redis.url);
      try {
        assert.equal(await pub.publish(`rt:bus:${refB}`, ahead), 1);
      } finally {
        pub.disconnect();
      }
      assert.deepEqual(await remote.client.waitClose(3000), { code: 1012, reason: 'relay route lost' });
      await eventually(() => remote.notices.length > 0, 3000, 'the binary’s close notice');
      await sleep(300);
      assert.deepEqual(remote.notices, [1012]);
      assert.equal((await b.metric('pyrycode_relay_cluster_bus_gaps_total')) - gapsBefore, 1);
      const mark = near.gotAtPhone;
      await eventually(() => near.gotAtPhone > mark + 20, 3000, 'same-node pair still flowing');
    } finally {
      stop();
    }
    await eventually(() => near.settled, 3000, 'same-node pair settled');
    // The link restarted in a new epoch: a new cross-node pair works.
    const again = await cross.addPhone(b.base);
    await eventually(() => again.connId !== undefined, 3000, 'new phone reaches the binary across nodes');
    for (let i = 0; i < 30; i++) cross.pump();
    await eventually(() => again.settled && again.gotAtPhone === 30, 3000, 'new cross-node pair settled');
    assert.deepEqual([...cross.violations, ...local.violations], []);
    for (const c of [again.client, near.client, cross.client, local.client]) c.close();
  });

  test('CLIENT KILL TYPE pubsub: cross-node pairs closed 1012 both sides, same-node pairs untouched, the bus recovers', async () => {
    const { cross, local, remote, near, stop } = await flowingPairs(a);
    try {
      const lostBefore = await a.metric('pyrycode_relay_cluster_bus_links_lost_total{reason="subscriber_lost"}');
      const reply = await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
      assert.match(reply, /^:[1-9]/, `killed ${reply.trim()}`);
      assert.deepEqual(await remote.client.waitClose(3000), { code: 1012, reason: 'relay route lost' });
      await eventually(() => remote.notices.length > 0, 3000, 'the binary’s close notice');
      await sleep(300);
      assert.deepEqual(remote.notices, [1012]);
      assert.ok((await a.metric('pyrycode_relay_cluster_bus_links_lost_total{reason="subscriber_lost"}')) > lostBefore);
      // The same-node pair kept going throughout.
      const mark = near.gotAtPhone;
      await eventually(() => near.gotAtPhone > mark + 20, 3000, 'same-node pair still flowing');
      assert.ok(near.open && local.open && cross.open);
    } finally {
      stop();
    }
    await eventually(() => near.settled, 3000, 'same-node pair settled, nothing lost');
    // Both buses re-subscribed and proved it; a new cross-node pair works both ways.
    await eventually(
      async () => (await a.metric('pyrycode_relay_cluster_bus_ready')) === 1 && (await b.metric('pyrycode_relay_cluster_bus_ready')) === 1,
      5000,
      'buses ready',
    );
    assert.match(await redis.command('PUBSUB', 'NUMSUB', 'rt:bus:x'), /^\*2/);
    const again = await cross.addPhone(b.base);
    await eventually(() => again.connId !== undefined, 3000, 'new phone reaches the binary across nodes');
    for (let i = 0; i < 50; i++) cross.pump();
    await eventually(() => again.settled && again.gotAtPhone === 50, 3000, 'new cross-node pair settled');
    assert.deepEqual([...cross.violations, ...local.violations], []);
    for (const c of [again.client, near.client, cross.client, local.client]) c.close();
  });
});
