// The FCM push dispatcher (operations.md §9). wake() runs on the binary's read
// loop, so it only validates, admits and starts the send; everything slow happens
// in a detached promise that does not belong to the binary's connection, so it
// survives the binary going away. Admission: a relay-wide cap on sends in flight
// and a per-server-id token bucket; over either limit the wake is dropped, never
// queued. close() lets sends in flight finish until the drain deadline, then
// aborts what is left.
import { createHash } from 'node:crypto';
import type { WakeDropReason } from '../ops/log-events.js';
import type { Logger } from '../ops/logger.js';
import type { PushOutcome } from '../ops/metrics.js';
import type { PushDispatcher } from './dispatcher.js';
import { DropLog } from './drop-log.js';
import { FcmSender } from './fcm.js';
import { AccessTokens } from './oauth.js';
import type { ServiceAccount } from '../ops/service-account.js';
import { KeyedBuckets } from './token-bucket.js';

export interface PushLimits {
  /** Per-server-id bucket: this many wakes at once… */
  burst: number;
  /** …then one more per this many ms. */
  refillMs: number;
  /** Sends in flight relay-wide. */
  maxInFlight: number;
  /** Live per-server-id buckets; beyond it wakes from new server-ids are dropped. */
  maxServerIds: number;
  /** Per HTTP call (token fetch and send each). */
  httpTimeoutMs: number;
  /** Reply bytes read per HTTP call. */
  maxReplyBytes: number;
  /** Refetch the access token this long before it expires. */
  refreshMarginMs: number;
}

export const DEFAULT_PUSH_LIMITS: PushLimits = {
  burst: 6,
  refillMs: 10_000,
  maxInFlight: 32,
  maxServerIds: 10_000,
  httpTimeoutMs: 10_000,
  maxReplyBytes: 4096,
  refreshMarginMs: 60_000,
};

export interface FcmPushOptions {
  account: ServiceAccount;
  sendUrl: string;
  logger: Logger;
  /** Metric children, one per outcome. */
  outcomes: Record<PushOutcome, { inc(): void }>;
  /** How long close() lets sends in flight finish before aborting them. */
  drainTimeoutMs: number;
  limits?: Partial<PushLimits>;
}

interface InFlight {
  ac: AbortController;
  done: Promise<void>;
}

/** operations.md §7: a device token is only ever logged as this fingerprint. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 8);
}

/** The device token of a valid wake, or why it is invalid (fixed text, nothing echoed). */
export function wakeToken(request: unknown): { token: string } | { invalid: WakeDropReason } {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return { invalid: 'wake is not an object' };
  const r = request as Record<string, unknown>;
  if (r.platform !== 'fcm') return { invalid: 'unsupported platform' };
  if (typeof r.token !== 'string' || r.token === '') return { invalid: 'missing token' };
  return { token: r.token };
}

export class FcmPush implements PushDispatcher {
  private readonly limits: PushLimits;
  private readonly tokens: AccessTokens;
  private readonly sender: FcmSender;
  private readonly buckets: KeyedBuckets;
  private readonly inFlight = new Set<InFlight>();
  private readonly dropLog: DropLog;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: FcmPushOptions) {
    this.limits = { ...DEFAULT_PUSH_LIMITS, ...opts.limits };
    const l = this.limits;
    this.tokens = new AccessTokens({
      account: opts.account,
      timeoutMs: l.httpTimeoutMs,
      maxReplyBytes: l.maxReplyBytes,
      refreshMarginMs: l.refreshMarginMs,
    });
    this.sender = new FcmSender({ sendUrl: opts.sendUrl, tokens: this.tokens, timeoutMs: l.httpTimeoutMs, maxReplyBytes: l.maxReplyBytes });
    this.buckets = new KeyedBuckets({ burst: l.burst, refillMs: l.refillMs, maxKeys: l.maxServerIds });
    this.dropLog = new DropLog(opts.logger);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  wake(serverId: string, request: unknown): void {
    const v = wakeToken(request);
    if ('invalid' in v) return this.drop(serverId, v.invalid);
    if (this.closing !== undefined) return this.drop(serverId, 'shutting down');
    // The cap is checked first so a wake refused by it does not also spend a bucket token.
    if (this.inFlight.size >= this.limits.maxInFlight) return this.drop(serverId, 'too many sends in flight');
    if (!this.buckets.take(serverId)) return this.drop(serverId, 'rate limited');
    const ac = new AbortController();
    const entry: InFlight = { ac, done: Promise.resolve() };
    this.inFlight.add(entry);
    entry.done = this.send(serverId, v.token, ac.signal)
      .catch(() => undefined) // send() does not reject; this keeps it that way should a log write throw
      .finally(() => this.inFlight.delete(entry));
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const pending = [...this.inFlight].map((s) => s.done);
    if (pending.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.opts.drainTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
    const left = [...this.inFlight];
    for (const s of left) s.ac.abort();
    this.tokens.close();
    await Promise.allSettled(left.map((s) => s.done));
  }

  private drop(serverId: string, reason: WakeDropReason): void {
    this.opts.outcomes.dropped.inc();
    this.dropLog.drop(serverId, reason);
  }

  /** Never rejects: every path ends in exactly one outcome count and one log line. */
  private async send(serverId: string, token: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const fp = tokenFingerprint(token);
    let res;
    try {
      res = await this.sender.send(token, signal);
    } catch {
      res = { outcome: 'send_failed' as const, status: undefined, err: 'internal error' };
    }
    const duration = Math.round(performance.now() - started);
    this.opts.outcomes[res.outcome].inc();
    if (res.outcome === 'sent') {
      this.opts.logger.info('push_wake_sent', {
        server_id: serverId,
        token_fp: fp,
        duration,
        status: res.status,
        fcm_message_id: res.messageId,
      });
    } else {
      this.opts.logger.warn('push_wake_send_failed', {
        server_id: serverId,
        token_fp: fp,
        duration,
        outcome: res.outcome,
        status: res.status,
        err: res.err,
      });
    }
  }
}
