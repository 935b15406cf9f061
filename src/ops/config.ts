// Command line (operations.md §1): one declarative table of every flag, and a parser built
// from it that mirrors Go's flag package (so the Go relay's unit files keep working) and
// then validates the result into a RelayConfig. Pure: argv and homedir in, config out.
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { parseGoDuration } from './duration.js';

export interface ListenAddress {
  /** undefined = all interfaces, as Go's ":8080". IPv6 without brackets. */
  host: string | undefined;
  port: number;
  /** As given on the command line. */
  text: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RelayConfig {
  domain: string | undefined;
  insecureListen: ListenAddress | undefined;
  httpsListen: ListenAddress;
  httpListen: ListenAddress;
  certCache: string;
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
  /** Flag names (without dashes) that appeared on the command line at all. */
  given: ReadonlySet<string>;
}

export type ParseOutcome =
  | { kind: 'run'; config: RelayConfig }
  | { kind: 'version' }
  | { kind: 'help' }
  | { kind: 'probe'; args: string[] };

/** Bad command line: the caller prints usage on stderr and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The offending flag, without dashes, when there is one. */
  readonly flag: string | undefined;
  constructor(message: string, flag?: string) {
    super(message);
    this.flag = flag;
  }
}

export type Topic =
  | 'General'
  | 'Listeners'
  | 'TLS/ACME'
  | 'Admission'
  | 'Timing'
  | 'Limits'
  | 'Logging & metrics'
  | 'Push';

export const TOPICS: readonly Topic[] = [
  'General',
  'Listeners',
  'TLS/ACME',
  'Admission',
  'Timing',
  'Limits',
  'Logging & metrics',
  'Push',
];

export type FlagType = 'string' | 'bool' | 'duration' | 'int' | 'listen-address' | 'enum';

/** Typed value after the syntax step: bool → boolean, int → bigint, duration → ms, else text. */
type Raw = boolean | bigint | number | string;

interface Ctx {
  homedir: string;
}

/** A rule violation raised by a validator; wrapped into a UsageError naming the flag. */
class Rule extends Error {}

export interface FlagDef {
  /** Without dashes. */
  readonly name: string;
  /** Config field it fills; undefined for --version, which is an outcome, not config. */
  readonly key: Exclude<keyof RelayConfig, 'given'> | undefined;
  readonly topic: Topic;
  readonly type: FlagType;
  /** Default as it would be typed on the command line; undefined = no default. */
  readonly default: string | undefined;
  readonly help: string;
  /** Allowed values, for enums. */
  readonly values?: readonly string[];
  /** Range and shape checks after syntax; returns the config value or throws Rule. */
  readonly validate: (raw: Raw, ctx: Ctx) => unknown;
}

// ---------------------------------------------------------------------------------------
// Value syntax (the part Go's flag package checks while parsing)

const GO_BOOL: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((s) => [s, true] as const),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((s) => [s, false] as const),
]);

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  return GO_BOOL.get(s);
}

// Go's strconv.underscoreOK: underscores only between digits (a base prefix counts as one).
function underscoreOK(s: string): boolean {
  let saw = '^';
  let i = 0;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === '0' && 'bBoOxX'.includes(s[1] ?? '')) {
    i = 2;
    saw = '0';
    hex = s[1] === 'x' || s[1] === 'X';
  }
  for (; i < s.length; i++) {
    const c = s[i] ?? '';
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

/**
 * Go's strconv.ParseInt(s, 0, 64), which flag.Int uses: optional sign, then decimal,
 * 0x/0o/0b prefixes, a leading 0 meaning octal, and '_' separators.
 */
export function parseGoInt(s: string): bigint | undefined {
  let neg = false;
  let body = s;
  if (body.startsWith('-') || body.startsWith('+')) {
    neg = body[0] === '-';
    body = body.slice(1);
  }
  if (body === '') return undefined;
  let base = 10n;
  let digits = body;
  if (body[0] === '0') {
    const p = body[1]?.toLowerCase();
    if (body.length >= 3 && (p === 'b' || p === 'o' || p === 'x')) {
      base = p === 'b' ? 2n : p === 'o' ? 8n : 16n;
      digits = body.slice(2);
    } else {
      base = 8n;
      digits = body.slice(1);
    }
  }
  let n = 0n;
  let underscores = false;
  for (const c of digits) {
    if (c === '_') {
      underscores = true;
      continue;
    }
    const d = parseInt(c, 36);
    if (Number.isNaN(d) || BigInt(d) >= base) return undefined;
    n = n * base + BigInt(d);
  }
  if (underscores && !underscoreOK(body)) return undefined;
  const v = neg ? -n : n;
  if (v > (1n << 63n) - 1n || v < -(1n << 63n)) return undefined;
  return v;
}

function syntax(def: FlagDef, text: string): Raw {
  switch (def.type) {
    case 'bool': {
      const b = parseGoBool(text);
      if (b === undefined) throw new Rule('must be a boolean (true, false, 1, 0, t, f)');
      return b;
    }
    case 'int': {
      const n = parseGoInt(text);
      if (n === undefined) throw new Rule('must be an integer');
      return n;
    }
    case 'duration': {
      const ms = parseGoDuration(text);
      if (ms === undefined) throw new Rule('must be a duration such as 500ms, 30s or 1m30s');
      return ms;
    }
    default:
      return text;
  }
}

// ---------------------------------------------------------------------------------------
// Addresses

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function isHostname(s: string): boolean {
  // Dotted all-digit names are malformed IPv4 literals, not names to resolve.
  return HOSTNAME.test(s) && !/^[\d.]+$/.test(s);
}

/** host:port, :port or [v6]:port with a decimal port 1–65535 (Go's net.SplitHostPort shapes). */
export function parseListenAddress(text: string): ListenAddress {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw new Rule("missing ']' in address");
    host = text.slice(1, end);
    if (text[end + 1] !== ':') throw new Rule('must be host:port, :port or [ipv6]:port');
    portText = text.slice(end + 2);
    if (!isIPv6(host)) throw new Rule('brackets must hold an IPv6 address');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new Rule('missing port; must be host:port, :port or [ipv6]:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw new Rule('an IPv6 host must be written in brackets, e.g. [::1]:8080');
    if (host !== '' && !IPV4.test(host) && !isHostname(host)) throw new Rule('host must be an IP address or a host name');
  }
  if (!/^\d{1,5}$/.test(portText)) throw new Rule('port must be a decimal number 1-65535');
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Rule('port must be 1-65535');
  return { host: host === '' ? undefined : host, port, text };
}

/** 127.0.0.0/8, ::1, or IPv4-mapped 127/8 (Go's net.IP.IsLoopback on an IP literal). */
export function isLoopbackLiteral(host: string): boolean {
  if (IPV4.test(host)) return host.startsWith('127.');
  if (!isIPv6(host) || host.includes('%')) return false;
  let canonical: string;
  try {
    canonical = new URL(`http://[${host}]/`).hostname; // WHATWG serialises IPv6 canonically
  } catch {
    return false;
  }
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

// ---------------------------------------------------------------------------------------
// The table

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
// Node timers overflow past 2^31-1 ms (~24.8 days) and fire at once, so cap well below.
const MAX_DURATION_MS = 24 * 60 * 60 * 1000;

type Key = Exclude<keyof RelayConfig, 'given'>;
type Base = { name: string; key: Key; topic: Topic; help: string };

function intFlag(o: Base & { default: number; min: number; max: number }): FlagDef {
  return {
    ...o,
    type: 'int',
    default: String(o.default),
    validate: (raw) => {
      const n = raw as bigint;
      if (n < BigInt(o.min) || n > BigInt(o.max)) throw new Rule(`must be an integer from ${o.min} to ${o.max}`);
      return Number(n);
    },
  };
}

function durationFlag(o: Base & { default: string; allowZero?: boolean }): FlagDef {
  return {
    name: o.name,
    key: o.key,
    topic: o.topic,
    help: o.help,
    type: 'duration',
    default: o.default,
    validate: (raw) => {
      const ms = raw as number;
      if (o.allowZero ? ms < 0 : ms <= 0) throw new Rule(o.allowZero ? 'must not be negative' : 'must be positive');
      if (ms > MAX_DURATION_MS) throw new Rule('must be at most 24h');
      return ms;
    },
  };
}

function boolFlag(o: Base): FlagDef {
  return { ...o, type: 'bool', default: 'false', validate: (raw) => raw };
}

function listenFlag(o: Base & { default: string | undefined; check?: (a: ListenAddress) => void }): FlagDef {
  return {
    name: o.name,
    key: o.key,
    topic: o.topic,
    help: o.help,
    type: 'listen-address',
    default: o.default,
    validate: (raw) => {
      const addr = parseListenAddress(raw as string);
      o.check?.(addr);
      return addr;
    },
  };
}

function stringFlag(o: Base & { default: string | undefined; check: (s: string, ctx: Ctx) => string }): FlagDef {
  return { ...o, type: 'string', validate: (raw, ctx) => o.check(raw as string, ctx) };
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export const FLAGS: readonly FlagDef[] = [
  {
    name: 'version',
    key: undefined,
    topic: 'General',
    type: 'bool',
    default: 'false',
    help: 'print the version and exit',
    validate: (raw) => raw,
  },

  // Listeners
  listenFlag({
    name: 'insecure-listen',
    key: 'insecureListen',
    topic: 'Listeners',
    default: undefined,
    help: 'plain HTTP/WS listen address (e.g. :8080 or 127.0.0.1:8080), for running behind a TLS-terminating proxy; excludes --domain, --https-listen, --http-listen and --https-proxy-protocol',
  }),
  listenFlag({
    name: 'https-listen',
    key: 'httpsListen',
    topic: 'Listeners',
    default: ':443',
    help: 'TLS listen address (ACME mode)',
  }),
  listenFlag({
    name: 'http-listen',
    key: 'httpListen',
    topic: 'Listeners',
    default: ':80',
    help: 'ACME HTTP-01 challenge listen address (ACME mode)',
  }),

  // TLS/ACME
  stringFlag({
    name: 'domain',
    key: 'domain',
    topic: 'TLS/ACME',
    default: undefined,
    help: 'public domain name; turns on TLS with certificates from ACME',
    check: (s) => {
      if (!isHostname(s) && !IPV4.test(s)) throw new Rule('must be a domain name such as relay.example.com');
      return s.toLowerCase(); // Host matching is case-insensitive; keep one spelling
    },
  }),
  stringFlag({
    name: 'cert-cache',
    key: 'certCache',
    topic: 'TLS/ACME',
    default: '~/.pyrycode-relay/certs',
    help: 'certificate cache directory; a leading ~/ means the home directory',
    check: (s, ctx) => {
      if (s === '') throw new Rule('must not be empty');
      // Without a home directory "~" stays literal; ACME mode rejects it later, and
      // insecure mode never touches the cache.
      if (ctx.homedir === '') return s;
      if (s === '~') return ctx.homedir;
      if (s.startsWith('~/')) return join(ctx.homedir, s.slice(2));
      return s;
    },
  }),
  stringFlag({
    name: 'acme-directory',
    key: 'acmeDirectory',
    topic: 'TLS/ACME',
    default: 'https://acme-v02.api.letsencrypt.org/directory',
    help: 'ACME directory URL (https://, or http:// to a loopback address for test CAs)',
    check: (s) => {
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

  // Admission
  boolFlag({
    name: 'trust-x-forwarded-for',
    key: 'trustXForwardedFor',
    topic: 'Admission',
    help: 'take the client IP from the left-most X-Forwarded-For entry',
  }),
  boolFlag({
    name: 'https-proxy-protocol',
    key: 'httpsProxyProtocol',
    topic: 'Admission',
    help: 'require a PROXY protocol v2 header on every TLS connection (ACME mode)',
  }),
  intFlag({
    name: 'max-connections',
    key: 'maxConnections',
    topic: 'Admission',
    default: 10000,
    min: 1,
    max: 1_000_000,
    help: 'relay-wide cap on live WebSocket connections',
  }),
  intFlag({
    name: 'max-connections-per-ip',
    key: 'maxConnectionsPerIp',
    topic: 'Admission',
    default: 100,
    min: 0,
    max: 1_000_000,
    help: 'cap on live WebSocket connections per client IP (0 = off)',
  }),
  intFlag({
    name: 'rate-limit-burst',
    key: 'rateLimitBurst',
    topic: 'Admission',
    default: 20,
    min: 1,
    max: 1_000_000,
    help: 'per-IP token bucket size for /v1/server and /v1/client requests',
  }),
  durationFlag({
    name: 'rate-limit-refill',
    key: 'rateLimitRefillMs',
    topic: 'Admission',
    default: '6s',
    help: 'time to refill one rate-limit token',
  }),

  // Timing
  durationFlag({
    name: 'grace-period',
    key: 'gracePeriodMs',
    topic: 'Timing',
    default: '30s',
    help: "how long a disconnected binary's server-id stays reserved",
  }),
  durationFlag({
    name: 'heartbeat-interval',
    key: 'heartbeatIntervalMs',
    topic: 'Timing',
    default: '30s',
    help: 'how often every connection is pinged',
  }),
  durationFlag({
    name: 'heartbeat-timeout',
    key: 'heartbeatTimeoutMs',
    topic: 'Timing',
    default: '30s',
    help: 'how long to wait for a pong before closing with 1011',
  }),
  durationFlag({
    name: 'conflict-probe-timeout',
    key: 'conflictProbeTimeoutMs',
    topic: 'Timing',
    default: '10s',
    help: 'how long an incumbent binary has to answer the conflict probe',
  }),
  durationFlag({
    name: 'write-timeout',
    key: 'writeTimeoutMs',
    topic: 'Timing',
    default: '10s',
    help: 'a write making no progress for this long closes the connection',
  }),
  durationFlag({
    name: 'read-message-timeout',
    key: 'readMessageTimeoutMs',
    topic: 'Timing',
    default: '30s',
    help: 'time for a whole inbound message once its first frame has arrived',
  }),
  durationFlag({
    name: 'header-timeout',
    key: 'headerTimeoutMs',
    topic: 'Timing',
    default: '5s',
    help: 'time for the HTTP request headers to arrive',
  }),
  durationFlag({
    name: 'drain-timeout',
    key: 'drainTimeoutMs',
    topic: 'Timing',
    default: '10s',
    help: 'how long shutdown waits for close handshakes',
  }),
  durationFlag({
    name: 'drain-spread',
    key: 'drainSpreadMs',
    topic: 'Timing',
    default: '0s',
    allowZero: true,
    help: 'spread the shutdown closes over this window (0s = all at once); must be shorter than --drain-timeout',
  }),

  // Limits
  intFlag({
    name: 'max-phones-per-server',
    key: 'maxPhonesPerServer',
    topic: 'Limits',
    default: 16,
    min: 1,
    max: 100_000,
    help: 'phones per server-id before new ones are closed with 4429',
  }),
  intFlag({
    name: 'max-message-bytes',
    key: 'maxMessageBytes',
    topic: 'Limits',
    default: 262144,
    min: 1,
    max: 64 * MiB,
    help: 'largest inbound WebSocket message (larger closes with 1009)',
  }),
  intFlag({
    name: 'phone-outbox-bytes',
    key: 'phoneOutboxBytes',
    topic: 'Limits',
    default: 4194304,
    min: 1,
    max: GiB,
    help: "bytes queued for one phone before it is closed with 1011 'phone backlog full'",
  }),
  intFlag({
    name: 'max-buffered-bytes',
    key: 'maxBufferedBytes',
    topic: 'Limits',
    default: 268435456,
    min: 1,
    max: 64 * GiB,
    help: 'relay-wide budget for queued bytes; must be at least --phone-outbox-bytes',
  }),

  // Logging & metrics
  {
    name: 'log-level',
    key: 'logLevel',
    topic: 'Logging & metrics',
    type: 'enum',
    default: 'info',
    values: LOG_LEVELS,
    help: 'least severe level logged',
    validate: (raw) => {
      const level = (raw as string).toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Rule(`must be one of ${LOG_LEVELS.join(', ')}`);
      return level;
    },
  },
  {
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
        addr = parseListenAddress(raw as string);
      } catch (e) {
        throw e instanceof Rule ? new Rule(`${e.message}; must be a loopback IP literal with a port`) : e;
      }
      // Metrics are unauthenticated: never expose them beyond the host.
      if (addr.host === undefined || !isLoopbackLiteral(addr.host)) {
        throw new Rule('must be a loopback IP literal with a port, e.g. 127.0.0.1:9090 or [::1]:9090 ("" disables)');
      }
      return addr;
    },
  },

  // Push
  stringFlag({
    name: 'fcm-project',
    key: 'fcmProject',
    topic: 'Push',
    default: 'pyrycode-mobile',
    help: 'Firebase project id for push wake',
    check: (s) => {
      // It becomes a URL path segment; Google project ids are lowercase letters, digits
      // and hyphens (legacy ones may carry a "domain:" prefix).
      if (!/^([a-z0-9][a-z0-9.-]*:)?[a-z][a-z0-9-]{0,98}[a-z0-9]$/.test(s)) {
        throw new Rule('must be a Google Cloud project id (lowercase letters, digits, hyphens)');
      }
      return s;
    },
  }),
];

const BY_NAME: ReadonlyMap<string, FlagDef> = new Map(FLAGS.map((d) => [d.name, d]));

// ---------------------------------------------------------------------------------------
// Parsing

const MAX_ECHO = 64;

/** Quote a user-supplied string for a message, cut to ~64 characters. */
function echo(s: string): string {
  return JSON.stringify(s.length > MAX_ECHO ? s.slice(0, MAX_ECHO) + '…' : s);
}

function invalid(def: FlagDef, text: string, rule: string): UsageError {
  return new UsageError(`invalid value ${echo(text)} for flag --${def.name}: ${rule}`, def.name);
}

function build(texts: ReadonlyMap<string, string>, given: ReadonlySet<string>, ctx: Ctx, raws: Map<string, Raw>): RelayConfig {
  const out: Record<string, unknown> = { given };
  for (const def of FLAGS) {
    if (def.key === undefined) continue;
    const text = texts.get(def.name) ?? def.default;
    if (text === undefined) {
      out[def.key] = undefined;
      continue;
    }
    try {
      const raw = raws.get(def.name) ?? syntax(def, text);
      out[def.key] = def.validate(raw, ctx);
    } catch (e) {
      if (e instanceof Rule) throw invalid(def, text, e.message);
      throw e;
    }
  }
  return out as unknown as RelayConfig;
}

/** Every default; domain and insecureListen unset, nothing given. */
export function defaultConfig(homedir: string): RelayConfig {
  return build(new Map(), new Set(), { homedir }, new Map());
}

/**
 * Parse argv (without node and script) the way Go's flag package would, then validate.
 * Throws UsageError for anything that should print usage and exit 2.
 */
export function parseCommandLine(argv: readonly string[], env: { homedir: string }): ParseOutcome {
  if (argv[0] === 'probe') return { kind: 'probe', args: argv.slice(1) };

  const texts = new Map<string, string>(); // last occurrence wins, as in Go
  const raws = new Map<string, Raw>();
  const given = new Set<string>();
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    if (arg.length < 2 || arg[0] !== '-') {
      throw new UsageError(`unexpected argument ${echo(arg)}`);
    }
    i++;
    let name = arg.slice(arg[1] === '-' ? 2 : 1);
    if (arg === '--') break; // end of flags
    if (name === '' || name[0] === '-' || name[0] === '=') throw new UsageError(`bad flag syntax: ${echo(arg)}`);

    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const def = BY_NAME.get(name);
    if (def === undefined) {
      // Go answers -h/-help with usage (exit 0) unless the program defines them.
      if (name === 'h' || name === 'help') return { kind: 'help' };
      const shown = echo(name).slice(1, -1);
      throw new UsageError(`flag provided but not defined: --${shown}`, name.length > MAX_ECHO ? shown : name);
    }
    if (def.type !== 'bool' && value === undefined) {
      // Like Go, the next argument is the value whatever it looks like.
      if (i >= argv.length) throw new UsageError(`flag needs an argument: --${name}`, name);
      value = argv[i++] as string;
    }
    const text = value ?? 'true'; // a bare bool flag never consumes the next argument
    try {
      raws.set(name, syntax(def, text));
    } catch (e) {
      if (e instanceof Rule) throw invalid(def, text, e.message);
      throw e;
    }
    texts.set(name, text);
    given.add(name);
  }
  if (i < argv.length) throw new UsageError(`unexpected argument ${echo(argv[i] as string)}`);

  // Go's relay checks -version right after flag.Parse, before any validation.
  if (raws.get('version') === true) return { kind: 'version' };

  const config = build(texts, given, env, raws);

  if (config.domain === undefined && config.insecureListen === undefined) {
    throw new UsageError('exactly one of --domain or --insecure-listen is required', 'domain');
  }
  if (config.domain !== undefined && config.insecureListen !== undefined) {
    throw new UsageError('--domain and --insecure-listen are mutually exclusive; give exactly one', 'insecure-listen');
  }
  if (config.insecureListen !== undefined) {
    for (const acmeOnly of ['https-listen', 'http-listen', 'https-proxy-protocol']) {
      if (given.has(acmeOnly)) {
        throw new UsageError(`--${acmeOnly} cannot be combined with --insecure-listen (it only applies with --domain)`, acmeOnly);
      }
    }
  }
  if (config.domain !== undefined && env.homedir === '' && (config.certCache === '~' || config.certCache.startsWith('~/'))) {
    throw new UsageError('--cert-cache: cannot expand ~ without a home directory; give an absolute path', 'cert-cache');
  }
  if (config.drainSpreadMs >= config.drainTimeoutMs) {
    throw new UsageError('--drain-spread must be shorter than --drain-timeout', given.has('drain-spread') ? 'drain-spread' : 'drain-timeout');
  }
  if (config.maxBufferedBytes < config.phoneOutboxBytes) {
    throw new UsageError(
      '--max-buffered-bytes must be at least --phone-outbox-bytes',
      given.has('max-buffered-bytes') ? 'max-buffered-bytes' : 'phone-outbox-bytes',
    );
  }
  return { kind: 'run', config };
}
