// Boot safety checks (operations.md §3, steps 2–7), as pure functions over the
// facts they need (config, environment, uid, /proc/self/status text, Node's
// exec arguments, inspector URL), so each is unit-testable and the CLI only
// gathers facts and logs the verdict. Each refusal is one log line naming what
// to fix; the CLI turns it into exit 2. Step 1 (flags) is config.ts; step 8
// (ACME cache) belongs to the TLS code. Step 2 also settles cluster mode, which
// needs both the flags and the environment (cluster.md §1).
import { resolveCluster, type ClusterConfig, type ListenAddress, type RelayConfig } from './config.js';
import { ENV_FLY_APP_NAME, ENV_PRODUCTION, ENV_REDIS_URL, ENV_SINGLE_INSTANCE, readEnvironment, type RelayEnvironment } from './env.js';
import type { EventReason, LogEvent } from './log-events.js';
import type { LogFields } from './log-keys.js';

/** One log line: the CLI writes it with `event` as the event name (free-text reasons only). */
export interface BootLine {
  event: Exclude<LogEvent, keyof EventReason>;
  fields: LogFields;
}

export interface BootFacts {
  env: Readonly<Record<string, string | undefined>>;
  platform: NodeJS.Platform;
  /** Effective uid; undefined where the platform has none. */
  euid: number | undefined;
  /** Contents of /proc/self/status, or undefined when it could not be read. */
  procSelfStatus: string | undefined;
  execArgv: readonly string[];
  /** inspector.url(): defined when an inspector is listening. */
  inspectorUrl: string | undefined;
  /** os.hostname(), for the default --node-id. */
  hostname: string;
  /** 6 random hex digits drawn for this start, for the default --node-id. */
  randomHex: string;
}

export type BootVerdict =
  | { ok: true; environment: RelayEnvironment; cluster: ClusterConfig | undefined; warnings: BootLine[] }
  | { ok: false; refusal: BootLine; warnings: BootLine[] };

const refused = (fields: LogFields): BootLine => ({ event: 'boot_refused', fields });

// ---------------------------------------------------------------------------------------
// Step 3: single instance

export function checkSingleInstance(environment: RelayEnvironment): BootLine | undefined {
  if (environment.flyAppName === undefined || environment.singleInstanceBypass) return undefined;
  // Cluster mode is the supported way to run several instances.
  if (environment.redis !== undefined) return undefined;
  return refused({
    env_var: ENV_FLY_APP_NAME,
    reason:
      `multi-instance deploy detected (${ENV_FLY_APP_NAME} is set): the in-memory registry breaks when phones and ` +
      `their binary land on different replicas; run exactly one instance and set ${ENV_SINGLE_INSTANCE}=1 to confirm, ` +
      `or set ${ENV_REDIS_URL} to run them as one cluster`,
  });
}

// ---------------------------------------------------------------------------------------
// Steps 4–5: production mode

export function checkProductionListen(environment: RelayEnvironment, config: RelayConfig): BootLine | undefined {
  if (!environment.production || config.insecureListen === undefined) return undefined;
  return refused({
    flag: 'insecure-listen',
    env_var: ENV_PRODUCTION,
    reason: `--insecure-listen is refused in production mode; use --domain or --tls-cert/--tls-key, or unset ${ENV_PRODUCTION}`,
  });
}

export function checkProductionUid(environment: RelayEnvironment, euid: number | undefined): BootLine | undefined {
  if (!environment.production || euid !== 0) return undefined;
  return refused({
    env_var: ENV_PRODUCTION,
    reason: 'running as root (effective uid 0) is refused in production mode; run as an unprivileged user',
  });
}

// ---------------------------------------------------------------------------------------
// Step 6: Linux capabilities

/** Capability names by bit (linux/capability.h). */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

export const CAP_NET_BIND_SERVICE_BIT = 10;

/**
 * The effective capabilities other than CAP_NET_BIND_SERVICE, by name, from the
 * text of /proc/self/status; undefined when there is no readable CapEff line.
 */
export function unexpectedCapabilities(procSelfStatus: string): string[] | undefined {
  const m = /^CapEff:\s*([0-9a-fA-F]{1,16})\s*$/m.exec(procSelfStatus);
  if (m === null) return undefined;
  const mask = BigInt(`0x${m[1] as string}`);
  const out: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if (bit === CAP_NET_BIND_SERVICE_BIT || ((mask >> BigInt(bit)) & 1n) === 0n) continue;
    out.push(CAPABILITY_NAMES[bit] ?? `CAP_${bit}`);
  }
  return out;
}

export function checkCapabilities(
  environment: RelayEnvironment,
  platform: NodeJS.Platform,
  procSelfStatus: string | undefined,
): { refusal?: BootLine; warning?: BootLine } {
  if (platform !== 'linux') return {};
  const caps = procSelfStatus === undefined ? undefined : unexpectedCapabilities(procSelfStatus);
  if (caps === undefined) {
    const reason = 'cannot read CapEff from /proc/self/status, so the capability allowlist cannot be verified';
    return environment.production
      ? { refusal: refused({ env_var: ENV_PRODUCTION, reason: `${reason}; mount /proc or unset ${ENV_PRODUCTION}` }) }
      : { warning: { event: 'capabilities_unverified', fields: { reason } } };
  }
  if (caps.length === 0) return {};
  const capabilities = caps.join(',');
  if (environment.production) {
    return {
      refusal: refused({
        env_var: ENV_PRODUCTION,
        capabilities,
        reason:
          'unexpected effective capabilities (only CAP_NET_BIND_SERVICE is allowed in production mode); ' +
          'drop them, e.g. run as an unprivileged user or with --cap-drop=ALL --cap-add=NET_BIND_SERVICE',
      }),
    };
  }
  return {
    warning: {
      event: 'unexpected_capabilities',
      fields: {
        capabilities,
        reason: `only CAP_NET_BIND_SERVICE is expected; production mode (${ENV_PRODUCTION}=1) refuses to start with these`,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------
// Step 7: listeners and the inspector

export interface PlannedListener {
  flag: string;
  addr: ListenAddress;
}

/** Every port this configuration will listen on: exactly the flags', plus metrics. */
export function plannedListeners(config: RelayConfig): PlannedListener[] {
  const out: PlannedListener[] = [];
  if (config.insecureListen !== undefined) out.push({ flag: 'insecure-listen', addr: config.insecureListen });
  else {
    out.push({ flag: 'https-listen', addr: config.httpsListen });
    out.push({ flag: 'http-listen', addr: config.httpListen });
  }
  if (config.metricsListen !== undefined) out.push({ flag: 'metrics-listen', addr: config.metricsListen });
  return out;
}

function overlaps(a: ListenAddress, b: ListenAddress): boolean {
  return a.port === b.port && (a.host === undefined || b.host === undefined || a.host === b.host);
}

/** Two listeners on one port would fail at bind time with a vaguer message: refuse up front. */
export function checkListenerPorts(config: RelayConfig): BootLine | undefined {
  const planned = plannedListeners(config);
  for (let i = 0; i < planned.length; i++) {
    for (let j = i + 1; j < planned.length; j++) {
      const a = planned[i] as PlannedListener;
      const b = planned[j] as PlannedListener;
      if (overlaps(a.addr, b.addr)) {
        return refused({
          flag: b.flag,
          addr: b.addr.text,
          reason: `--${b.flag} uses the same port as --${a.flag}; give each listener its own port`,
        });
      }
    }
  }
  return undefined;
}

const INSPECT_FLAG = /^--(inspect|inspect-brk|inspect-wait|inspect-port|debug-port)(=.*)?$/;

/** Inspector flags in Node's own arguments or NODE_OPTIONS. */
export function inspectorFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const words = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return words.filter((w) => INSPECT_FLAG.test(w)).map((w) => w.split('=')[0] as string);
}

export function checkInspector(environment: RelayEnvironment, facts: BootFacts): { refusal?: BootLine; warning?: BootLine } {
  const flags = inspectorFlags(facts.execArgv, facts.env.NODE_OPTIONS);
  if (flags.length === 0 && facts.inspectorUrl === undefined) return {};
  const what = flags.length > 0 ? [...new Set(flags)].join(',') : 'an active inspector';
  if (environment.production) {
    return {
      refusal: refused({
        env_var: ENV_PRODUCTION,
        reason: `a debug inspector is enabled (${what}); remove it from the node arguments and NODE_OPTIONS`,
      }),
    };
  }
  return { warning: { event: 'inspector_enabled', fields: { reason: `a debug inspector is enabled (${what})` } } };
}

// ---------------------------------------------------------------------------------------

/** Steps 2–7 in order; the first refusal wins. */
export function runBootChecks(config: RelayConfig, facts: BootFacts): BootVerdict {
  const warnings: BootLine[] = [];
  const env = readEnvironment(facts.env);
  if (!env.ok) {
    return {
      ok: false,
      refusal: refused({ env_var: env.refusal.envVar, reason: `${env.refusal.envVar} ${env.refusal.reason}` }),
      warnings,
    };
  }
  const environment = env.value;
  const resolved = resolveCluster(config, environment, facts);
  if (!resolved.ok) {
    const { envVar, reason } = resolved.refusal;
    return { ok: false, refusal: refused({ env_var: envVar, reason: `${envVar} ${reason}` }), warnings };
  }
  const simple = [
    checkSingleInstance(environment),
    checkProductionListen(environment, config),
    checkProductionUid(environment, facts.euid),
  ];
  for (const line of simple) if (line !== undefined) return { ok: false, refusal: line, warnings };
  const steps: Array<() => { refusal?: BootLine; warning?: BootLine }> = [
    () => checkCapabilities(environment, facts.platform, facts.procSelfStatus),
    () => {
      const refusal = checkListenerPorts(config);
      return refusal === undefined ? {} : { refusal };
    },
    () => checkInspector(environment, facts),
  ];
  for (const step of steps) {
    const r = step();
    if (r.warning !== undefined) warnings.push(r.warning);
    if (r.refusal !== undefined) return { ok: false, refusal: r.refusal, warnings };
  }
  return { ok: true, environment, cluster: resolved.cluster, warnings };
}
