// Starting and stopping the processes a benchmark run needs: every child is
// pinned to a core with taskset, has its open-file limit raised to the hard limit,
// and killed by its own pid when the run ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { availableParallelism } from 'node:os';

export const GENERATOR_CORE = '0';
export const TARGET_CORE = '1';
/** With a single usable core (some CI runners) nothing is pinned. */
const PIN = availableParallelism() >= 2;

export interface Child {
  proc: ChildProcess;
  pid: number;
  stdout: string;
  stderr: string;
}

/** Spawns `cmd args` pinned to `core`, soft nofile raised to the hard limit (the pid stays the command's: both exec). */
export function spawnPinned(core: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const pin = PIN ? ['taskset', '-c', core] : [];
  const proc = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'sh', ...pin, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const child: Child = { proc, pid: proc.pid ?? -1, stdout: '', stderr: '' };
  proc.stdout?.on('data', (d: Buffer) => (child.stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (child.stderr += d.toString()));
  return child;
}

/** Resolves once `text` appears on the child's stdout; rejects on exit or timeout. */
export function waitStdout(child: Child, text: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for "${text}": ${child.stderr}`)), timeoutMs);
    const check = (): void => {
      if (child.stdout.includes(text)) done();
    };
    const onExit = (code: number | null): void => done(new Error(`exited (${code}) before "${text}": ${child.stderr}`));
    function done(err?: Error): void {
      clearTimeout(timer);
      child.proc.stdout?.off('data', check);
      child.proc.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
    child.proc.stdout?.on('data', check);
    child.proc.once('exit', onExit);
    setImmediate(check);
  });
}

/** Resolves with the exit code once the child exits (bounded by `timeoutMs`, then SIGKILL). */
export function waitExit(child: Child, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) return resolve(child.proc.exitCode);
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), timeoutMs);
    child.proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export async function stop(child: Child | undefined): Promise<void> {
  if (child === undefined || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  await waitExit(child, 3000);
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitPort(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listening on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Ports this process handed out lately: the kernel may offer a just-closed port again. */
const recent: number[] = [];
const RECENT_MAX = 512;

/**
 * A loopback port that was free a moment ago, and not one this process handed out
 * lately: two calls in a row (a listener and its metrics port) once got the same port.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (recent.includes(port)) continue;
    recent.push(port);
    if (recent.length > RECENT_MAX) recent.shift();
    return port;
  }
}

/**
 * A redis-server on a loopback port that keeps nothing: no snapshots, no AOF, in the
 * foreground, warnings only. The benchmark's Redis and the tests' (test/helpers/redis.ts).
 */
export function ephemeralRedisArgs(port: number): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    '',
    '--loglevel',
    'warning',
  ];
}
