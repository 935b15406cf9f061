// The node's Redis connections (cluster.md §1, cluster-notes §3 and rule 5): one
// factory for the three roles — registry (scripts), bus publisher, bus
// subscriber — each with deliberate ioredis settings, a server check (Redis ≥ 6.2,
// eviction policy) and the mapping of any client or server error to a closed set
// of reasons. Nothing here ever formats the target's password or a URL: errors
// carry a reason and an error code, never the library's message.
import { Redis, type RedisOptions } from 'ioredis';

/** Where Redis is, as parsed from PYRYCODE_RELAY_REDIS_URL by the config. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly db: number;
  /** `rediss://`: TLS with the system CAs plus NODE_EXTRA_CA_CERTS (Node reads it at start). */
  readonly tls: boolean;
}

export type RedisRole = 'registry' | 'bus-pub' | 'bus-sub';

export type RedisFailureReason =
  | 'unreachable'
  | 'timeout'
  | 'auth_failed'
  | 'no_permission'
  | 'tls'
  | 'version_too_old'
  | 'out_of_memory'
  | 'loading'
  | 'read_only'
  | 'closed'
  | 'error';

/** A Redis failure reduced to a reason and a code; safe to log whole. */
export class ClusterRedisError extends Error {
  constructor(
    readonly reason: RedisFailureReason,
    /** An error code such as ECONNREFUSED or WRONGPASS; never a message, host or secret. */
    readonly code: string | undefined,
    message?: string,
  ) {
    super(message ?? (code === undefined ? `redis: ${reason}` : `redis: ${reason} (${code})`));
    this.name = 'ClusterRedisError';
  }
}

/** Boot could not reach or join Redis in time, or Redis refused us: the CLI exits 1. */
export class RedisUnavailableError extends ClusterRedisError {
  readonly event = 'redis_unavailable';
  constructor(reason: RedisFailureReason, code: string | undefined) {
    super(reason, code, `redis_unavailable: ${reason}${code === undefined ? '' : ` (${code})`}`);
    this.name = 'RedisUnavailableError';
  }
}

/** The server is older than cluster.md's floor of 6.2 (scripts write after TIME, ACL users with AUTH user pass). */
export class RedisVersionError extends ClusterRedisError {
  readonly event = 'redis_unavailable';
  constructor(readonly version: string) {
    super('version_too_old', undefined, `redis ${version} is older than the required 6.2`);
    this.name = 'RedisVersionError';
  }
}

export interface ClientTuning {
  /** Upper bound of the reconnect back-off before jitter (ms). Default 1000: outages shorter than TTL/3 must heal. */
  reconnectCapMs?: number;
  /** Registry command timeout (ms); a hung command is rejected and retried by the caller. Default 5000. */
  commandTimeoutMs?: number;
  /** TCP connect timeout (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** Shown in CLIENT LIST (`pyrycode-relay:<role>:<node ref>`). */
  nodeRef?: string;
}

const DEFAULT_RECONNECT_CAP_MS = 1000;
const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** TCP keep-alive probe delay: a silently dropped link is noticed (ioredis #1451). */
const KEEPALIVE_MS = 10_000;
const JITTER_MS = 200;

/**
 * Exponential back-off from 50 ms (or the cap if lower), capped, plus jitter (up to
 * 200 ms, at most half the cap) so nodes do not reconnect in lockstep.
 */
export function reconnectDelay(times: number, capMs: number, random: () => number = Math.random): number {
  const base = Math.min(capMs, 50 * 2 ** Math.min(times - 1, 16));
  return Math.floor(base + random() * Math.min(JITTER_MS, capMs / 2));
}

/** ioredis options for one role; exported so tests can assert the choices. */
export function redisOptions(target: RedisTarget, role: RedisRole, tuning: ClientTuning = {}): RedisOptions {
  const cap = tuning.reconnectCapMs ?? DEFAULT_RECONNECT_CAP_MS;
  const common: RedisOptions = {
    host: target.host,
    port: target.port,
    username: target.username,
    password: target.password,
    db: target.db,
    // Node's default trust store already includes NODE_EXTRA_CA_CERTS.
    tls: target.tls ? { servername: isIpLiteral(target.host) ? undefined : target.host } : undefined,
    lazyConnect: true,
    keepAlive: KEEPALIVE_MS,
    noDelay: true,
    connectTimeout: tuning.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    retryStrategy: (times) => reconnectDelay(times, cap),
    // Waits out LOADING after a restart before the connection counts as ready.
    enableReadyCheck: true,
    connectionName: tuning.nodeRef === undefined ? undefined : `pyrycode-relay:${role}:${tuning.nodeRef}`,
    disableClientInfo: true,
    enableAutoPipelining: false,
  };
  switch (role) {
    case 'registry':
      // Lifecycle scripts queue through a short blip and are resent after a reconnect
      // (every script is idempotent); a command that cannot finish is rejected within
      // the timeout, so a caller answers 503 instead of hanging an upgrade.
      return {
        ...common,
        enableOfflineQueue: true,
        maxRetriesPerRequest: 1,
        commandTimeout: tuning.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      };
    case 'bus-pub':
      // Frames must never leave late: no offline queue, no resend of unanswered
      // PUBLISHes after a reconnect. A failed PUBLISH is a lost link (the bus resets it).
      return {
        ...common,
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        commandTimeout: tuning.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      };
    case 'bus-sub':
      // The library re-subscribes by itself; the bus also subscribes explicitly and
      // proves it with a self-probe after each `ready` (cluster-notes rule 2).
      return {
        ...common,
        enableOfflineQueue: true,
        autoResubscribe: true,
        maxRetriesPerRequest: null,
      };
  }
}

/** A new, not yet connected client for `role`. Errors go to `onError` (mapped), never to stderr. */
export function createRedis(
  target: RedisTarget,
  role: RedisRole,
  onError: (err: ClusterRedisError) => void,
  tuning: ClientTuning = {},
): Redis {
  const client = new Redis(redisOptions(target, role, tuning));
  client.on('error', (err: unknown) => onError(toClusterError(err)));
  return client;
}

/** Maps whatever ioredis, Node or the server threw to a reason and a safe code. */
export function toClusterError(err: unknown): ClusterRedisError {
  if (err instanceof ClusterRedisError) return err;
  const reason = classifyRedisError(err);
  return new ClusterRedisError(reason, errorCode(err));
}

export function classifyRedisError(err: unknown): RedisFailureReason {
  if (!(err instanceof Error)) return 'error';
  const code = (err as NodeJS.ErrnoException).code;
  const head = replyHead(err);
  if (head === 'WRONGPASS' || head === 'NOAUTH') return 'auth_failed';
  if (head === 'NOPERM') return 'no_permission';
  if (head === 'OOM') return 'out_of_memory';
  if (head === 'LOADING') return 'loading';
  if (head === 'READONLY') return 'read_only';
  if (head === 'ERR' && /invalid (username-)?password/i.test(err.message)) return 'auth_failed';
  if (code === 'ETIMEDOUT' || err.message === 'Command timed out') return 'timeout';
  if (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'EPIPE' ||
    err.name === 'MaxRetriesPerRequestError'
  )
    return 'unreachable';
  if (code !== undefined && (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || TLS_CODES.has(code))) return 'tls';
  if (err.message === 'Connection is closed.' || err.message.startsWith("Stream isn't writeable")) return 'closed';
  return 'error';
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'EPROTO',
]);

/** The first word of a server reply error (WRONGPASS, NOPERM, OOM …), or undefined. */
function replyHead(err: Error): string | undefined {
  if (err.name !== 'ReplyError') return undefined;
  const m = /^([A-Z]+)\b/.exec(err.message);
  return m?.[1];
}

function errorCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const head = replyHead(err);
  if (head !== undefined) return head;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
  if (err.name === 'MaxRetriesPerRequestError') return 'MAX_RETRIES';
  return undefined;
}

function isIpLiteral(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}

export interface ServerFacts {
  version: string;
  /** `noeviction` is required for a correct registry; anything else is worth a warning. */
  maxmemoryPolicy: string | undefined;
}

/** Reads INFO once and refuses a server older than 6.2 with RedisVersionError. */
export async function checkServer(client: Redis): Promise<ServerFacts> {
  const info = await client.info();
  const version = infoField(info, 'redis_version');
  if (version === undefined) throw new ClusterRedisError('error', 'NO_VERSION');
  if (!versionAtLeast(version, 6, 2)) throw new RedisVersionError(version);
  return { version, maxmemoryPolicy: infoField(info, 'maxmemory_policy') };
}

export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (m === null) return false;
  const maj = Number(m[1]);
  const min = Number(m[2]);
  return maj > major || (maj === major && min >= minor);
}

function infoField(info: string, field: string): string | undefined {
  const m = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return m?.[1]?.trim();
}

/**
 * Connects `client` (created with lazyConnect) and waits until it is ready, letting
 * the retry strategy run until `deadline` (a performance.now() value). Refused
 * credentials or permissions fail at once; otherwise the last failure's reason is
 * reported when the deadline passes. On failure the client is disconnected.
 */
export async function connectBy(client: Redis, deadline: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let last: ClusterRedisError | undefined;
    const finish = (err: ClusterRedisError | undefined): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      if (err === undefined) {
        resolve();
        return;
      }
      client.disconnect();
      reject(new RedisUnavailableError(err.reason, err.code));
    };
    const onReady = (): void => finish(undefined);
    const onError = (raw: unknown): void => {
      last = toClusterError(raw);
      if (last.reason === 'auth_failed' || last.reason === 'no_permission' || last.reason === 'tls') finish(last);
    };
    const timer = setTimeout(() => finish(last ?? new ClusterRedisError('timeout', undefined)), Math.max(0, deadline - performance.now()));
    client.on('ready', onReady);
    client.on('error', onError);
    if (client.status === 'wait' || client.status === 'end') client.connect().catch(() => undefined);
  });
}
