// Cluster boot (cluster.md §1): before any listener opens, connect the node's
// three Redis connections, check the server, and join — all within one TTL. Any
// failure disconnects everything and throws RedisUnavailableError (event
// `redis_unavailable`, a reason, never the URL) or RedisVersionError; the CLI
// logs one line and exits 1.
import type { Redis } from 'ioredis';
import { clusterKeys, newIncarnation, nodeRef, type ClusterKeys, type NodeRef } from './keys.js';
import { Membership, reapMarginFor, type MembershipOptions } from './membership.js';
import {
  checkServer,
  connectBy,
  createRedis,
  RedisUnavailableError,
  toClusterError,
  type ClusterRedisError,
  type RedisRole,
  type RedisTarget,
  type ServerFacts,
} from './redis-client.js';
import { ClusterStore } from './store.js';

/** The shape of `config.cluster` (structurally typed: the config module owns it). */
export interface ClusterConfig {
  redis: RedisTarget;
  prefix: string;
  nodeId: string;
  nodeTtlMs: number;
}

export interface NodeConnections {
  registry: Redis;
  busPub: Redis;
  busSub: Redis;
}

export interface ClusterNode {
  keys: ClusterKeys;
  ref: NodeRef;
  connections: NodeConnections;
  store: ClusterStore;
  membership: Membership;
  server: ServerFacts;
  /** Leaves the cluster (best effort) and closes the connections. */
  close(): Promise<void>;
}

export interface BootOptions extends Omit<MembershipOptions, 'ttlMs'> {
  /** Every connection error, mapped (for a rate-limited log line or a metric). */
  onRedisError?: (role: RedisRole, err: ClusterRedisError) => void;
}

/** The three connections of a node, not yet connected; reconnect back-off scaled to the TTL. */
export function createNodeConnections(
  target: RedisTarget,
  ref: NodeRef,
  ttlMs: number,
  onError: (role: RedisRole, err: ClusterRedisError) => void = () => undefined,
): NodeConnections {
  // Outages shorter than TTL/3 must heal well before the lease ends.
  const tuning = {
    nodeRef: ref,
    reconnectCapMs: Math.min(1000, Math.max(20, Math.floor(ttlMs / 10))),
    commandTimeoutMs: Math.max(250, Math.floor(ttlMs / 3)),
    connectTimeoutMs: Math.max(250, Math.min(5000, Math.floor(ttlMs / 3))),
  };
  return {
    registry: createRedis(target, 'registry', (e) => onError('registry', e), tuning),
    busPub: createRedis(target, 'bus-pub', (e) => onError('bus-pub', e), tuning),
    busSub: createRedis(target, 'bus-sub', (e) => onError('bus-sub', e), tuning),
  };
}

export async function bootCluster(cfg: ClusterConfig, opts: BootOptions): Promise<ClusterNode> {
  const deadline = performance.now() + cfg.nodeTtlMs;
  const keys = clusterKeys(cfg.prefix);
  const ref = nodeRef(cfg.nodeId, newIncarnation());
  const connections = createNodeConnections(cfg.redis, ref, cfg.nodeTtlMs, opts.onRedisError);
  const all = [connections.registry, connections.busPub, connections.busSub];
  try {
    await Promise.all(all.map((c) => connectBy(c, deadline)));
    const server = await checkServer(connections.registry).catch((err: unknown) => {
      const e = toClusterError(err);
      throw e.reason === 'version_too_old' ? e : new RedisUnavailableError(e.reason, e.code);
    });
    const store = new ClusterStore(connections.registry, keys, ref, {
      ttlMs: cfg.nodeTtlMs,
      reapMarginMs: reapMarginFor(cfg.nodeTtlMs),
    });
    const membership = new Membership(store, { ...opts, ttlMs: cfg.nodeTtlMs });
    await membership.join(deadline);
    return {
      keys,
      ref,
      connections,
      store,
      membership,
      server,
      async close() {
        await membership.leave().catch(() => undefined);
        for (const c of all) c.disconnect();
      },
    };
  } catch (err) {
    for (const c of all) c.disconnect();
    throw err;
  }
}
