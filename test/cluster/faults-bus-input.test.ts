// Cluster faults, black box (cluster.md §3–§4; decision 0018): whoever can publish to
// Redis can put anything on a node's bus channel. Garbage, truncated batches,
// batches addressed to another node, replays of a live link's old sequence numbers
// and well-formed batches from a node that does not exist — naming live server-ids,
// their current fencing epochs and conn_ids of another server-id — are all dropped
// and counted; no node crashes, no pair loses, gains or reorders a frame, and no
// phone ever receives a frame of another server-id.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { encodeBatch, headerBytes, messageBytes, type BatchHeader, type BusMessage } from '../../src/cluster/bus-codec.js';
import { CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { NumberedBinary, every, nodeRefs } from '../helpers/cluster-traffic.js';
import { newServerId, sleep } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';

const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

function batch(h: BatchHeader, messages: BusMessage[]): Buffer {
  let size = headerBytes(h.src, h.dst);
  for (const m of messages) size += messageBytes(m);
  return encodeBatch(h, messages, 0, messages.length, size);
}

describe('cluster faults: forged and malformed bus input', () => {
  let redis: RedisServer;
  let a: RelayNode;
  let b: RelayNode;
  let pub: Redis;

  before(async () => {
    redis = await RedisServer.start();
    [a, b] = (await startNodes(redis, ['bi-a', 'bi-b'])) as [RelayNode, RelayNode];
    pub = new Redis(redis.url, { lazyConnect: true });
    await pub.connect();
  });

  after(async () => {
    pub?.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('dropped and counted, never a crash, never a frame to a phone of another server-id', async () => {
    const sidX = newServerId();
    const sidY = newServerId();
    const x = await NumberedBinary.dial(a.base, sidX);
    const y = await NumberedBinary.dial(a.base, sidY);
    await sleep(CLAIM_VISIBLE_MS);
    const px = await x.addPhone(b.base);
    const py = await y.addPhone(b.base);
    await eventually(() => px.connId !== undefined && py.connId !== undefined, 3000, 'phones known');
    const stop = every(20, () => {
      x.pump();
      y.pump();
    });
    const refs = await nodeRefs(redis, 'rt');
    const refA = refs.find((r) => r.startsWith('bi-a:'))!;
    const refB = refs.find((r) => r.startsWith('bi-b:'))!;
    const chanA = `rt:bus:${refA}`;
    const chanB = `rt:bus:${refB}`;
    const epochOf = async (sid: string): Promise<number> => Number(await pub.hget(`rt:s:${hex(sid)}`, 'e'));
    const epochX = await epochOf(sidX);
    const epochY = await epochOf(sidY);
    assert.ok(epochX > 0 && epochY > 0);
    const before = {
      bMalformed: await b.metric('pyrycode_relay_cluster_bus_malformed_total'),
      bForeign: await b.metric('pyrycode_relay_cluster_bus_foreign_total'),
      bDuplicates: await b.metric('pyrycode_relay_cluster_bus_duplicates_total'),
      bDropped: await b.metric('pyrycode_relay_cluster_bus_dropped_total'),
      aMalformed: await a.metric('pyrycode_relay_cluster_bus_malformed_total'),
      aDropped: await a.metric('pyrycode_relay_cluster_bus_dropped_total'),
      lost:
        (await a.metric('pyrycode_relay_cluster_bus_links_lost_total{reason="gap"}')) +
        (await b.metric('pyrycode_relay_cluster_bus_links_lost_total{reason="gap"}')),
    };
    const evil = 'evil:0123456789ab';
    const forged: BusMessage = {
      kind: 'frameToPhone',
      serverId: sidX,
      epoch: epochX,
      connId: py.connId!,
      frame: Buffer.from('{"m":999999}'),
    };
    try {
      await eventually(() => px.gotAtPhone > 10 && py.gotAtPhone > 10, 5000, 'traffic flowing');
      // 1. Garbage, short and large, and a valid batch cut short (11 malformed on B's channel).
      for (let i = 0; i < 8; i++) await pub.publish(chanB, randomBytes(1 + i * 97));
      await pub.publish(chanB, randomBytes(1 << 20));
      await pub.publish(chanB, Buffer.from('PB'));
      await pub.publish(chanB, batch({ src: evil, dst: refB, linkEpoch: 1, seq: 1, flags: 0 }, [forged]).subarray(0, 30));
      // 2. A valid batch addressed to A, published on B's channel (foreign).
      await pub.publish(chanB, batch({ src: evil, dst: refA, linkEpoch: 1, seq: 1, flags: 0 }, [forged]));
      // 3. A replay in the live A→B link's first epoch, seq 1 (a duplicate): never delivered.
      await pub.publish(
        chanB,
        batch({ src: refA, dst: refB, linkEpoch: 1, seq: 1, flags: 0 }, [{ ...forged, serverId: sidY, epoch: epochY }]),
      );
      // 4. Well-formed, from a node that does not exist: X's epoch with Y's phone; Y's own
      //    epoch and phone (but not from Y's binary's node); a close directive and an evict
      //    aimed at a phone of X under Y's server-id. All dropped by the router.
      await pub.publish(
        chanB,
        batch({ src: evil, dst: refB, linkEpoch: 1, seq: 1, flags: 0 }, [
          forged,
          { ...forged, serverId: sidY, epoch: epochY },
          { kind: 'closeDirective', serverId: sidY, epoch: epochY, connId: px.connId!, code: 4401, frame: Buffer.from('{"m":999998}') },
          { kind: 'evict', serverId: sidY, epoch: epochY, connId: px.connId!, code: 4404, reason: 1 },
        ]),
      );
      // 5. On A's channel: garbage, and a phone frame for X's binary from the non-existent node.
      await pub.publish(chanA, randomBytes(64));
      await pub.publish(
        chanA,
        batch({ src: evil, dst: refA, linkEpoch: 1, seq: 1, flags: 0 }, [
          { kind: 'frameToBinary', serverId: sidX, epoch: epochX, connId: px.connId!, frame: Buffer.from('{"n":999999,"p":"forged"}') },
        ]),
      );
      await sleep(1000);
    } finally {
      stop();
    }
    assert.equal((await b.metric('pyrycode_relay_cluster_bus_malformed_total')) - before.bMalformed, 11);
    assert.equal((await b.metric('pyrycode_relay_cluster_bus_foreign_total')) - before.bForeign, 1);
    assert.equal((await b.metric('pyrycode_relay_cluster_bus_duplicates_total')) - before.bDuplicates, 1);
    assert.ok(
      (await b.metric('pyrycode_relay_cluster_bus_dropped_total')) - before.bDropped >= 4,
      'the router dropped the forged slot messages',
    );
    assert.equal((await a.metric('pyrycode_relay_cluster_bus_malformed_total')) - before.aMalformed, 1);
    assert.ok((await a.metric('pyrycode_relay_cluster_bus_dropped_total')) - before.aDropped >= 1);
    // Nothing forged was mistaken for a loss of the real links, and nothing reached a client.
    const gaps =
      (await a.metric('pyrycode_relay_cluster_bus_links_lost_total{reason="gap"}')) +
      (await b.metric('pyrycode_relay_cluster_bus_links_lost_total{reason="gap"}'));
    assert.equal(gaps, before.lost);
    for (const n of [a, b]) {
      assert.equal(n.child.exitCode, null, `${n.nodeId} is running`);
      assert.equal((await n.healthz()).status, 200);
    }
    assert.ok(px.open && py.open && x.open && y.open, 'every pair still open');
    await eventually(() => px.settled && py.settled, 3000, 'pairs settled: nothing lost, nothing extra');
    assert.deepEqual([...x.violations, ...y.violations], []);
    for (const c of [px.client, py.client, x.client, y.client]) c.close();
  });
});
