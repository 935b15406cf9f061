// A fake Clock for unit tests of the relay core: time moves only when the test
// calls advance(), which fires due timers in deadline order (ties in the order
// they were armed), including timers armed by the callbacks it runs.
import type { Clock, TimerHandle } from '../../src/relay/clock.js';

interface FakeTimer {
  due: number;
  seq: number;
  fn: () => void;
  /** Period for an interval; undefined for a one-shot timer. */
  every: number | undefined;
}

export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Set<FakeTimer>();

  constructor(start = 1_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.arm(fn, ms, undefined);
  }

  clearTimeout(timer: TimerHandle | undefined): void {
    this.timers.delete(timer as FakeTimer);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.arm(fn, ms, Math.max(1, ms));
  }

  clearInterval(timer: TimerHandle | undefined): void {
    this.timers.delete(timer as FakeTimer);
  }

  /** Timers currently armed. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.nextDue();
      if (next === undefined || next.due > end) break;
      this.time = next.due;
      if (next.every === undefined) this.timers.delete(next);
      else {
        next.due += next.every;
        next.seq = this.seq++;
      }
      next.fn();
    }
    this.time = end;
  }

  private arm(fn: () => void, ms: number, every: number | undefined): FakeTimer {
    const t: FakeTimer = { due: this.time + Math.max(0, ms), seq: this.seq++, fn, every };
    this.timers.add(t);
    return t;
  }

  private nextDue(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    return best;
  }
}
