// The status snapshot behind GET /status and /status.json on the metrics
// listener: what the relay is doing now, for a person rather than Prometheus.
// It reads the same private registry a scrape reads, at request time and on
// one coarse timer (a fixed ring of samples gives rates, five-minute windows
// and sparklines), so nothing is added to the frame path and memory stays
// constant however long a page stays open. It never holds a server-id,
// conn_id, IP or token: the registry has none to give.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { AdmissionRejectReason, Endpoint, PushOutcome, RelayMetrics, UpgradeOutcome } from './metrics.js';

/** A cluster node as the status page shows it; supplied by cluster mode (absent on a single relay). */
export interface LiveNode {
  /** The node's --node-id (an operator-chosen name, never a server-id). */
  readonly id: string;
  /** True for the node serving this page. */
  readonly self: boolean;
  readonly binaries?: number;
  readonly phones?: number;
  /** Seconds since the node's last heartbeat. */
  readonly lastSeenSeconds?: number;
}

export interface StatusSources {
  readonly version: string;
  /** Epoch milliseconds of the start, for uptime. */
  readonly startedAt: number;
  /** Cluster mode: the live nodes, read when a page or the JSON is requested. */
  readonly liveNodes?: () => readonly LiveNode[] | Promise<readonly LiveNode[]>;
}

export const DIRECTIONS = ['phone_to_binary', 'binary_to_phone'] as const;
type Direction = (typeof DIRECTIONS)[number];
export const ENDPOINTS: readonly Endpoint[] = ['server', 'client'];
export const UPGRADE_OUTCOMES: readonly UpgradeOutcome[] = [
  'accept',
  'reject_headers',
  'reject_404',
  'reject_409',
  'reject_429',
  'reject_rate_limit',
];
export const ADMISSION_REASONS: readonly AdmissionRejectReason[] = ['rate_limit', 'conn_cap', 'ip_conn_cap'];
const PUSH_OUTCOMES: readonly PushOutcome[] = ['sent', 'unregistered', 'send_failed', 'token_fetch_failed', 'dropped'];

/** Closes the relay counts, by the code the client sees (close-codes.ts), and the series that counts each. */
const CLOSES = [
  { code: 4404, reason: 'no server with that id', series: 'pyrycode_relay_register_failures_total', labels: { kind: 'no_server' } },
  { code: 4409, reason: 'server-id already claimed', series: 'pyrycode_relay_register_failures_total', labels: { kind: 'server_in_use' } },
  {
    code: 4429,
    reason: 'too many phones for server-id',
    series: 'pyrycode_relay_register_failures_total',
    labels: { kind: 'phones_at_cap' },
  },
  { code: 1011, reason: 'phone backlog full', series: 'pyrycode_relay_phone_backlog_closes_total', labels: {} },
] as const;

interface Windowed {
  /** Since the process started. */
  readonly total: number;
  /** Over the window (`window_seconds` of the snapshot). */
  readonly recent: number;
}

export interface StatusSnapshot {
  readonly version: string;
  readonly uptime_seconds: number;
  /** Epoch milliseconds the snapshot was taken. */
  readonly time: number;
  readonly connections: { readonly binaries: number; readonly phones: number; readonly open: number };
  /** Per second, over the last `rate_seconds` (0 until a second sample exists). */
  readonly rate_seconds: number;
  readonly frames: Record<Direction, { readonly per_second: number; readonly total: number }>;
  readonly bytes: Record<Direction, { readonly per_second: number; readonly total: number }>;
  /** The span the `recent` figures cover: five minutes, or the uptime when shorter. */
  readonly window_seconds: number;
  readonly upgrades: Record<Endpoint, Record<UpgradeOutcome, Windowed>>;
  readonly closes: ReadonlyArray<{ readonly code: number; readonly reason: string } & Windowed>;
  readonly admission_rejects: Record<AdmissionRejectReason, Windowed>;
  readonly grace_expiries: Windowed;
  readonly envelopes_dropped: Windowed;
  /** Present only when push wake is on. */
  readonly push?: Record<PushOutcome, Windowed>;
  readonly queued_bytes: number;
  readonly event_loop: { readonly p99_ms: number; readonly max_ms: number };
  readonly memory: { readonly rss_bytes: number; readonly heap_used_bytes: number };
  /** One point per sample interval, oldest first, for the sparklines. */
  readonly history: {
    readonly interval_seconds: number;
    readonly frames_per_second: Record<Direction, number[]>;
    readonly phones: number[];
    readonly binaries: number[];
  };
  /** Cluster mode only: the node list from StatusSources.liveNodes. */
  readonly nodes?: readonly LiveNode[];
  /** Cluster mode only: this node's view, from the cluster series when they are registered. */
  readonly cluster?: { readonly live_nodes: number; readonly fenced: boolean; readonly bus_ready: boolean | null };
}

/** Cluster mode's gauges (src/cluster), read when present in the registry. */
const CLUSTER_NODES = 'pyrycode_relay_cluster_nodes';
const CLUSTER_FENCED = 'pyrycode_relay_cluster_fenced';
const CLUSTER_BUS_READY = 'pyrycode_relay_cluster_bus_ready';

/** The counter cells a sample holds, in a fixed order (index = position in Sample.v). */
interface Cell {
  series: string;
  labels: Record<string, string>;
}

const CELLS: Cell[] = [];
function cell(series: string, labels: Record<string, string> = {}): number {
  CELLS.push({ series, labels });
  return CELLS.length - 1;
}
const FRAMES = {
  phone_to_binary: cell('pyrycode_relay_frames_forwarded_total', { direction: 'phone_to_binary' }),
  binary_to_phone: cell('pyrycode_relay_frames_forwarded_total', { direction: 'binary_to_phone' }),
};
const BYTES = {
  phone_to_binary: cell('pyrycode_relay_bytes_forwarded_total', { direction: 'phone_to_binary' }),
  binary_to_phone: cell('pyrycode_relay_bytes_forwarded_total', { direction: 'binary_to_phone' }),
};
const UPGRADES = Object.fromEntries(
  ENDPOINTS.map((e) => [
    e,
    Object.fromEntries(UPGRADE_OUTCOMES.map((o) => [o, cell('pyrycode_relay_ws_upgrade_attempts_total', { endpoint: e, outcome: o })])),
  ]),
) as Record<Endpoint, Record<UpgradeOutcome, number>>;
const CLOSE_CELLS = CLOSES.map((c) => cell(c.series, c.labels));
const ADMISSION = Object.fromEntries(
  ADMISSION_REASONS.map((r) => [r, cell('pyrycode_relay_admission_rejects_total', { reason: r })]),
) as Record<AdmissionRejectReason, number>;
const GRACE = cell('pyrycode_relay_grace_expiries_total');
const DROPPED = cell('pyrycode_relay_envelopes_dropped_total');
const PUSH = Object.fromEntries(PUSH_OUTCOMES.map((o) => [o, cell('pyrycode_relay_push_wakes_total', { outcome: o })])) as Record<
  PushOutcome,
  number
>;
const BINARIES = cell('pyrycode_relay_connected_binaries');
const PHONES = cell('pyrycode_relay_connected_phones');
const OPEN = cell('pyrycode_relay_open_connections');
const QUEUED = cell('pyrycode_relay_queued_bytes');

interface Sample {
  t: number;
  v: Float64Array;
}

export interface StatusOptions {
  /** How often the ring takes a sample (default 5 s). */
  intervalMs?: number;
  /** How long the `recent` window and the sparklines reach back (default 5 min). */
  windowMs?: number;
}

export class StatusTracker {
  private readonly ring: Sample[];
  /** Next slot to write; `count` slots are filled. */
  private head = 0;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly lag: IntervalHistogram;
  /** The event-loop lag of the last full sample interval, in ms. */
  private lagP99 = 0;
  private lagMax = 0;
  private readonly intervalMs: number;
  private readonly pushOn: boolean;

  constructor(
    private readonly metrics: RelayMetrics,
    private readonly sources: StatusSources,
    opts: StatusOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 5000;
    const slots = Math.ceil((opts.windowMs ?? 300_000) / this.intervalMs) + 1;
    this.ring = Array.from({ length: slots }, () => ({ t: 0, v: new Float64Array(CELLS.length) }));
    this.pushOn = metrics.registry.getSingleMetric('pyrycode_relay_push_wakes_total') !== undefined;
    // Our own histogram: prom-client's resets on every read, so reading it here would
    // take data away from Prometheus's next scrape.
    this.lag = monitorEventLoopDelay({ resolution: 20 });
  }

  /** Starts sampling (one unref'd timer); the first sample is taken now. */
  start(): void {
    if (this.timer !== undefined) return;
    this.lag.enable();
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.lag.disable();
  }

  /** Number of samples held: never more than the ring's fixed size. */
  get samples(): number {
    return this.count;
  }

  private async read(into: Float64Array): Promise<void> {
    const cache = new Map<string, Array<{ labels: Record<string, unknown>; value: number }>>();
    for (let i = 0; i < CELLS.length; i++) {
      const c = CELLS[i] as Cell;
      let values = cache.get(c.series);
      if (values === undefined) {
        const m = this.metrics.registry.getSingleMetric(c.series);
        values = m === undefined ? [] : (await m.get()).values;
        cache.set(c.series, values);
      }
      const want = Object.entries(c.labels);
      into[i] = values.find((x) => want.every(([k, v]) => x.labels[k] === v))?.value ?? 0;
    }
  }

  private async sample(): Promise<void> {
    const slot = this.ring[this.head] as Sample;
    await this.read(slot.v);
    slot.t = Date.now();
    this.head = (this.head + 1) % this.ring.length;
    this.count = Math.min(this.count + 1, this.ring.length);
    if (this.lag.count > 0) {
      this.lagP99 = this.lag.percentile(99) / 1e6;
      this.lagMax = this.lag.max / 1e6;
    }
    this.lag.reset();
  }

  /** The samples oldest first. */
  private ordered(): Sample[] {
    const out: Sample[] = [];
    for (let i = this.count; i > 0; i--) out.push(this.ring[(this.head - i + this.ring.length) % this.ring.length] as Sample);
    return out;
  }

  async snapshot(): Promise<StatusSnapshot> {
    const now = Date.now();
    const cur = new Float64Array(CELLS.length);
    await this.read(cur);
    const past = this.ordered();
    const oldest = past[0];
    // Rates over the newest sample at least one interval old, so a fresh sample
    // does not turn a few frames into a spike.
    let base: Sample | undefined;
    for (let i = past.length - 1; i >= 0; i--) {
      const s = past[i] as Sample;
      if (now - s.t >= this.intervalMs * 0.8) {
        base = s;
        break;
      }
    }
    const rateSeconds = base === undefined ? 0 : (now - base.t) / 1000;
    const perSecond = (i: number): number =>
      base === undefined || rateSeconds <= 0 ? 0 : Math.max(0, (cur[i] ?? 0) - (base.v[i] ?? 0)) / rateSeconds;
    const windowed = (i: number): Windowed => ({ total: cur[i] ?? 0, recent: Math.max(0, (cur[i] ?? 0) - (oldest?.v[i] ?? 0)) });
    const uptime = (now - this.sources.startedAt) / 1000;
    const dirs = <T>(f: (d: Direction) => T): Record<Direction, T> => ({
      phone_to_binary: f('phone_to_binary'),
      binary_to_phone: f('binary_to_phone'),
    });
    const history = {
      interval_seconds: this.intervalMs / 1000,
      frames_per_second: dirs(() => [] as number[]),
      phones: [] as number[],
      binaries: [] as number[],
    };
    // One point per pair of samples, and a last one from the newest sample to now
    // (once it spans a second), so a young relay already draws a line.
    const live = past.length > 0 && now - (past[past.length - 1] as Sample).t >= 1000;
    const points = live ? [...past, { t: now, v: cur }] : past;
    for (let i = 1; i < points.length; i++) {
      const a = points[i - 1] as Sample;
      const b = points[i] as Sample;
      const dt = Math.max(0.001, (b.t - a.t) / 1000);
      for (const d of DIRECTIONS) history.frames_per_second[d].push(Math.max(0, ((b.v[FRAMES[d]] ?? 0) - (a.v[FRAMES[d]] ?? 0)) / dt));
      history.phones.push(b.v[PHONES] ?? 0);
      history.binaries.push(b.v[BINARIES] ?? 0);
    }
    const cluster = await this.cluster();
    const mem = process.memoryUsage();
    const nodes = this.sources.liveNodes === undefined ? undefined : await this.sources.liveNodes();
    return {
      version: this.sources.version,
      uptime_seconds: Math.max(0, Math.floor(uptime)),
      time: now,
      connections: { binaries: cur[BINARIES] ?? 0, phones: cur[PHONES] ?? 0, open: cur[OPEN] ?? 0 },
      rate_seconds: Math.round(rateSeconds * 10) / 10,
      frames: dirs((d) => ({ per_second: perSecond(FRAMES[d]), total: cur[FRAMES[d]] ?? 0 })),
      bytes: dirs((d) => ({ per_second: perSecond(BYTES[d]), total: cur[BYTES[d]] ?? 0 })),
      window_seconds: oldest === undefined ? 0 : Math.round((now - oldest.t) / 1000),
      upgrades: Object.fromEntries(
        ENDPOINTS.map((e) => [e, Object.fromEntries(UPGRADE_OUTCOMES.map((o) => [o, windowed(UPGRADES[e][o])]))]),
      ) as StatusSnapshot['upgrades'],
      closes: CLOSES.map((c, i) => ({ code: c.code, reason: c.reason, ...windowed(CLOSE_CELLS[i] as number) })),
      admission_rejects: Object.fromEntries(
        ADMISSION_REASONS.map((r) => [r, windowed(ADMISSION[r])]),
      ) as StatusSnapshot['admission_rejects'],
      grace_expiries: windowed(GRACE),
      envelopes_dropped: windowed(DROPPED),
      ...(this.pushOn
        ? { push: Object.fromEntries(PUSH_OUTCOMES.map((o) => [o, windowed(PUSH[o])])) as Record<PushOutcome, Windowed> }
        : {}),
      queued_bytes: cur[QUEUED] ?? 0,
      event_loop: { p99_ms: round1(this.lagP99), max_ms: round1(this.lagMax) },
      memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed },
      history,
      ...(nodes === undefined ? {} : { nodes: nodes.map(cleanNode) }),
      ...(cluster === undefined ? {} : { cluster }),
    };
  }

  private async cluster(): Promise<StatusSnapshot['cluster']> {
    const gauge = async (name: string): Promise<number | undefined> => {
      const m = this.metrics.registry.getSingleMetric(name);
      return m === undefined ? undefined : (await m.get()).values[0]?.value;
    };
    const live = await gauge(CLUSTER_NODES);
    if (live === undefined) return undefined;
    const ready = await gauge(CLUSTER_BUS_READY);
    return { live_nodes: live, fenced: (await gauge(CLUSTER_FENCED)) === 1, bus_ready: ready === undefined ? null : ready === 1 };
  }
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Only the documented fields reach the page, whatever the provider's objects carry. */
function cleanNode(n: LiveNode): LiveNode {
  return {
    id: String(n.id),
    self: n.self === true,
    ...(typeof n.binaries === 'number' ? { binaries: n.binaries } : {}),
    ...(typeof n.phones === 'number' ? { phones: n.phones } : {}),
    ...(typeof n.lastSeenSeconds === 'number' ? { lastSeenSeconds: n.lastSeenSeconds } : {}),
  };
}
