// Cluster mode assembled for the relay (cluster.md §1; decision 0022): boot
// (connect, check, join) and prove the bus before any listener opens, register the
// cluster's series on the relay's metrics registry, build the ClusterRegistry, log
// membership events, swap in a new bus when the node rejoins under a new
// incarnation, and on shutdown leave the cluster and close the connections.
import type { Redis } from 'ioredis';
import type { Registry as PromRegistry } from 'prom-client';
import type { Logger } from '../ops/logger.js';
import type { RegistryFactory } from '../relay/registry.js';
import { openClusterAcme, type ClusterAcme } from './acme-redis.js';
import { bootCluster, type ClusterConfig, type ClusterNode } from './boot.js';
import { BusCounters, FrameBus } from './bus.js';
import { ClusterRegistry } from './cluster-registry.js';
import { parseNodeRef } from './keys.js';
import { registerClusterSeries } from './metrics.js';
import { RedisUnavailableError, type ClusterRedisError, type RedisRole } from './redis-client.js';

export interface ClusterRuntimeOptions {
  logger: Logger;
  metrics: PromRegistry;
  gracePeriodMs: number;
  conflictProbeTimeoutMs: number;
}

export interface ClusterRuntime {
  readonly nodeId: string;
  readonly registry: RegistryFactory;
  /** Live nodes at the last heartbeat (this one included). */
  liveNodes(): number;
  /** False while fenced, and after a rejoin until the new bus channel is proven: upgrades and /healthz answer 503. */
  available(): boolean;
  /** The node ids in the cluster's membership set (for the status page); this node's alone if Redis does not answer. */
  nodeIds(): Promise<{ id: string; self: boolean }[]>;
  /** ACME mode (--domain): the certificate, challenges and issuer lock shared through Redis (decision 0020). */
  openAcme(): Promise<ClusterAcme>;
  /** Leaves the cluster (its slots were put in grace by the drain) and closes the connections. */
  close(): Promise<void>;
}

/** At most one `cluster_redis_error` line per role and reason in this window. */
const REDIS_ERROR_LOG_MS = 10_000;

export async function startCluster(cfg: ClusterConfig, opts: ClusterRuntimeOptions): Promise<ClusterRuntime> {
  const { logger } = opts;
  const lastLogged = new Map<string, number>();
  const redisError = (role: RedisRole | 'membership' | 'acme-sub', err: ClusterRedisError): void => {
    const key = `${role}:${err.reason}`;
    const now = performance.now();
    if (now - (lastLogged.get(key) ?? -Infinity) < REDIS_ERROR_LOG_MS) return;
    lastLogged.set(key, now);
    logger.warn('cluster_redis_error', { node: cfg.nodeId, reason: `${role}: ${err.reason}` });
  };
  const node: ClusterNode = await bootCluster(cfg, { graceMs: opts.gracePeriodMs, onRedisError: redisError });
  const counters = new BusCounters();
  const newBus = (): FrameBus => {
    const b = new FrameBus({
      nodeRef: node.store.self,
      channelFor: (ref) => node.keys.busChannel(ref),
      publisher: node.connections.busPub,
      subscriber: node.connections.busSub,
      counters,
    });
    b.on('ready', () => logger.info('cluster_bus_ready', { node: cfg.nodeId }));
    b.on('notReady', () => logger.warn('cluster_bus_not_ready', { node: cfg.nodeId }));
    return b;
  };
  let bus = newBus();
  try {
    await busReady(bus, cfg.nodeTtlMs);
  } catch (err) {
    bus.stop();
    await node.close();
    throw err;
  }
  const membership = node.membership;
  const byRole: Record<RedisRole, Redis> = {
    registry: node.connections.registry,
    'bus-pub': node.connections.busPub,
    'bus-sub': node.connections.busSub,
  };
  let registry: ClusterRegistry | undefined;
  registerClusterSeries(opts.metrics, {
    membership,
    bus: {
      get counters() {
        return bus.counters;
      },
      get isReady() {
        return bus.isReady;
      },
    },
    dropped: () => registry?.dropped ?? 0,
    connections: byRole,
    store: node.store,
  });
  membership.on('redisError', (err) => redisError('membership', err));
  // A fenced node lost Redis for a TTL: its connections may be black-holed (still
  // "ready" to the client, never answering), so it starts all three afresh.
  membership.on('fenced', () => {
    for (const c of Object.values(byRole)) c.disconnect(true);
  });
  // A rejoined node takes connections again only once its new channel is proven (a
  // self-probe came back), as at boot: a pair made sooner would be answered on a
  // channel nobody listens to yet, and be closed 1012 at once.
  let proven = true;
  membership.on('rejoined', (info) => {
    // A new incarnation listens on a new channel.
    const old = bus;
    old.stop();
    void node.connections.busSub.unsubscribe(node.keys.busChannel(info.previous)).catch(() => undefined);
    const next = (bus = newBus());
    proven = false;
    next.once('ready', () => {
      if (bus === next) proven = true;
    });
    next.start();
    registry?.replaceBus(next);
  });
  // Each connection's loss and return, one line per transition: ioredis retries quietly
  // in between (cluster_redis_error says why, at most every 10 s).
  let leaving = false;
  const watch = (role: RedisRole, c: Redis): void => {
    let downSince: number | undefined;
    c.on('close', () => {
      if (leaving || downSince !== undefined) return;
      downSince = performance.now();
      logger.warn('cluster_redis_lost', { node: cfg.nodeId, reason: role });
    });
    c.on('ready', () => {
      if (downSince === undefined) return;
      logger.info('cluster_redis_restored', { node: cfg.nodeId, reason: role, duration: Math.round(performance.now() - downSince) });
      downSince = undefined;
    });
  };
  for (const [role, c] of Object.entries(byRole) as [RedisRole, Redis][]) watch(role, c);
  logger.info('cluster_joined', { node: cfg.nodeId, count: membership.liveNodes });
  let acme: ClusterAcme | undefined;
  return {
    nodeId: cfg.nodeId,
    registry: (hooks) =>
      (registry = new ClusterRegistry(hooks, {
        store: node.store,
        membership,
        bus,
        logger,
        nodeId: cfg.nodeId,
        gracePeriodMs: opts.gracePeriodMs,
        conflictProbeTimeoutMs: opts.conflictProbeTimeoutMs,
      })),
    liveNodes: () => membership.liveNodes,
    available: () => membership.state === 'live' && proven,
    async nodeIds() {
      const self = { id: cfg.nodeId, self: true };
      try {
        const refs = await node.connections.registry.zrange(node.keys.nodes, 0, -1);
        const others = refs
          .filter((r) => r !== node.store.self)
          .map((r) => parseNodeRef(r)?.nodeId)
          .filter((id): id is string => id !== undefined)
          .map((id) => ({ id, self: false }));
        return [self, ...others];
      } catch {
        return [self];
      }
    },
    async openAcme() {
      acme ??= await openClusterAcme(node, { onRedisError: (err) => redisError('acme-sub', err) });
      return acme;
    },
    async close() {
      leaving = true;
      acme?.close();
      const left = await membership.leave().catch(() => undefined);
      // The phones this node still had owe their remote binaries a notice.
      if (left !== undefined) registry?.sendReapShares(left, false);
      // Let the last bus batch go out (the bus flushes at the end of the turn).
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 20));
      bus.stop();
      logger.info('cluster_left', { node: cfg.nodeId });
      for (const c of Object.values(byRole)) c.disconnect();
    },
  };
}

/** Starts the bus and waits until its own subscription is proven (a self-probe came back). */
function busReady(bus: FrameBus, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      bus.off('ready', onReady);
      reject(new RedisUnavailableError('timeout', undefined));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    bus.once('ready', onReady);
    bus.start();
  });
}
