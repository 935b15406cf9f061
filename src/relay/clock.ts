// The relay core's notion of time (decision 0013): a monotonic millisecond
// clock and one-shot/periodic timers, injected so unit tests can run deadlines,
// grace windows and sweeps on a fake clock instead of sleeping. The real clock
// is the only place src/relay reads the time or arms a timer.

/** An armed timer, opaque to callers; pass it back to clear it. */
export type TimerHandle = object;

export interface Clock {
  /** Milliseconds on a monotonic scale (never steps back); for durations and deadlines only. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(timer: TimerHandle | undefined): void;
  /** A periodic timer that never keeps the process alive on its own. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(timer: TimerHandle | undefined): void;
}

// performance.now() is monotonic; anchored to the time origin and floored it
// keeps the whole-millisecond scale the logs' `duration` fields always had.
const origin = performance.timeOrigin;

export const realClock: Clock = {
  now: () => Math.floor(origin + performance.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout | undefined),
};
