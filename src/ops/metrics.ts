// Prometheus series (operations.md §6) on a private prom-client registry. Every
// labelled series is pre-created at 0 and its children are resolved once here,
// so the relay's hot path only ever calls `.inc()` on a held object: no label
// lookups per frame. No label ever carries a server-id, conn_id, IP or token.
import { Counter, Gauge, Registry } from 'prom-client';

export type Endpoint = 'server' | 'client';
export type UpgradeOutcome =
  | 'accept'
  | 'reject_headers'
  | 'reject_409'
  | 'reject_404'
  | 'reject_429'
  | 'reject_rate_limit';
export type RegisterFailureKind = 'no_server' | 'server_in_use' | 'phones_at_cap' | 'ratelimit';
export type AdmissionRejectReason = 'rate_limit' | 'conn_cap' | 'ip_conn_cap';
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
const PUSH_OUTCOMES: readonly PushOutcome[] = ['sent', 'unregistered', 'send_failed', 'token_fetch_failed', 'dropped'];

interface Inc {
  inc(n?: number): void;
}

function children<K extends string>(counter: Counter<string>, keys: readonly K[], label: string): Record<K, Inc> {
  const out = {} as Record<K, Inc>;
  for (const k of keys) out[k] = counter.labels({ [label]: k });
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
  readonly envelopesDropped: Inc;
  readonly phoneBacklogCloses: Inc;
  /** Reads the bytes queued in phone outboxes at scrape time (set by the relay). */
  queuedBytesSource: () => number = () => 0;

  constructor() {
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
    const frames = new Counter({
      name: 'pyrycode_relay_frames_forwarded_total',
      help: 'Frames written to the destination socket, by direction.',
      labelNames: ['direction'],
      registers: [r],
    });
    this.framesPhoneToBinary = frames.labels({ direction: 'phone_to_binary' });
    this.framesBinaryToPhone = frames.labels({ direction: 'binary_to_phone' });
    const bytes = new Counter({
      name: 'pyrycode_relay_bytes_forwarded_total',
      help: 'Inner-frame bytes written to the destination socket, by direction.',
      labelNames: ['direction'],
      registers: [r],
    });
    this.bytesPhoneToBinary = bytes.labels({ direction: 'phone_to_binary' });
    this.bytesBinaryToPhone = bytes.labels({ direction: 'binary_to_phone' });
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
      for (const outcome of UPGRADE_OUTCOMES) this.upgrades[endpoint][outcome] = upgrades.labels({ endpoint, outcome });
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
        registers: [r],
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
  }
}
