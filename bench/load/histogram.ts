// Latency histogram with 1 µs buckets up to 100 ms (plus a coarse overflow list),
// so percentiles are exact to the microsecond without storing every sample and
// histograms from several generator processes can be merged.
const LIMIT_US = 100_000;

export class Histogram {
  counts = new Uint32Array(LIMIT_US);
  overflow: number[] = [];
  total = 0;

  record(us: number): void {
    const i = us < 0 ? 0 : Math.round(us);
    if (i < LIMIT_US) this.counts[i]!++;
    else this.overflow.push(i);
    this.total++;
  }

  reset(): void {
    this.counts.fill(0);
    this.overflow = [];
    this.total = 0;
  }

  /** Value in µs at quantile q (0 < q ≤ 1); 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < LIMIT_US; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i;
    }
    const over = [...this.overflow].sort((a, b) => a - b);
    return over[rank - seen - 1] ?? over[over.length - 1] ?? LIMIT_US;
  }
}
