// Runs the built CLI as a child process, as an operator would, and collects its
// exit code and output.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (bounded by `timeoutMs`). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<Exited> {
  const child = spawnCli(args, env);
  return waitExit(child, timeoutMs);
}

/**
 * Unless a test names --metrics-listen itself, the relay's metrics listener is
 * turned off: its default port 9090 is fixed, and parallel runs would collide.
 */
function withMetricsOff(args: string[]): string[] {
  if (args[0] === 'probe' || args.some((a) => /^--?metrics-listen(=|$)/.test(a))) return args;
  return ['--metrics-listen=', ...args];
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { out: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [CLI, ...withMetricsOff(args)], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { out: { stdout: string; stderr: string } };
  child.out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (child.out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (child.out.stderr += d.toString()));
  reap(child);
  return child;
}

const live = new Set<ChildProcess>();
let reaperInstalled = false;

/**
 * A test that fails half-way must not leave its relay running: the child never
 * keeps the test process alive, and is killed when the test process exits.
 */
export function reap(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
  if (!reaperInstalled) {
    reaperInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

export function waitExit(child: ChildProcess & { out: { stdout: string; stderr: string } }, timeoutMs = 20_000): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not exit within ${timeoutMs} ms; stderr: ${child.out.stderr}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes flush.
      setImmediate(() => resolve({ code, signal, ...child.out }));
    });
  });
}

/** Resolves once `pattern` appears on the child's stderr. */
export function waitForStderr(child: ChildProcess & { out: { stderr: string } }, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (pattern.test(child.out.stderr)) {
        clearTimeout(timer);
        child.stderr?.off('data', check);
        resolve();
        return true;
      }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`no ${pattern} on stderr: ${child.out.stderr}`)), timeoutMs);
    if (!check()) child.stderr?.on('data', check);
  });
}

/** A loopback port that was free a moment ago (shared with the load benchmark). */
export { freePort } from '../../bench/load/spawn.js';
