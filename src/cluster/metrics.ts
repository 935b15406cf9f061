// Cluster series (`pyrycode_relay_cluster_*`) on the relay's prom-client registry,
// fed by Membership's events. Per node, like every series: Prometheus sums nodes.
// Labels are closed sets (a fence reason, a Redis failure reason); never a node
// id, server-id or anything from the Redis URL.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FenceReason, Membership } from './membership.js';
import type { RedisFailureReason } from './redis-client.js';

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
