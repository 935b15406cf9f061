// Cluster settings (cluster.md §1): the rules of the three cluster flags, and the step
// that turns them plus PYRYCODE_RELAY_REDIS_URL into the ClusterConfig the relay runs
// with. It runs after the environment is validated, since the variable decides the
// mode and FLY_MACHINE_ID may supply the node id; without the variable the flags are
// validated but ignored.
import type { EnvRefusal, RelayEnvironment } from '../env.js';
import { ENV_FLY_MACHINE_ID } from '../env.js';
import type { ClusterConfig, FlagValues } from './relay-config.js';

export const CLUSTER_PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;
export const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
export const NODE_ID_RULE = 'must be 1-64 characters of A-Z a-z 0-9 . _ -';

/**
 * --cluster-node-ttl bounds. Heartbeats go every TTL/3: at 3 s that is one a second,
 * still negligible for Redis and well above event-loop stalls. Above 10 m a dead node's
 * phones and slots would wait too long to be reaped.
 */
export const MIN_NODE_TTL_MS = 3_000;
export const MAX_NODE_TTL_MS = 10 * 60_000;

/** Host facts for the default node id, gathered by the CLI. */
export interface NodeIdFacts {
  hostname: string;
  /** 6 random hex digits, drawn once per start. */
  randomHex: string;
}

/** <hostname>-<6 hex>, the hostname cut and cleaned to fit NODE_ID. */
export function hostNodeId(facts: NodeIdFacts): string {
  const host = facts.hostname.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64 - 1 - facts.randomHex.length);
  return `${host === '' ? 'node' : host}-${facts.randomHex}`;
}

export type ClusterResolution = { ok: true; cluster: ClusterConfig | undefined } | { ok: false; refusal: EnvRefusal };

export function resolveCluster(flags: FlagValues, environment: RelayEnvironment, facts: NodeIdFacts): ClusterResolution {
  if (environment.redis === undefined) return { ok: true, cluster: undefined };
  let nodeId = flags.nodeId;
  if (nodeId === undefined && environment.flyMachineId !== undefined) {
    if (!NODE_ID.test(environment.flyMachineId)) {
      return {
        ok: false,
        refusal: { envVar: ENV_FLY_MACHINE_ID, reason: `${NODE_ID_RULE} to serve as the default --node-id; give --node-id` },
      };
    }
    nodeId = environment.flyMachineId;
  }
  return {
    ok: true,
    cluster: {
      redis: environment.redis,
      prefix: flags.clusterPrefix,
      nodeId: nodeId ?? hostNodeId(facts),
      nodeTtlMs: flags.clusterNodeTtlMs,
    },
  };
}
