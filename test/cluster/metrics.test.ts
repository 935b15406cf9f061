// Cluster series: names, closed label sets, and values driven by real membership events.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { bootCluster } from '../../src/cluster/boot.js';
import { ClusterMetrics } from '../../src/cluster/metrics.js';
import { ClusterRedisError } from '../../src/cluster/redis-client.js';
import { RedisServer } from '../helpers/redis.js';
import { PREFIX, sleep, target } from './nodes.js';

let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis.stop();
});

test('cluster metrics follow membership and never label a node', async () => {
  const node = await bootCluster(
    { redis: target(redis.port), prefix: PREFIX, nodeId: 'metrics-node', nodeTtlMs: 1500 },
    { graceMs: 30_000 },
  );
  try {
    const reg = new Registry();
    new ClusterMetrics(reg, node.membership);
    await sleep(600);
    let text = await reg.metrics();
    assert.match(text, /^pyrycode_relay_cluster_nodes 1$/m);
    assert.match(text, /^pyrycode_relay_cluster_fenced 0$/m);
    assert.match(text, /^pyrycode_relay_cluster_fences_total\{reason="lease_expired"\} 0$/m);
    node.membership.emit('redisError', new ClusterRedisError('timeout', undefined));
    const rejoined = once(node.membership, 'rejoined');
    node.membership.fence('reaped');
    text = await reg.metrics();
    assert.match(text, /^pyrycode_relay_cluster_fenced 1$/m);
    assert.match(text, /^pyrycode_relay_cluster_fences_total\{reason="reaped"\} 1$/m);
    assert.match(text, /^pyrycode_relay_cluster_redis_errors_total\{reason="timeout"\} 1$/m);
    await rejoined;
    text = await reg.metrics();
    assert.match(text, /^pyrycode_relay_cluster_rejoins_total 1$/m);
    assert.match(text, /^pyrycode_relay_cluster_fenced 0$/m);
    assert.ok(!text.includes('metrics-node'));
    assert.ok(!text.includes(String(redis.port)));
  } finally {
    await node.close();
  }
});
