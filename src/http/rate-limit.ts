// Per-IP token bucket (operations.md §4): `burst` tokens, one more every
// `refillMs` with fractions carried over; a new bucket starts full and the
// request that creates it spends one. Memory is bounded twice: buckets idle for
// ≥ burst × refill (full again, so indistinguishable from new) are swept every
// `sweepIntervalMs`, and at most `maxBuckets` are held — past that the least
// recently used bucket is forgotten, which is the one that has refilled longest.

export const DEFAULT_SWEEP_INTERVAL_MS = 5 * 60 * 1000;
export const DEFAULT_MAX_BUCKETS = 100_000;

export interface RateLimitOptions {
  burst: number;
  refillMs: number;
  sweepIntervalMs?: number;
  maxBuckets?: number;
  /** Monotonic clock in ms; tests inject one. */
  now?: () => number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxBuckets: number;
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(opts: RateLimitOptions) {
    this.burst = opts.burst;
    this.refillMs = opts.refillMs;
    this.maxBuckets = opts.maxBuckets ?? DEFAULT_MAX_BUCKETS;
    this.idleMs = opts.burst * opts.refillMs;
    this.now = opts.now ?? (() => performance.now());
    this.timer = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Number of buckets held (exported as a gauge; never per-IP). */
  get size(): number {
    return this.buckets.size;
  }

  take(ip: string): TakeResult {
    const now = this.now();
    let b = this.buckets.get(ip);
    if (b === undefined) {
      if (this.buckets.size >= this.maxBuckets) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.burst, last: now };
    } else {
      // Re-insert so Map order stays least-recently-used first.
      this.buckets.delete(ip);
      b.tokens = Math.min(this.burst, b.tokens + (now - b.last) / this.refillMs);
      b.last = now;
    }
    this.buckets.set(ip, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    const waitMs = (1 - b.tokens) * this.refillMs;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Drops buckets idle for at least burst × refill. */
  sweep(): void {
    const now = this.now();
    // LRU order: the first bucket still in use ends the scan.
    for (const [ip, b] of this.buckets) {
      if (now - b.last < this.idleMs) break;
      this.buckets.delete(ip);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
