// A real redis-server for cluster tests: Debian's binary on an ephemeral loopback
// port, persistence off, so a test can kill it, pause it (SIGSTOP/SIGCONT) and
// restart it empty on the same port, exactly as the faults of cluster.md §3.
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { ephemeralRedisArgs } from '../../bench/load/spawn.js';
import { freePort, reap } from './process.js';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export class RedisServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  /** Starts a fresh, empty server on a free loopback port. */
  static async start(extraArgs: string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), extraArgs);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async launch(): Promise<void> {
    const child = spawn(REDIS_SERVER, [...ephemeralRedisArgs(this.port), '--maxmemory-policy', 'noeviction', ...this.extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    reap(child);
    this.child = child;
    await waitListening(this.port, 10_000);
  }

  /** SIGKILL, then the same port comes back empty (a restart without persistence). */
  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
  }

  /** SIGKILL and wait for the process to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    // The child is unref'd so a failed test never hangs on it; hold a ref while we wait.
    child.ref();
    child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the server: connections stay open, nothing is answered. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Sends one command with redis-cli semantics over a raw socket and returns the raw reply. */
  async command(...args: string[]): Promise<string> {
    return rawCommand(this.port, args);
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
  }
}

/** One RESP command on a fresh connection; resolves with the raw reply text. */
export function rawCommand(port: number, args: string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${args[0]} timed out`));
    }, timeoutMs);
    sock.on('connect', () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      sock.write(out);
    });
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (replyComplete(buf)) {
        clearTimeout(timer);
        sock.end();
        resolve(buf);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Whether `s` holds one whole RESP2 reply (enough for tests: nesting is walked). */
function replyComplete(s: string): boolean {
  return parseReply(s, 0) !== -1;
}

function parseReply(s: string, at: number): number {
  const eol = s.indexOf('\r\n', at);
  if (eol === -1) return -1;
  const type = s[at];
  const head = s.slice(at + 1, eol);
  if (type === '+' || type === '-' || type === ':') return eol + 2;
  if (type === '$') {
    const n = Number(head);
    if (n < 0) return eol + 2;
    const end = eol + 2 + n + 2;
    return s.length >= end ? end : -1;
  }
  if (type === '*') {
    const n = Number(head);
    let pos = eol + 2;
    for (let i = 0; i < n; i++) {
      pos = parseReply(s, pos);
      if (pos === -1) return -1;
    }
    return pos;
  }
  return -1;
}

async function waitListening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await rawCommand(port, ['PING'], 1000)).startsWith('+PONG')) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
