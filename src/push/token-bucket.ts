// Per-server-id token buckets for push-wake admission (operations.md §9: burst 6,
// one token per 10 s). The map is bounded: a bucket that has refilled to full is
// indistinguishable from a fresh one, so sweeps drop it; and at `maxKeys` live
// buckets a new key is refused (fail closed) rather than evicting someone's
// partly-spent bucket, which would hand that server-id a fresh burst.
export interface BucketOptions {
  burst: number;
  refillMs: number;
  maxKeys: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** How often a sweep may run when the map is full and new keys keep arriving. */
const MIN_SWEEP_GAP_MS = 1000;

export class KeyedBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;
  private readonly fullAfterMs: number;

  constructor(
    private readonly opts: BucketOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastSweep = now();
    this.fullAfterMs = opts.burst * opts.refillMs;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; false when its bucket is empty or the map is full. */
  take(key: string): boolean {
    const now = this.now();
    if (now - this.lastSweep >= this.fullAfterMs) this.sweep(now);
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.opts.maxKeys) {
        if (now - this.lastSweep < MIN_SWEEP_GAP_MS) return false;
        this.sweep(now);
        if (this.buckets.size >= this.opts.maxKeys) return false;
      }
      b = { tokens: this.opts.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = this.level(b, now);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private level(b: Bucket, now: number): number {
    return Math.min(this.opts.burst, b.tokens + (now - b.at) / this.opts.refillMs);
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, b] of this.buckets) {
      if (this.level(b, now) >= this.opts.burst) this.buckets.delete(key);
    }
  }
}
