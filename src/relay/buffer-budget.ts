// The relay-wide budget for bytes queued in phone outboxes
// (relay-behaviour.md §4, `--max-buffered-bytes`). When a new item would
// exhaust it, the phone holding the largest backlog is shed, so slow readers
// can never run the process out of memory.

export interface Backlogged {
  /** Bytes this holder currently has charged against the budget. */
  readonly backlogBytes: number;
  /** Closes the holder and releases its charge. */
  shed(): void;
}

export class BufferBudget {
  private used = 0;
  private readonly holders = new Set<Backlogged>();

  constructor(readonly limit: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /**
   * Charges `bytes` for `holder`, shedding the largest backlogs first when the
   * budget would overflow. Returns false when `holder` itself was shed.
   */
  charge(holder: Backlogged, bytes: number): boolean {
    // Bounded: every round sheds one distinct holder.
    for (let rounds = this.holders.size + 1; this.used + bytes > this.limit && rounds > 0; rounds--) {
      const largest = this.largest(holder, bytes);
      largest.shed(); // releases its whole charge
      this.holders.delete(largest);
      if (largest === holder) return false;
    }
    this.used += bytes;
    this.holders.add(holder);
    return true;
  }

  release(holder: Backlogged, bytes: number): void {
    this.used -= bytes;
    if (holder.backlogBytes <= 0) this.holders.delete(holder);
  }

  /** The holder with the largest backlog, counting the pending charge on `adding`. */
  private largest(adding: Backlogged, pending: number): Backlogged {
    let best = adding;
    let bestBytes = adding.backlogBytes + pending;
    for (const h of this.holders) {
      if (h.backlogBytes > bestBytes) {
        best = h;
        bestBytes = h.backlogBytes;
      }
    }
    return best;
  }
}
