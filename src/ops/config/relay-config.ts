// The validated configuration the relay runs with: one field per flag of the table
// in flag-table.ts (whose validators must produce exactly these types), which flags
// were given, and the cluster settings.
import type { RedisTarget } from '../redis-url.js';
import type { ListenAddress } from './listen-address.js';

/** Cluster mode's settings (resolved by cluster.ts from flags and environment). */
export interface ClusterConfig {
  redis: RedisTarget;
  /** Starts every key and channel, so several relays can share one Redis. */
  prefix: string;
  /** This node's name in logs and /healthz; never a metric label. */
  nodeId: string;
  /** A node whose heartbeat is older than this is dead. */
  nodeTtlMs: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Every field a flag fills. */
export interface FlagValues {
  domain: string | undefined;
  insecureListen: ListenAddress | undefined;
  httpsListen: ListenAddress;
  httpListen: ListenAddress;
  certCache: string;
  /** Certificate-file mode: the PEM chain and key (both or neither; excludes domain). */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** undefined when disabled with --metrics-listen="" */
  metricsListen: ListenAddress | undefined;
  trustXForwardedFor: boolean;
  httpsProxyProtocol: boolean;
  maxConnections: number;
  gracePeriodMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  conflictProbeTimeoutMs: number;
  writeTimeoutMs: number;
  readMessageTimeoutMs: number;
  headerTimeoutMs: number;
  drainTimeoutMs: number;
  drainSpreadMs: number;
  maxPhonesPerServer: number;
  maxMessageBytes: number;
  phoneOutboxBytes: number;
  maxBufferedBytes: number;
  /** 0 = off */
  maxConnectionsPerIp: number;
  rateLimitBurst: number;
  rateLimitRefillMs: number;
  logLevel: LogLevel;
  acmeDirectory: string;
  fcmProject: string;
  clusterPrefix: string;
  /** As given; undefined = the default, which depends on the host (see cluster.ts). */
  nodeId: string | undefined;
  clusterNodeTtlMs: number;
}

export type FlagKey = keyof FlagValues;

export interface RelayConfig extends FlagValues {
  /** Flag names (without dashes) that appeared on the command line at all. */
  given: ReadonlySet<string>;
  /**
   * Cluster mode's settings; undefined = single node. The flags alone cannot decide
   * it (PYRYCODE_RELAY_REDIS_URL does), so parsing leaves it undefined and the boot
   * checks fill it in once the environment is validated (cluster.ts).
   */
  cluster: ClusterConfig | undefined;
}
