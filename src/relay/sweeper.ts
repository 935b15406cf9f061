// One periodic sweep over every live connection (heartbeat, message deadline,
// write progress), instead of a timer per connection: at 100,000 connections
// that is one timer, not 100,000. Also the set shutdown drains from.
import type { Link, Timeouts } from './link.js';
import { PhoneLink } from './phone-link.js';

const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;

export class Sweeper {
  private readonly links = new Set<Link>();
  private readonly timer: NodeJS.Timeout;
  private emptyWaiters: Array<() => void> = [];

  constructor(private readonly timeouts: Timeouts) {
    // A quarter of the shortest deadline keeps detection within 25 % of it.
    const shortest = Math.min(
      timeouts.heartbeatIntervalMs,
      timeouts.heartbeatTimeoutMs,
      timeouts.readMessageTimeoutMs,
      timeouts.writeTimeoutMs,
    );
    const tick = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(shortest / 4)));
    this.timer = setInterval(() => this.sweep(), tick);
    this.timer.unref();
  }

  get size(): number {
    return this.links.size;
  }

  add(link: Link): void {
    this.links.add(link);
  }

  delete(link: Link): void {
    this.links.delete(link);
    if (this.links.size === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Phones first, binaries last: the order shutdown closes them in. */
  drainOrder(): Link[] {
    const phones: Link[] = [];
    const others: Link[] = [];
    for (const l of this.links) (l instanceof PhoneLink ? phones : others).push(l);
    return phones.concat(others);
  }

  /** Resolves once no link is left, or after `timeoutMs`. */
  waitEmpty(timeoutMs: number): Promise<void> {
    if (this.links.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.emptyWaiters.push(done);
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const now = Date.now();
    for (const link of this.links) link.tick(now, this.timeouts);
  }
}
