// The drain spread of a graceful shutdown (operations.md §10): connections are
// closed in the order given (phones first), the first at once and the rest
// evenly over `spreadMs`, so thousands of clients do not all redial in the same
// instant. Timers run on the injected clock; cancel() stops what has not fired.
import type { Clock, TimerHandle } from './clock.js';

export interface DrainSchedule {
  cancel(): void;
}

export function scheduleDrain<T>(clock: Clock, items: readonly T[], spreadMs: number, close: (item: T) => void): DrainSchedule {
  const timers: TimerHandle[] = [];
  const step = items.length > 1 ? spreadMs / (items.length - 1) : 0;
  items.forEach((item, i) => {
    if (spreadMs === 0 || i === 0) close(item);
    else timers.push(clock.setTimeout(() => close(item), Math.round(i * step)));
  });
  return {
    cancel() {
      for (const t of timers) clock.clearTimeout(t);
      timers.length = 0;
    },
  };
}
