// Cluster mode for the load benchmark (issue #13): a redis-server and N relay
// nodes sharing it, every one of them pinned to the target core, plus what the
// cluster runs read from Redis — INFO sections as numbers, per-command call
// counts (INFO commandstats) and the key count.
import { Redis } from 'ioredis';
import { relayArgs, relayEnv } from './run.js';
import { ephemeralRedisArgs, freePort, spawnPinned, stop, TARGET_CORE, waitPort, type Child } from './spawn.js';

export interface Cluster {
  redis: Child;
  redisPort: number;
  nodes: Child[];
  /** ws://127.0.0.1:<port> of each node, in order. */
  urls: string[];
  /** A connection for INFO / DBSIZE (its own commands are excluded from the counts below). */
  admin: Redis;
  stop(): Promise<void>;
}

/** Start-up flags for the nodes of a benchmark cluster (after relayArgs' defaults). */
export interface ClusterOptions {
  nodes: number;
  /** Extra relay flags for every node (e.g. heartbeats). */
  extra?: string[];
  /** Membership lease; longer means fewer heartbeat scripts in a measured window. */
  nodeTtl?: string;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const children: Child[] = [];
  let admin: Redis | undefined;
  try {
    const redisPort = await freePort();
    const redis = spawnPinned(TARGET_CORE, '/usr/bin/redis-server', [...ephemeralRedisArgs(redisPort), '--maxclients', '10000']);
    children.push(redis);
    await waitPort(redisPort);
    const env = { ...relayEnv(), PYRYCODE_RELAY_REDIS_URL: `redis://127.0.0.1:${redisPort}` };
    const nodes: Child[] = [];
    const urls: string[] = [];
    // One after another: each joins before it listens (cluster.md §1).
    for (let i = 0; i < opts.nodes; i++) {
      const port = await freePort();
      const node = spawnPinned(
        TARGET_CORE,
        process.execPath,
        relayArgs(port, [
          '--node-id',
          `bench-n${i}`,
          '--cluster-prefix',
          'bench',
          '--cluster-node-ttl',
          opts.nodeTtl ?? '30s',
          ...(opts.extra ?? []),
        ]),
        env,
      );
      children.push(node);
      nodes.push(node);
      await waitPort(port, 20_000);
      urls.push(`ws://127.0.0.1:${port}`);
    }
    admin = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
    const a = admin;
    return {
      redis,
      redisPort,
      nodes,
      urls,
      admin: a,
      async stop() {
        a.disconnect();
        for (const c of [...children].reverse()) await stop(c);
      },
    };
  } catch (err) {
    admin?.disconnect();
    for (const c of children.reverse()) await stop(c);
    throw err;
  }
}

/** `INFO <section>` as name → number (non-numeric fields dropped). */
export async function info(r: Redis, section: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await r.info(section)).split('\r\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const v = Number(line.slice(i + 1));
    if (Number.isFinite(v)) out.set(line.slice(0, i), v);
  }
  return out;
}

/** Calls per command from INFO commandstats (`cmdstat_evalsha:calls=3,…` → evalsha → 3). */
export async function commandCalls(r: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await r.info('commandstats')).split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Commands a client sends itself, as opposed to those the registry's Lua scripts
 * run inside Redis: commandstats counts both, a round trip is only the former.
 * Every command the scripts call is a data command (h*, z*, s*, del, …); the relay's
 * own top-level commands are EVALSHA/EVAL and the bus's PUBLISH/SUBSCRIBE/PING.
 */
export const SCRIPT_INTERNAL = new Set([
  'del',
  'hdel',
  'hget',
  'hgetall',
  'hlen',
  'hmget',
  'hset',
  'incr',
  'pexpire',
  'sadd',
  'set',
  'smembers',
  'srem',
  'time',
  'zadd',
  'zcount',
  'zrangebyscore',
  'zrem',
  'zscore',
]);

/** Commands the benchmark itself sends on its admin connection. */
const OWN = new Set(['info', 'dbsize', 'scan', 'memory', 'config']);

/** Round trips the relays made between two commandstats snapshots, and the per-command deltas. */
export function roundTrips(before: Map<string, number>, after: Map<string, number>): { total: number; by: Record<string, number> } {
  const by: Record<string, number> = {};
  let total = 0;
  for (const [cmd, n] of after) {
    const d = n - (before.get(cmd) ?? 0);
    if (d === 0) continue;
    by[cmd] = d;
    if (!SCRIPT_INTERNAL.has(cmd) && !OWN.has(cmd)) total += d;
  }
  return { total, by };
}
