// Prometheus series (operations.md §6) on a private prom-client registry. Every
// labelled series is pre-created at 0 and its children are resolved once here,
// so the relay's hot path only ever calls `.inc()` on a held object: no label
// lookups per frame. No label ever carries a server-id, conn_id, IP or token.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

export type Endpoint = 'server' | 'client';
export type UpgradeOutcome = 'accept' | 'reject_headers' | 'reject_409' | 'reject_404' | 'reject_429' | 'reject_rate_limit';
export type RegisterFailureKind = 'no_server' | 'server_in_use' | 'phones_at_cap' | 'ratelimit';
export type AdmissionRejectReason = 'rate_limit' | 'conn_cap' | 'ip_conn_cap';
export type ProxyRejectReason = 'missing' | 'v1' | 'local' | 'not_tcp' | 'malformed' | 'timeout';
export type PushOutcome = 'sent' | 'unregistered' | 'send_failed' | 'token_fetch_failed' | 'dropped';

const UPGRADE_OUTCOMES: readonly UpgradeOutcome[] = [
  'accept',
  'reject_headers',
  'reject_409',
  'reject_404',
  'reject_429',
  'reject_rate_limit',
];
const REGISTER_KINDS: readonly RegisterFailureKind[] = ['no_server', 'server_in_use', 'phones_at_cap', 'ratelimit'];
const ADMISSION_REASONS: readonly AdmissionRejectReason[] = ['rate_limit', 'conn_cap', 'ip_conn_cap'];
export const PROXY_REASONS: readonly ProxyRejectReason[] = ['missing', 'v1', 'local', 'not_tcp', 'malformed', 'timeout'];
const PUSH_OUTCOMES: readonly PushOutcome[] = ['sent', 'unregistered', 'send_failed', 'token_fetch_failed', 'dropped'];

interface Inc {
  inc(n?: number): void;
}

/** A labelled child that shows up at 0 from boot: prom-client omits children never incremented. */
function precreated(counter: Counter<string>, labels: Record<string, string>): Inc {
  const child = counter.labels(labels);
  child.inc(0);
  return child;
}

/** A counter for the forwarding path: one field increment, read at scrape time. */
class HotCounter implements Inc {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

/** A `direction`-labelled counter whose two cells mirror hot counters on every scrape. */
function directionCounter(r: Registry, name: string, help: string, p2b: HotCounter, b2p: HotCounter): void {
  const cells: Array<[Inc, HotCounter, { reported: number }]> = [];
  const counter = new Counter({
    name,
    help,
    labelNames: ['direction'],
    registers: [r],
    collect() {
      for (const [child, hot, state] of cells) {
        const delta = hot.value - state.reported;
        if (delta > 0) child.inc(delta);
        state.reported = hot.value;
      }
    },
  });
  cells.push([precreated(counter, { direction: 'phone_to_binary' }), p2b, { reported: 0 }]);
  cells.push([precreated(counter, { direction: 'binary_to_phone' }), b2p, { reported: 0 }]);
}

function children<K extends string>(counter: Counter<string>, keys: readonly K[], label: string): Record<K, Inc> {
  const out = {} as Record<K, Inc>;
  for (const k of keys) out[k] = precreated(counter, { [label]: k });
  return out;
}

export class RelayMetrics {
  readonly registry = new Registry();

  readonly connectedBinaries: Gauge<string>;
  readonly connectedPhones: Gauge<string>;
  readonly framesPhoneToBinary: Inc;
  readonly framesBinaryToPhone: Inc;
  readonly bytesPhoneToBinary: Inc;
  readonly bytesBinaryToPhone: Inc;
  readonly graceExpiries: Inc;
  readonly upgrades: Record<Endpoint, Record<UpgradeOutcome, Inc>>;
  readonly registerFailures: Record<RegisterFailureKind, Inc>;
  readonly admissionRejects: Record<AdmissionRejectReason, Inc>;
  readonly pushWakes: Record<PushOutcome, Inc>;
  readonly proxyHeaderRejects: Record<ProxyRejectReason, Inc>;
  readonly envelopesDropped: Inc;
  readonly phoneBacklogCloses: Inc;
  /** Reads the bytes queued in phone outboxes at scrape time (set by the relay). */
  queuedBytesSource: () => number = () => 0;
  /** Reads admission state at scrape time (set by the admission policy). */
  admissionSource: { buckets(): number; open(): number } = { buckets: () => 0, open: () => 0 };

  /**
   * `runtime` adds prom-client's process and Node.js series (event-loop lag,
   * memory, GC, fds) under our prefix; only worth it when someone scrapes.
   * `push` exposes pyrycode_relay_push_wakes_total (operations.md §6: only when push is on).
   */
  constructor(opts: { runtime?: boolean; push?: boolean } = {}) {
    const r = this.registry;
    this.connectedBinaries = new Gauge({
      name: 'pyrycode_relay_connected_binaries',
      help: 'Binaries holding a server-id (excludes binaries in grace).',
      registers: [r],
    });
    this.connectedPhones = new Gauge({
      name: 'pyrycode_relay_connected_phones',
      help: 'Registered phone connections.',
      registers: [r],
    });
    // Per-frame counters are plain numbers, folded into prom-client at scrape
    // time: a labelled prom-client child hashes its labels on every inc().
    const [framesP2B, framesB2P] = [new HotCounter(), new HotCounter()];
    this.framesPhoneToBinary = framesP2B;
    this.framesBinaryToPhone = framesB2P;
    directionCounter(
      r,
      'pyrycode_relay_frames_forwarded_total',
      'Frames written to the destination socket, by direction.',
      framesP2B,
      framesB2P,
    );
    const [bytesP2B, bytesB2P] = [new HotCounter(), new HotCounter()];
    this.bytesPhoneToBinary = bytesP2B;
    this.bytesBinaryToPhone = bytesB2P;
    directionCounter(
      r,
      'pyrycode_relay_bytes_forwarded_total',
      'Inner-frame bytes written to the destination socket, by direction.',
      bytesP2B,
      bytesB2P,
    );
    const expiries = new Counter({
      name: 'pyrycode_relay_grace_expiries_total',
      help: 'Grace windows that expired and evicted a server-id.',
      registers: [r],
    });
    this.graceExpiries = expiries;
    const upgrades = new Counter({
      name: 'pyrycode_relay_ws_upgrade_attempts_total',
      help: 'WebSocket upgrade attempts by endpoint and outcome.',
      labelNames: ['endpoint', 'outcome'],
      registers: [r],
    });
    this.upgrades = {
      server: {} as Record<UpgradeOutcome, Inc>,
      client: {} as Record<UpgradeOutcome, Inc>,
    };
    for (const endpoint of ['server', 'client'] as const) {
      for (const outcome of UPGRADE_OUTCOMES) this.upgrades[endpoint][outcome] = precreated(upgrades, { endpoint, outcome });
    }
    this.registerFailures = children(
      new Counter({
        name: 'pyrycode_relay_register_failures_total',
        help: 'Registrations refused, by kind.',
        labelNames: ['kind'],
        registers: [r],
      }),
      REGISTER_KINDS,
      'kind',
    );
    this.admissionRejects = children(
      new Counter({
        name: 'pyrycode_relay_admission_rejects_total',
        help: 'Upgrade requests refused by admission control, by reason.',
        labelNames: ['reason'],
        registers: [r],
      }),
      ADMISSION_REASONS,
      'reason',
    );
    this.pushWakes = children(
      new Counter({
        name: 'pyrycode_relay_push_wakes_total',
        help: 'Push wake requests by outcome.',
        labelNames: ['outcome'],
        // Push off: the children still exist (callers hold them) but are never scraped.
        registers: opts.push === true ? [r] : [],
      }),
      PUSH_OUTCOMES,
      'outcome',
    );
    this.envelopesDropped = new Counter({
      name: 'pyrycode_relay_envelopes_dropped_total',
      help: 'Binary envelopes dropped as malformed or misaddressed.',
      registers: [r],
    });
    const source = (): number => this.queuedBytesSource();
    new Gauge({
      name: 'pyrycode_relay_queued_bytes',
      help: 'Bytes queued in phone outboxes, charged against --max-buffered-bytes.',
      registers: [r],
      collect() {
        this.set(source());
      },
    });
    this.phoneBacklogCloses = new Counter({
      name: 'pyrycode_relay_phone_backlog_closes_total',
      help: 'Phones closed because their backlog exceeded a byte budget.',
      registers: [r],
    });
    this.proxyHeaderRejects = children(
      new Counter({
        name: 'pyrycode_relay_proxy_header_rejects_total',
        help: 'Connections closed for a missing or unusable PROXY v2 header, by reason.',
        labelNames: ['reason'],
        registers: [r],
      }),
      PROXY_REASONS,
      'reason',
    );
    const admission = (): { buckets(): number; open(): number } => this.admissionSource;
    new Gauge({
      name: 'pyrycode_relay_open_connections',
      help: 'Connection slots held on /v1/server and /v1/client (counted against --max-connections).',
      registers: [r],
      collect() {
        this.set(admission().open());
      },
    });
    new Gauge({
      name: 'pyrycode_relay_rate_limit_buckets',
      help: 'Client IPs with a live rate-limit bucket.',
      registers: [r],
      collect() {
        this.set(admission().buckets());
      },
    });
    if (opts.runtime === true) collectDefaultMetrics({ register: r, prefix: 'pyrycode_relay_' });
  }

  /**
   * TLS modes: the serving certificate's expiry (notAfter, ms since the epoch;
   * undefined while ACME mode has none yet) as a Unix-time gauge, read at scrape time.
   */
  exposeCertExpiry(notAfter: () => number | undefined): void {
    new Gauge({
      name: 'pyrycode_relay_tls_cert_expiry_timestamp_seconds',
      help: 'Expiry (notAfter) of the certificate served to new TLS handshakes, as a Unix time; 0 while there is none.',
      registers: [this.registry],
      collect() {
        const t = notAfter();
        this.set(t === undefined ? 0 : Math.floor(t / 1000));
      },
    });
  }
}
