// Keeps a certificate for the domain: loads the cache at start, otherwise
// issues at once; renews while running before expiry; retries failed attempts
// with exponential backoff; never throws into the event loop. New handshakes
// pick up a renewed certificate through the SNI callback, so sockets already
// open keep their session and are never dropped. Until the first certificate
// exists a handshake for the domain waits (bounded) instead of failing at once.
// In a cluster (`peers`) only the holder of the issuer lock orders; the others
// wait, then adopt the certificate it stored, and every node swaps to a newer
// stored certificate on notification or at the periodic backstop check.
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '../ops/logger.js';
import { errText } from '../ops/logger.js';
import { AcmeError, issueCertificate } from './acme-issuer.js';
import { parseBundle, StaleFenceError, UnusableCertError, type CertBundle, type CertStore } from './cert-store.js';
import type { ChallengeStore } from './challenges.js';
import type { CertPeers, LockLease } from './issuer-lock.js';

const DAY = 24 * 60 * 60 * 1000;
const MAX_TIMER = 2 ** 31 - 1;

export interface CertManagerOptions {
  domain: string;
  store: CertStore;
  directoryUrl: string;
  challenges: ChallengeStore;
  logger: Logger;
  /** How long a handshake may wait for the first certificate. */
  handshakeWaitMs?: number;
  /** First retry delay after a failed attempt; doubles up to retryMaxMs. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** ACME polling backoff, passed to the issuer. */
  pollMinMs?: number;
  /** Cluster mode: the issuer lock and the "stored a new certificate" notifications. */
  peers?: CertPeers;
  /** Cluster mode: how soon to look again while another node holds the issuer lock. */
  lockWaitMs?: number;
  /** Cluster mode: the backstop check of the stored certificate, should a notification be lost. */
  syncIntervalMs?: number;
}

export const CERT_DEFAULTS = {
  handshakeWaitMs: 30_000,
  retryBaseMs: 60_000,
  retryMaxMs: 60 * 60_000,
  renewBeforeMs: 30 * DAY,
  lockWaitMs: 5_000,
  syncIntervalMs: 5 * 60_000,
};

/**
 * When to renew: 30 days before expiry, or with a third of the lifetime left
 * when the certificate lives less than 90 days (short-lived certificates would
 * otherwise be renewed continuously). For a 90-day Let's Encrypt certificate
 * both rules give day 60.
 */
export function renewalTime(notBefore: number, notAfter: number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  return notAfter - Math.min(CERT_DEFAULTS.renewBeforeMs, lifetime / 3);
}

export class CertManager {
  private context: SecureContext | undefined;
  private bundle: CertBundle | undefined;
  private waiters = new Set<(ctx: SecureContext | undefined) => void>();
  private timer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private syncing = false;
  private failures = 0;
  private stopped = false;
  private readonly domain: string;
  private readonly handshakeWaitMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;

  constructor(private readonly opts: CertManagerOptions) {
    this.domain = opts.domain.toLowerCase();
    this.handshakeWaitMs = opts.handshakeWaitMs ?? CERT_DEFAULTS.handshakeWaitMs;
    this.retryBaseMs = opts.retryBaseMs ?? CERT_DEFAULTS.retryBaseMs;
    this.retryMaxMs = opts.retryMaxMs ?? CERT_DEFAULTS.retryMaxMs;
  }

  /** The current leaf's expiry, for tests and logs. */
  get notAfter(): number | undefined {
    return this.bundle?.notAfter;
  }

  /** Loads the cache, then issues or schedules renewal. Never rejects. */
  async start(): Promise<void> {
    const { logger, store, peers } = this.opts;
    if (peers !== undefined) {
      // Listening before the first load, so a certificate stored meanwhile is not missed.
      this.unsubscribe = peers.onStored(() => void this.sync());
      this.syncTimer = setInterval(() => void this.sync(), this.opts.syncIntervalMs ?? CERT_DEFAULTS.syncIntervalMs);
      this.syncTimer.unref();
    }
    try {
      const cached = await store.loadCert();
      if (cached !== undefined && cached.notAfter <= Date.now()) {
        logger.warn('cert_cache_expired', { domain: this.domain, to: cached.leaf.validTo });
      } else if (cached !== undefined) {
        this.install(cached);
        logger.info('cert_loaded', { domain: this.domain, to: cached.leaf.validTo });
      }
    } catch (err) {
      logger.warn('cert_cache_unusable', { domain: this.domain, err: errText(err) });
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    clearInterval(this.syncTimer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const w of this.waiters) w(undefined);
    this.waiters.clear();
  }

  /** tls.Server SNICallback: only the domain, and wait for the first certificate. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    if (servername.toLowerCase() !== this.domain) {
      cb(new Error('unknown server name'));
      return;
    }
    if (this.context !== undefined) {
      cb(null, this.context);
      return;
    }
    const timer = setTimeout(() => finish(undefined), this.handshakeWaitMs);
    const finish = (ctx: SecureContext | undefined): void => {
      clearTimeout(timer);
      this.waiters.delete(finish);
      if (ctx === undefined) cb(new Error('no certificate yet'));
      else cb(null, ctx);
    };
    this.waiters.add(finish);
  };

  private install(bundle: CertBundle): void {
    this.context = createSecureContext({ key: bundle.keyPem, cert: bundle.chainPem, minVersion: 'TLSv1.2' });
    this.bundle = bundle;
    for (const w of [...this.waiters]) w(this.context);
  }

  private setTimer(delayMs: number, fn: () => void): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const step = Math.min(Math.max(0, delayMs), MAX_TIMER);
    // Delays beyond setTimeout's range are walked in steps.
    this.timer = setTimeout(step === delayMs || delayMs <= 0 ? fn : () => this.setTimer(delayMs - step, fn), step);
    this.timer.unref();
  }

  private schedule(): void {
    const due = this.bundle === undefined ? Date.now() : renewalTime(this.bundle.notBefore, this.bundle.notAfter);
    this.setTimer(due - Date.now(), () => void this.attempt());
  }

  /** Exponential from retryBaseMs to retryMaxMs, ±10 % so restarts do not synchronise. */
  private backoffDelay(failures: number): number {
    const backoff = Math.min(this.retryBaseMs * 2 ** (failures - 1), this.retryMaxMs);
    return Math.round(backoff * (0.9 + Math.random() * 0.2));
  }

  /** Whether `b` should replace the certificate being served: another leaf, expiring no sooner. */
  private isNewer(b: CertBundle): boolean {
    return this.bundle === undefined || (b.leaf.serialNumber !== this.bundle.leaf.serialNumber && b.notAfter >= this.bundle.notAfter);
  }

  private adopt(b: CertBundle): void {
    this.install(b);
    this.failures = 0;
    this.opts.logger.info('cert_synced', { domain: this.domain, to: b.leaf.validTo });
    this.schedule();
  }

  /** Cluster mode: installs a newer stored certificate (notification or backstop). Never rejects. */
  private async sync(): Promise<void> {
    if (this.stopped || this.syncing) return;
    this.syncing = true;
    try {
      const stored = await this.opts.store.loadCert();
      if (stored !== undefined && !this.stopped && stored.notAfter > Date.now() && this.isNewer(stored)) this.adopt(stored);
    } catch (err) {
      this.opts.logger.warn('cert_sync_failed', { domain: this.domain, err: errText(err) });
    } finally {
      this.syncing = false;
    }
  }

  /**
   * Cluster mode: true when the store holds a certificate not yet due for
   * renewal (adopted if it is newer than ours), so no order is needed.
   */
  private async storedIsCurrent(): Promise<boolean> {
    let stored: CertBundle | undefined;
    try {
      stored = await this.opts.store.loadCert();
    } catch (err) {
      // An unusable entry is replaced by the order that follows; a Redis failure fails the attempt.
      if (!(err instanceof UnusableCertError)) throw err;
      this.opts.logger.warn('cert_cache_unusable', { domain: this.domain, err: errText(err) });
      return false;
    }
    if (stored === undefined || renewalTime(stored.notBefore, stored.notAfter) <= Date.now()) return false;
    if (this.isNewer(stored)) this.adopt(stored);
    else this.schedule();
    return true;
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const { logger, store, peers } = this.opts;
    const renewing = this.bundle !== undefined;
    let lease: LockLease | undefined;
    try {
      if (peers !== undefined) {
        if (await this.storedIsCurrent()) return;
        lease = await peers.lock.acquire();
        if (lease === undefined) {
          // Another node is ordering: look again soon; its notification usually comes first.
          logger.debug('cert_issuer_busy', { domain: this.domain });
          this.setTimer(this.opts.lockWaitMs ?? CERT_DEFAULTS.lockWaitMs, () => void this.attempt());
          return;
        }
        // The previous holder may have stored its certificate just before releasing.
        if (await this.storedIsCurrent()) return;
      }
      const issued = await issueCertificate({
        directoryUrl: this.opts.directoryUrl,
        domain: this.domain,
        accountKeyPem: await store.accountKey(),
        challenges: this.opts.challenges,
        pollMinMs: this.opts.pollMinMs,
      });
      const bundle = parseBundle(issued.keyPem + issued.chainPem, this.domain);
      if (this.stopped) return;
      // Installed before it is stored, so our own store notification finds it current.
      this.install(bundle);
      try {
        await store.saveCert(issued.keyPem, issued.chainPem, lease?.fence);
      } catch (err) {
        // Serving the new certificate still beats serving none; the next start issues again.
        if (err instanceof StaleFenceError) logger.warn('cert_lock_lost', { domain: this.domain });
        else logger.error('cert_cache_write_failed', { domain: this.domain, err: errText(err) });
      }
      this.failures = 0;
      logger.info(renewing ? 'cert_renewed' : 'cert_issued', { domain: this.domain, to: bundle.leaf.validTo });
      this.schedule();
    } catch (err) {
      if (this.stopped) return;
      // In a cluster the lock holder's failure backs off every node (the lock is kept for the delay).
      const shared = lease === undefined ? undefined : await lease.backOff((n) => this.backoffDelay(n)).catch(() => undefined);
      if (shared !== undefined) lease = undefined;
      else this.failures += 1;
      const count = shared?.count ?? this.failures;
      const delay = shared?.delayMs ?? this.backoffDelay(this.failures);
      logger.error('acme_issue_failed', {
        domain: this.domain,
        acme_error: err instanceof AcmeError ? err.problemType : undefined,
        err: errText(err),
        count,
        duration: `${delay}ms`,
      });
      this.setTimer(delay, () => void this.attempt());
    } finally {
      await lease?.release();
    }
  }
}
