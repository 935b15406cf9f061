// Cluster series (`pyrycode_relay_cluster_*`) on the relay's prom-client registry,
// fed by Membership's events. Per node, like every series: Prometheus sums nodes.
// Labels are closed sets (a fence reason, a Redis failure reason); never a node
// id, server-id or anything from the Redis URL.
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FenceReason, Membership } from './membership.js';
import type { RedisFailureReason, RedisRole } from './redis-client.js';
import { SCRIPT_NAMES, type ClusterStore, type ScriptName } from './store.js';
import { registerBusMetrics, type BusSource } from './bus-metrics.js';

const FENCE_REASONS: readonly FenceReason[] = ['lease_expired', 'reaped'];
const REDIS_REASONS: readonly RedisFailureReason[] = [
  'unreachable',
  'timeout',
  'auth_failed',
  'no_permission',
  'tls',
  'version_too_old',
  'out_of_memory',
  'loading',
  'read_only',
  'closed',
  'error',
];

export class ClusterMetrics {
  private readonly fences: Counter<string>;
  private readonly rejoins: Counter<string>;
  private readonly generations: Counter<string>;
  private readonly reapedNodes: Counter<string>;
  private readonly redisErrors: Counter<string>;

  constructor(registry: Registry, membership: Membership) {
    new Gauge({
      name: 'pyrycode_relay_cluster_nodes',
      help: 'Live cluster nodes this node saw at its last heartbeat (itself included).',
      registers: [registry],
      collect() {
        this.set(membership.liveNodes);
      },
    });
    new Gauge({
      name: 'pyrycode_relay_cluster_fenced',
      help: '1 while this node is fenced (cut off from the cluster), else 0.',
      registers: [registry],
      collect() {
        this.set(membership.state === 'fenced' ? 1 : 0);
      },
    });
    this.fences = new Counter({
      name: 'pyrycode_relay_cluster_fences_total',
      help: 'Times this node fenced itself, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of FENCE_REASONS) this.fences.labels({ reason }).inc(0);
    this.rejoins = new Counter({
      name: 'pyrycode_relay_cluster_rejoins_total',
      help: 'Times this node rejoined under a new incarnation after fencing.',
      registers: [registry],
    });
    this.generations = new Counter({
      name: 'pyrycode_relay_cluster_generation_changes_total',
      help: 'Redis generations this node re-asserted its state into (Redis restarted empty).',
      registers: [registry],
    });
    this.reapedNodes = new Counter({
      name: 'pyrycode_relay_cluster_reaped_nodes_total',
      help: 'Dead nodes this node reaped.',
      registers: [registry],
    });
    this.redisErrors = new Counter({
      name: 'pyrycode_relay_cluster_redis_errors_total',
      help: 'Failed cluster Redis commands, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of REDIS_REASONS) this.redisErrors.labels({ reason }).inc(0);

    membership.on('fenced', (reason) => this.fences.labels({ reason }).inc());
    membership.on('rejoined', () => this.rejoins.inc());
    membership.on('generation', () => this.generations.inc());
    membership.on('reaped', (r) => this.reapedNodes.inc(r.nodes.length));
    membership.on('redisError', (e) => this.redisErrors.labels({ reason: e.reason }).inc());
  }
}

/**
 * Bus messages the cluster registry dropped because no slot or phone on this node
 * matched their server-id and epoch (stale after a reclaim, a reap or a restart).
 */
export function registerRoutingMetrics(registry: Registry, dropped: () => number): void {
  let seen = 0;
  const c = new Counter({
    name: 'pyrycode_relay_cluster_bus_dropped_total',
    help: 'Bus messages dropped by this node: no slot or phone here matched their server-id and epoch.',
    registers: [registry],
    collect() {
      const now = dropped();
      this.inc(Math.max(0, now - seen));
      seen = now;
    },
  });
  c.inc(0);
}

/** Registry round trips take ~0.1–1 ms on a LAN; the top buckets catch a stalled Redis before the command timeout. */
const OPERATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** `registerPhone` → `register_phone`: label values in the series' own style. */
function opLabel(op: ScriptName): string {
  return op.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Whether each of the node's Redis connections is up (read at scrape time), and the
 * latency of every registry script, by operation. Both are lifecycle-only.
 */
export function registerRedisMetrics(registry: Registry, connections: Record<RedisRole, Redis>, store: ClusterStore): void {
  new Gauge({
    name: 'pyrycode_relay_cluster_redis_up',
    help: '1 while this connection to Redis is ready for commands, else 0, by role.',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      for (const [role, c] of Object.entries(connections)) this.labels({ role }).set(c.status === 'ready' ? 1 : 0);
    },
  });
  const latency = new Histogram({
    name: 'pyrycode_relay_cluster_redis_operation_seconds',
    help: 'Round trip of each registry script to Redis (answered or failed), by operation.',
    labelNames: ['op'],
    buckets: OPERATION_BUCKETS,
    registers: [registry],
  });
  const children = new Map<ScriptName, Histogram.Internal<string>>();
  for (const op of SCRIPT_NAMES) {
    latency.zero({ op: opLabel(op) });
    children.set(op, latency.labels({ op: opLabel(op) }));
  }
  store.observe = (op, seconds) => children.get(op)?.observe(seconds);
}

/** What the cluster series read. */
export interface ClusterSeriesSources {
  membership: Membership;
  /** The node's current bus (a rejoin replaces it). */
  bus: BusSource;
  /** Bus messages the cluster registry dropped so far. */
  dropped: () => number;
  connections: Record<RedisRole, Redis>;
  store: ClusterStore;
}

/** Every cluster series, on the relay's registry: what runtime.ts registers, and what the docs and rules tests check. */
export function registerClusterSeries(registry: Registry, s: ClusterSeriesSources): void {
  new ClusterMetrics(registry, s.membership);
  registerRedisMetrics(registry, s.connections, s.store);
  registerBusMetrics(registry, s.bus);
  registerRoutingMetrics(registry, s.dropped);
}
