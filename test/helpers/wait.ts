// Waiting for a condition instead of sleeping a fixed time: the test goes on the
// moment the relay gets there, and a loaded machine only makes it slower.
import type { Socket } from 'node:net';

/** Polls `cond` (which may read a metric) until it holds; rejects after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves when `cond` holds after some bytes arrived on a raw socket; rejects after `ms` or on close. */
export function untilData(sock: Socket, cond: () => boolean, ms = 3000, what = 'data'): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      sock.off('data', check);
      sock.off('close', closed);
      if (err === undefined) resolve();
      else reject(err);
    };
    // Listeners run in order: the test's own 'data' listener has appended the bytes already.
    const check = (): void => {
      if (cond()) done();
    };
    const closed = (): void => done(cond() ? undefined : new Error(`socket closed before ${what}`));
    const timer = setTimeout(() => done(new Error(`no ${what} within ${ms} ms`)), ms);
    sock.on('data', check);
    sock.on('close', closed);
  });
}

/** Resolves on the `n`th emission of `event` counted from now; rejects after `ms`. */
export function nth(emitter: NodeJS.EventEmitter, event: string, n: number, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      emitter.off(event, count);
      reject(new Error(`${seen} of ${n} × ${event} within ${ms} ms`));
    }, ms);
    function count(): void {
      if (++seen < n) return;
      clearTimeout(timer);
      emitter.off(event, count);
      resolve();
    }
    emitter.on(event, count);
  });
}
