// Test fixture: cluster nodes (a registry client plus a ClusterStore) on a real
// redis-server, and a raw view of the keys the cluster left behind.
import { Redis } from 'ioredis';
import { createRedis, connectBy, type RedisTarget } from '../../src/cluster/redis-client.js';
import { clusterKeys, newIncarnation, nodeRef } from '../../src/cluster/keys.js';
import { ClusterStore } from '../../src/cluster/store.js';

export const PREFIX = 'pr';

export function target(port: number): RedisTarget {
  return { host: '127.0.0.1', port, db: 0, tls: false };
}

export interface TestNode {
  client: Redis;
  store: ClusterStore;
  close(): void;
}

export async function startNode(
  port: number,
  nodeId: string,
  opts: { ttlMs?: number; reapMarginMs?: number; join?: boolean; tuning?: Parameters<typeof createRedis>[3] } = {},
): Promise<TestNode> {
  const client = createRedis(target(port), 'registry', () => undefined, { reconnectCapMs: 100, ...opts.tuning });
  await connectBy(client, performance.now() + 5000);
  const store = new ClusterStore(client, clusterKeys(PREFIX), nodeRef(nodeId, newIncarnation()), {
    ttlMs: opts.ttlMs ?? 10_000,
    reapMarginMs: opts.reapMarginMs ?? 200,
  });
  if (opts.join !== false) await store.join();
  return { client, store, close: () => client.disconnect() };
}

/** Every key in the test database, sorted. */
export async function allKeys(client: Redis): Promise<string[]> {
  return (await client.keys('*')).sort();
}

export const conn = (sid: string, n: number): string => `client-${sid}-${n.toString(16).padStart(8, '0')}`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
