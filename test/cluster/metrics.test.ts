// Cluster series: names, closed label sets, and values driven by real membership events.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { bootCluster } from '../../src/cluster/boot.js';
import { ClusterMetrics, registerRedisMetrics } from '../../src/cluster/metrics.js';
import { ClusterRedisError } from '../../src/cluster/redis-client.js';
import { RedisServer } from '../helpers/redis.js';
import { PREFIX, sleep, target } from './nodes.js';
import { until } from '../helpers/wait.js';

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

test('Redis up by connection role, and every registry script timed by operation', async () => {
  const server = await RedisServer.start();
  const node = await bootCluster(
    { redis: target(server.port), prefix: PREFIX, nodeId: 'redis-metrics-node', nodeTtlMs: 3000 },
    { graceMs: 30_000 },
  );
  try {
    const reg = new Registry();
    const c = node.connections;
    registerRedisMetrics(reg, { registry: c.registry, 'bus-pub': c.busPub, 'bus-sub': c.busSub }, node.store);
    let text = await reg.metrics();
    for (const role of ['registry', 'bus-pub', 'bus-sub'])
      assert.match(text, new RegExp(`^pyrycode_relay_cluster_redis_up\\{role="${role}"\\} 1$`, 'm'));
    // Every operation is there from the start, at zero.
    assert.match(text, /^pyrycode_relay_cluster_redis_operation_seconds_count\{op="register_phone"\} 0$/m);
    assert.match(text, /^pyrycode_relay_cluster_redis_operation_seconds_count\{op="claim"\} 0$/m);
    const claim = await node.store.claim('metrics server', 'claim-1');
    assert.equal(claim.kind, 'claimed');
    text = await reg.metrics();
    assert.match(text, /^pyrycode_relay_cluster_redis_operation_seconds_count\{op="claim"\} 1$/m);
    const sum = /^pyrycode_relay_cluster_redis_operation_seconds_sum\{op="claim"\} (\S+)$/m.exec(text);
    assert.ok(sum !== null && Number(sum[1]) > 0 && Number(sum[1]) < 1, `claim took ${sum?.[1]} s`);
    // The heartbeat runs on its own: its round trips are timed too.
    await until(async () => /op="heartbeat"\} [1-9]/.test(await reg.metrics()), 3000, 'a timed heartbeat');
    // Redis gone: every connection reports down, and no label carries the node or the URL.
    await server.stop();
    await until(async () => /^pyrycode_relay_cluster_redis_up\{role="registry"\} 0$/m.test(await reg.metrics()), 5000, 'registry down');
    text = await reg.metrics();
    assert.match(text, /^pyrycode_relay_cluster_redis_up\{role="bus-sub"\} 0$/m);
    assert.ok(!text.includes('redis-metrics-node'));
    assert.ok(!text.includes(String(server.port)));
  } finally {
    await node.close();
    await server.stop();
  }
});
