// The flag table (operations.md §1): every flag's name, topic, type, default, help and
// validator, in --help order. Typed end to end: defineFlag ties each row's syntax type
// to its validator's input and its config field to the validator's output, so a
// validator of the wrong type (or a row filling the wrong field) does not compile.
import { join } from 'node:path';
import { parseGoDuration } from '../duration.js';
import { CLUSTER_PREFIX, MAX_NODE_TTL_MS, MIN_NODE_TTL_MS, NODE_ID, NODE_ID_RULE } from './cluster.js';
import { Rule } from './errors.js';
import { parseGoBool, parseGoInt } from './go-numbers.js';
import { IPV4, isHostname, isLoopbackLiteral, parseListenAddress, type ListenAddress } from './listen-address.js';
import type { FlagKey, FlagValues, LogLevel } from './relay-config.js';

export type Topic = 'General' | 'Listeners' | 'TLS/ACME' | 'Admission' | 'Timing' | 'Limits' | 'Logging & metrics' | 'Push' | 'Cluster';

export const TOPICS: readonly Topic[] = [
  'General',
  'Listeners',
  'TLS/ACME',
  'Admission',
  'Timing',
  'Limits',
  'Logging & metrics',
  'Push',
  'Cluster',
];

/** What the syntax step (the part Go's flag package checks while parsing) yields per type. */
interface SyntaxOf {
  bool: boolean;
  int: bigint;
  /** milliseconds */
  duration: number;
  string: string;
  'listen-address': string;
  enum: string;
}

export type FlagType = keyof SyntaxOf;

const SYNTAX: { readonly [T in FlagType]: (text: string) => SyntaxOf[T] } = {
  bool: (text) => {
    const b = parseGoBool(text);
    if (b === undefined) throw new Rule('must be a boolean (true, false, 1, 0, t, f)');
    return b;
  },
  int: (text) => {
    const n = parseGoInt(text);
    if (n === undefined) throw new Rule('must be an integer');
    return n;
  },
  duration: (text) => {
    const ms = parseGoDuration(text);
    if (ms === undefined) throw new Rule('must be a duration such as 500ms, 30s or 1m30s');
    return ms;
  },
  string: (text) => text,
  'listen-address': (text) => text,
  enum: (text) => text,
};

export interface Ctx {
  homedir: string;
}

/** One row as help, docs and the tokenizer see it. */
export interface FlagDef {
  /** Without dashes. */
  readonly name: string;
  /** Config field it fills; undefined for --version, which is an outcome, not config. */
  readonly key: FlagKey | undefined;
  readonly topic: Topic;
  readonly type: FlagType;
  /** Default as it would be typed on the command line; undefined = no default. */
  readonly default: string | undefined;
  readonly help: string;
  /** Allowed values, for enums. */
  readonly values?: readonly string[];
  /** The syntax step alone, run while tokenizing as Go does; throws Rule. */
  readonly checkSyntax: (text: string) => void;
}

/** A row that fills config field K. */
export interface ConfigFlag<K extends FlagKey> extends FlagDef {
  readonly key: K;
  /** Syntax, then validation, then out[key] = value; throws Rule. */
  readonly assign: (out: Partial<FlagValues>, text: string, ctx: Ctx) => void;
}

interface FlagSpec<K extends FlagKey, T extends FlagType> {
  name: string;
  key: K;
  topic: Topic;
  type: T;
  /** Only a field that may be undefined can go without a default. */
  default: undefined extends FlagValues[K] ? string | undefined : string;
  help: string;
  values?: readonly string[];
  /** Range and shape checks after syntax: the config value, or throws Rule. */
  validate: (raw: SyntaxOf[T], ctx: Ctx) => FlagValues[K];
}

export function defineFlag<K extends FlagKey, T extends FlagType>(spec: FlagSpec<K, T>): ConfigFlag<K> {
  const { validate, ...meta } = spec;
  const syntax = SYNTAX[spec.type];
  return {
    ...meta,
    checkSyntax: (text) => void syntax(text),
    assign: (out, text, ctx) => {
      out[spec.key] = validate(syntax(text), ctx);
    },
  };
}

// ---------------------------------------------------------------------------------------
// Validators shared by several rows

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
// Node timers overflow past 2^31-1 ms (~24.8 days) and fire at once, so cap well below.
const MAX_DURATION_MS = 24 * 60 * 60 * 1000;

function intRange(min: number, max: number): (raw: bigint) => number {
  return (n) => {
    if (n < BigInt(min) || n > BigInt(max)) throw new Rule(`must be an integer from ${min} to ${max}`);
    return Number(n);
  };
}

function positiveDuration({ allowZero = false } = {}): (ms: number) => number {
  return (ms) => {
    if (allowZero ? ms < 0 : ms <= 0) throw new Rule(allowZero ? 'must not be negative' : 'must be positive');
    if (ms > MAX_DURATION_MS) throw new Rule('must be at most 24h');
    return ms;
  };
}

const asIs = <V>(raw: V): V => raw;

function listenAddress(check?: (a: ListenAddress) => void): (text: string) => ListenAddress {
  return (text) => {
    const addr = parseListenAddress(text);
    check?.(addr);
    return addr;
  };
}

/** A certificate or key path; a leading ~/ means the home directory, as for --cert-cache. */
function pemPath(s: string, ctx: Ctx): string {
  if (s === '') throw new Rule('must not be empty');
  if (ctx.homedir !== '' && s.startsWith('~/')) return join(ctx.homedir, s.slice(2));
  return s;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

// ---------------------------------------------------------------------------------------
// The table

/** --version: an outcome, not config; the tokenizer acts on it before validation. */
export const VERSION_FLAG: FlagDef = {
  name: 'version',
  key: undefined,
  topic: 'General',
  type: 'bool',
  default: 'false',
  help: 'print the version and exit',
  checkSyntax: (text) => void SYNTAX.bool(text),
};

const CONFIG_FLAGS = [
  // Listeners
  defineFlag({
    name: 'insecure-listen',
    key: 'insecureListen',
    topic: 'Listeners',
    type: 'listen-address',
    default: undefined,
    help: 'plain HTTP/WS listen address (e.g. :8080 or 127.0.0.1:8080), for running behind a TLS-terminating proxy; excludes --domain, --tls-cert, --https-listen, --http-listen and --https-proxy-protocol',
    validate: listenAddress(),
  }),
  defineFlag({
    name: 'https-listen',
    key: 'httpsListen',
    topic: 'Listeners',
    type: 'listen-address',
    default: ':443',
    help: 'TLS listen address (ACME and certificate-file modes)',
    validate: listenAddress(),
  }),
  defineFlag({
    name: 'http-listen',
    key: 'httpListen',
    topic: 'Listeners',
    type: 'listen-address',
    default: ':80',
    help: 'ACME HTTP-01 challenge listen address (ACME mode)',
    validate: listenAddress(),
  }),

  // TLS/ACME
  defineFlag({
    name: 'domain',
    key: 'domain',
    topic: 'TLS/ACME',
    type: 'string',
    default: undefined,
    help: 'public domain name; turns on TLS with certificates from ACME',
    validate: (s) => {
      if (!isHostname(s) && !IPV4.test(s)) throw new Rule('must be a domain name such as relay.example.com');
      return s.toLowerCase(); // Host matching is case-insensitive; keep one spelling
    },
  }),
  defineFlag({
    name: 'cert-cache',
    key: 'certCache',
    topic: 'TLS/ACME',
    type: 'string',
    default: '~/.pyrycode-relay/certs',
    help: 'certificate cache directory; a leading ~/ means the home directory',
    validate: (s, ctx) => {
      if (s === '') throw new Rule('must not be empty');
      // Without a home directory "~" stays literal; ACME mode rejects it later, and
      // insecure mode never touches the cache.
      if (ctx.homedir === '') return s;
      if (s === '~') return ctx.homedir;
      if (s.startsWith('~/')) return join(ctx.homedir, s.slice(2));
      return s;
    },
  }),
  defineFlag({
    name: 'acme-directory',
    key: 'acmeDirectory',
    topic: 'TLS/ACME',
    type: 'string',
    default: 'https://acme-v02.api.letsencrypt.org/directory',
    help: 'ACME directory URL (https://, or http:// to a loopback address for test CAs)',
    validate: (s) => {
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        throw new Rule('must be an absolute URL');
      }
      const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
      const loopback = host === 'localhost' || isLoopbackLiteral(host);
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
        throw new Rule('must be an https:// URL (http:// only to a loopback address)');
      }
      if (u.username !== '' || u.password !== '') throw new Rule('must not contain credentials');
      return s;
    },
  }),

  defineFlag({
    name: 'tls-cert',
    key: 'tlsCert',
    topic: 'TLS/ACME',
    type: 'string',
    default: undefined,
    help: 'PEM certificate chain file (leaf first) to serve instead of ACME; needs --tls-key; excludes --domain and --insecure-listen; reloaded on change and SIGHUP',
    validate: pemPath,
  }),
  defineFlag({
    name: 'tls-key',
    key: 'tlsKey',
    topic: 'TLS/ACME',
    type: 'string',
    default: undefined,
    help: 'PEM private key file (RSA or ECDSA, unencrypted) for --tls-cert',
    validate: pemPath,
  }),

  // Admission
  defineFlag({
    name: 'trust-x-forwarded-for',
    key: 'trustXForwardedFor',
    topic: 'Admission',
    type: 'bool',
    default: 'false',
    help: 'take the client IP from the left-most X-Forwarded-For entry',
    validate: asIs,
  }),
  defineFlag({
    name: 'https-proxy-protocol',
    key: 'httpsProxyProtocol',
    topic: 'Admission',
    type: 'bool',
    default: 'false',
    help: 'require a PROXY protocol v2 header on every TLS connection (ACME and certificate-file modes)',
    validate: asIs,
  }),
  defineFlag({
    name: 'max-connections',
    key: 'maxConnections',
    topic: 'Admission',
    type: 'int',
    default: '10000',
    help: 'relay-wide cap on live WebSocket connections',
    validate: intRange(1, 1_000_000),
  }),
  defineFlag({
    name: 'max-connections-per-ip',
    key: 'maxConnectionsPerIp',
    topic: 'Admission',
    type: 'int',
    default: '100',
    help: 'cap on live WebSocket connections per client IP (0 = off)',
    validate: intRange(0, 1_000_000),
  }),
  defineFlag({
    name: 'rate-limit-burst',
    key: 'rateLimitBurst',
    topic: 'Admission',
    type: 'int',
    default: '20',
    help: 'per-IP token bucket size for /v1/server and /v1/client requests',
    validate: intRange(1, 1_000_000),
  }),
  defineFlag({
    name: 'rate-limit-refill',
    key: 'rateLimitRefillMs',
    topic: 'Admission',
    type: 'duration',
    default: '6s',
    help: 'time to refill one rate-limit token',
    validate: positiveDuration(),
  }),

  // Timing
  defineFlag({
    name: 'grace-period',
    key: 'gracePeriodMs',
    topic: 'Timing',
    type: 'duration',
    default: '30s',
    help: "how long a disconnected binary's server-id stays reserved",
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'heartbeat-interval',
    key: 'heartbeatIntervalMs',
    topic: 'Timing',
    type: 'duration',
    default: '30s',
    help: 'how often every connection is pinged',
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'heartbeat-timeout',
    key: 'heartbeatTimeoutMs',
    topic: 'Timing',
    type: 'duration',
    default: '30s',
    help: 'how long to wait for a pong before closing with 1011',
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'conflict-probe-timeout',
    key: 'conflictProbeTimeoutMs',
    topic: 'Timing',
    type: 'duration',
    default: '10s',
    help: 'how long an incumbent binary has to answer the conflict probe',
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'write-timeout',
    key: 'writeTimeoutMs',
    topic: 'Timing',
    type: 'duration',
    default: '10s',
    help: 'a write making no progress for this long closes the connection',
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'read-message-timeout',
    key: 'readMessageTimeoutMs',
    topic: 'Timing',
    type: 'duration',
    default: '30s',
    help: 'time for a whole inbound message once its first frame has arrived',
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'header-timeout',
    key: 'headerTimeoutMs',
    topic: 'Timing',
    type: 'duration',
    default: '5s',
    help: 'time for the HTTP request headers to arrive',
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'drain-timeout',
    key: 'drainTimeoutMs',
    topic: 'Timing',
    type: 'duration',
    default: '10s',
    help: 'how long shutdown waits for close handshakes',
    validate: positiveDuration(),
  }),
  defineFlag({
    name: 'drain-spread',
    key: 'drainSpreadMs',
    topic: 'Timing',
    type: 'duration',
    default: '0s',
    help: 'spread the shutdown closes over this window (0s = all at once); must be shorter than --drain-timeout',
    validate: positiveDuration({ allowZero: true }),
  }),

  // Limits
  defineFlag({
    name: 'max-phones-per-server',
    key: 'maxPhonesPerServer',
    topic: 'Limits',
    type: 'int',
    default: '16',
    help: 'phones per server-id before new ones are closed with 4429',
    validate: intRange(1, 100_000),
  }),
  defineFlag({
    name: 'max-message-bytes',
    key: 'maxMessageBytes',
    topic: 'Limits',
    type: 'int',
    default: '262144',
    help: 'largest inbound WebSocket message (larger closes with 1009)',
    validate: intRange(1, 64 * MiB),
  }),
  defineFlag({
    name: 'phone-outbox-bytes',
    key: 'phoneOutboxBytes',
    topic: 'Limits',
    type: 'int',
    default: '4194304',
    help: "bytes queued for one phone before it is closed with 1011 'phone backlog full'",
    validate: intRange(1, GiB),
  }),
  defineFlag({
    name: 'max-buffered-bytes',
    key: 'maxBufferedBytes',
    topic: 'Limits',
    type: 'int',
    default: '268435456',
    help: 'relay-wide budget for queued bytes; must be at least --phone-outbox-bytes',
    validate: intRange(1, 64 * GiB),
  }),

  // Logging & metrics
  defineFlag({
    name: 'log-level',
    key: 'logLevel',
    topic: 'Logging & metrics',
    type: 'enum',
    default: 'info',
    values: LOG_LEVELS,
    help: 'least severe level logged',
    validate: (raw) => {
      const level = raw.toLowerCase();
      if (!isLogLevel(level)) throw new Rule(`must be one of ${LOG_LEVELS.join(', ')}`);
      return level;
    },
  }),
  defineFlag({
    name: 'metrics-listen',
    key: 'metricsListen',
    topic: 'Logging & metrics',
    type: 'listen-address',
    default: '127.0.0.1:9090',
    help: 'Prometheus listen address; a loopback IP literal with a port, e.g. 127.0.0.1:9090 or [::1]:9090; "" disables',
    validate: (raw) => {
      if (raw === '') return undefined;
      let addr: ListenAddress;
      try {
        addr = parseListenAddress(raw);
      } catch (e) {
        throw e instanceof Rule ? new Rule(`${e.message}; must be a loopback IP literal with a port`) : e;
      }
      // Metrics are unauthenticated: never expose them beyond the host.
      if (addr.host === undefined || !isLoopbackLiteral(addr.host)) {
        throw new Rule('must be a loopback IP literal with a port, e.g. 127.0.0.1:9090 or [::1]:9090 ("" disables)');
      }
      return addr;
    },
  }),

  // Push
  defineFlag({
    name: 'fcm-project',
    key: 'fcmProject',
    topic: 'Push',
    type: 'string',
    default: 'pyrycode-mobile',
    help: 'Firebase project id for push wake',
    validate: (s) => {
      // It becomes a URL path segment; Google project ids are lowercase letters, digits
      // and hyphens (legacy ones may carry a "domain:" prefix).
      if (!/^([a-z0-9][a-z0-9.-]*:)?[a-z][a-z0-9-]{0,98}[a-z0-9]$/.test(s)) {
        throw new Rule('must be a Google Cloud project id (lowercase letters, digits, hyphens)');
      }
      return s;
    },
  }),

  // Cluster (cluster.md §1): validated in both modes, used only with PYRYCODE_RELAY_REDIS_URL.
  defineFlag({
    name: 'cluster-prefix',
    key: 'clusterPrefix',
    topic: 'Cluster',
    type: 'string',
    default: 'pyrycode-relay',
    help: 'prefix of every Redis key and channel, so several relays can share one Redis (1-64 of A-Z a-z 0-9 . _ : -)',
    validate: (s) => {
      if (!CLUSTER_PREFIX.test(s)) throw new Rule('must be 1-64 characters of A-Z a-z 0-9 . _ : -');
      return s;
    },
  }),
  defineFlag({
    name: 'node-id',
    key: 'nodeId',
    topic: 'Cluster',
    type: 'string',
    default: undefined,
    help: "this node's name in logs and /healthz (1-64 of A-Z a-z 0-9 . _ -); defaults to $FLY_MACHINE_ID when set, else <hostname>-<6 random hex>",
    validate: (s) => {
      if (!NODE_ID.test(s)) throw new Rule(NODE_ID_RULE);
      return s;
    },
  }),
  defineFlag({
    name: 'cluster-node-ttl',
    key: 'clusterNodeTtlMs',
    topic: 'Cluster',
    type: 'duration',
    default: '30s',
    help: 'a node whose heartbeat is older than this is dead; must outlast a Redis restart or failover (3s to 10m)',
    validate: (ms) => {
      if (ms < MIN_NODE_TTL_MS || ms > MAX_NODE_TTL_MS) throw new Rule('must be from 3s to 10m');
      return ms;
    },
  }),
] as const;

/** Holds only if every config field has a row: a missing one is a compile error here. */
type Unfilled = Exclude<FlagKey, (typeof CONFIG_FLAGS)[number]['key']>;
const everyFieldHasARow: [Unfilled] extends [never] ? true : Unfilled = true;
void everyFieldHasARow;

/** Config-filling rows in table order. */
export const CONFIG_ROWS: ReadonlyArray<(typeof CONFIG_FLAGS)[number]> = CONFIG_FLAGS;

/** Every flag, in --help order. */
export const FLAGS: readonly FlagDef[] = [VERSION_FLAG, ...CONFIG_FLAGS];
