// The grace windows of a single-node registry (relay-behaviour.md §2): one
// timer per server-id whose binary is gone, on the injected clock. Arming again
// replaces the window; cancelling (a reclaim) or clearing (shutdown) means the
// expiry never runs. A cluster registry keeps these deadlines in its store
// instead, so this part belongs to MemoryRegistry, not to the relay.
import type { Clock, TimerHandle } from './clock.js';

export class GraceTimers {
  private readonly timers = new Map<string, TimerHandle>();

  constructor(
    private readonly clock: Clock,
    private readonly periodMs: number,
    private readonly onExpire: (serverId: string) => void,
  ) {}

  arm(serverId: string): void {
    this.cancel(serverId);
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(serverId);
      this.onExpire(serverId);
    }, this.periodMs);
    this.timers.set(serverId, timer);
  }

  /** Returns whether a window was running. */
  cancel(serverId: string): boolean {
    const timer = this.timers.get(serverId);
    if (timer === undefined) return false;
    this.clock.clearTimeout(timer);
    this.timers.delete(serverId);
    return true;
  }

  clear(): void {
    for (const timer of this.timers.values()) this.clock.clearTimeout(timer);
    this.timers.clear();
  }
}
