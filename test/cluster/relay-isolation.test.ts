// Cluster mode, black box: the bus router acts only on messages that name a slot or
// phone this node holds at that epoch, from the node that holds the other side. A
// batch published on a node's channel by anyone else (another server-id, another
// node, a stale epoch) reaches no phone; it is dropped and counted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { encodeBatch, headerBytes, messageBytes, type BusMessage } from '../../src/cluster/bus-codec.js';
import { newIncarnation, nodeRef } from '../../src/cluster/keys.js';
import { CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { connectBinary, connectPhone, newServerId, sleep } from '../helpers/clients.js';
import { RedisServer } from '../helpers/redis.js';

const DROPPED = 'pyrycode_relay_cluster_bus_dropped_total';

describe('bus isolation', () => {
  let redis: RedisServer;
  let a: RelayNode;
  let b: RelayNode;
  let client: Redis;

  before(async () => {
    redis = await RedisServer.start();
    const nodes = await startNodes(redis, ['iso-a', 'iso-b']);
    a = nodes[0]!;
    b = nodes[1]!;
    client = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
    await client.connect();
  });

  after(async () => {
    client?.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('frames naming another server-id, node or epoch never reach a phone', async () => {
    const sid = newServerId();
    const other = newServerId();
    const binary = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const phone = await connectPhone(b.base, sid);
    phone.send('{}');
    const connId = ((await binary.nextJson(3000)) as { conn_id: string }).conn_id;
    const refs = await client.zrange('rt:nodes', 0, -1);
    const bRef = refs.find((r) => r.startsWith('iso-b:'));
    assert.ok(bRef !== undefined, refs.join(','));
    const forger = nodeRef('iso-x', newIncarnation());
    const frame = Buffer.from('{"forged":1}');
    const msgs: BusMessage[] = [
      // Another server-id's slot, this phone's conn_id.
      { kind: 'frameToPhone', serverId: other, epoch: 1, connId, frame },
      // The right server-id, but not from the node holding its binary; any epoch.
      { kind: 'frameToPhone', serverId: sid, epoch: 1, connId, frame },
      { kind: 'frameToPhone', serverId: sid, epoch: 2 ** 40, connId, frame },
      { kind: 'closeDirective', serverId: sid, epoch: 1, connId, code: 4000, frame },
      { kind: 'pause', serverId: sid, epoch: 1 },
    ];
    const before = await b.metric(DROPPED);
    const size = headerBytes(forger, bRef) + msgs.reduce((n, m) => n + messageBytes(m), 0);
    const heard = await client.publish(
      `rt:bus:${bRef}`,
      encodeBatch({ src: forger, dst: bRef, linkEpoch: 1, seq: 1, flags: 0 }, msgs, 0, msgs.length, size),
    );
    assert.equal(heard, 1);
    assert.ok(await phone.silentFor(500), 'nothing reached the phone');
    assert.ok(!phone.isClosed);
    assert.ok((await b.metric(DROPPED)) - before >= 4);
    // The real pair still works, both ways (the pause was ignored too).
    binary.send(`{"conn_id":"${connId}","frame":{"real":1}}`);
    assert.equal(await phone.next(3000), '{"real":1}');
    phone.send('{"up":1}');
    assert.deepEqual(await binary.nextJson(3000), { conn_id: connId, frame: { up: 1 } });
    binary.close();
  });
});
