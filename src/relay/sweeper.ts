// One periodic sweep over every live connection (heartbeat, message deadline,
// write progress), instead of a timer per connection: at 100,000 connections
// that is one timer, not 100,000. Also the set shutdown drains from. It knows
// connections only through the Swept interface, and time only through the
// injected clock.
import type { Clock } from './clock.js';

/** The per-connection deadlines the sweep enforces (milliseconds). */
export interface Timeouts {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  readMessageTimeoutMs: number;
  writeTimeoutMs: number;
}

/** What the sweeper needs of a connection. */
export interface Swept {
  /** One sweep step at `now` (clock milliseconds). */
  tick(now: number, timeouts: Timeouts): void;
  /** Closed in the first wave of a drain (phones, before their binaries). */
  readonly drainFirst: boolean;
}

const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;

/** A quarter of the shortest deadline keeps detection within 25 % of it. */
export function sweepIntervalMs(t: Timeouts): number {
  const shortest = Math.min(t.heartbeatIntervalMs, t.heartbeatTimeoutMs, t.readMessageTimeoutMs, t.writeTimeoutMs);
  return Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(shortest / 4)));
}

export class Sweeper<L extends Swept> {
  private readonly links = new Set<L>();
  private readonly timer: object;
  private emptyWaiters: Array<() => void> = [];

  constructor(
    private readonly timeouts: Timeouts,
    private readonly clock: Clock,
  ) {
    this.timer = clock.setInterval(() => this.sweep(), sweepIntervalMs(timeouts));
  }

  get size(): number {
    return this.links.size;
  }

  add(link: L): void {
    this.links.add(link);
  }

  delete(link: L): void {
    this.links.delete(link);
    if (this.links.size === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Phones first, binaries last: the order shutdown closes them in. */
  drainOrder(): L[] {
    const first: L[] = [];
    const rest: L[] = [];
    for (const l of this.links) (l.drainFirst ? first : rest).push(l);
    return first.concat(rest);
  }

  /** Resolves once no link is left, or after `timeoutMs`. */
  waitEmpty(timeoutMs: number): Promise<void> {
    if (this.links.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const clock = this.clock;
      const timer = clock.setTimeout(done, timeoutMs);
      function done(): void {
        clock.clearTimeout(timer);
        resolve();
      }
      this.emptyWaiters.push(done);
    });
  }

  stop(): void {
    this.clock.clearInterval(this.timer);
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const link of this.links) link.tick(now, this.timeouts);
  }
}
