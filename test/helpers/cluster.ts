// Cluster test fixture: relay CHILD processes (the built CLI) sharing one real
// redis-server, each on its own loopback port with its metrics listener, short
// cluster timings, and helpers to read a node's series and /healthz.
import type { ChildProcess } from 'node:child_process';
import { cells, httpRequest, scrape } from './http.js';
import { freePort, spawnCli, waitExit, waitForStderr } from './process.js';
import { connectBinary, connectPhone, newServerId, phoneConnId, sleep, type TestClient } from './clients.js';
import type { RedisServer } from './redis.js';

export interface NodeOptions {
  nodeId: string;
  /** Extra flags; they come after the defaults, so they win. */
  args?: string[];
  prefix?: string;
  /** Dial Redis here instead (e.g. through a TcpProxy to cut the node off). */
  redisUrl?: string;
}

/** Defaults for cluster tests: a 3 s TTL (the floor), short grace and probe. */
export const CLUSTER_DEFAULTS = [
  '--cluster-node-ttl',
  '3s',
  '--grace-period',
  '2s',
  '--conflict-probe-timeout',
  '1s',
  '--drain-timeout',
  '3s',
  // Every test client dials from 127.0.0.1.
  '--rate-limit-burst',
  '100000',
  '--max-connections-per-ip',
  '100000',
];

export class RelayNode {
  constructor(
    readonly nodeId: string,
    readonly child: ChildProcess & { out: { stdout: string; stderr: string } },
    readonly port: number,
    readonly metricsPort: number,
  ) {}

  get base(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** The value of one sample, e.g. `pyrycode_relay_cluster_bus_frames_total{direction="out"}`; 0 when absent. */
  async metric(cell: string): Promise<number> {
    return cells(await scrape(this.metricsPort)).get(cell) ?? 0;
  }

  async healthz(): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await httpRequest(this.port, '/healthz');
    return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
  }

  /** Log lines (JSON) with this event. */
  events(event: string): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.child.out.stderr.split('\n')) {
      if (!line.includes(`"event":"${event}"`)) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial line: ignore
      }
    }
    return out;
  }

  waitLog(pattern: RegExp, ms = 10_000): Promise<void> {
    return waitForStderr(this.child, pattern, ms);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await waitExit(this.child, 15_000).catch(() => this.child.kill('SIGKILL'));
  }
}

export async function startNode(redis: RedisServer, opts: NodeOptions): Promise<RelayNode> {
  // freePort() only says a port was free a moment ago: on a busy machine another process
  // can bind it before the child does. That is the harness's race, not the relay's, so a
  // start that fails with EADDRINUSE is retried on fresh ports (any other failure throws).
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const metricsPort = await freePort();
    const child = spawnCli(
      [
        '--insecure-listen',
        `127.0.0.1:${port}`,
        '--metrics-listen',
        `127.0.0.1:${metricsPort}`,
        '--node-id',
        opts.nodeId,
        '--cluster-prefix',
        opts.prefix ?? 'rt',
        ...CLUSTER_DEFAULTS,
        ...(opts.args ?? []),
      ],
      { PYRYCODE_RELAY_REDIS_URL: opts.redisUrl ?? redis.url },
    );
    await waitForStderr(child, /relay_started|"event":"listen_failed"/, 15_000);
    if (!child.out.stderr.includes('"event":"listen_failed"')) return new RelayNode(opts.nodeId, child, port, metricsPort);
    // It exits 1 by itself after leaving the cluster; a kill would leave its entry to the reaper.
    await waitExit(child, 15_000).catch(() => child.kill('SIGKILL'));
    if (attempt >= 3 || !child.out.stderr.includes('EADDRINUSE')) throw new Error(`node ${opts.nodeId} did not start: ${child.out.stderr}`);
  }
}

/** Starts `ids.length` nodes on one Redis, one after another (each joins before it listens). */
export async function startNodes(redis: RedisServer, ids: string[], args: string[] = [], prefix?: string): Promise<RelayNode[]> {
  const out: RelayNode[] = [];
  for (const nodeId of ids) out.push(await startNode(redis, { nodeId, args, prefix }));
  return out;
}

/** Frames carried by a node's bus, both directions: 0 means a pair never touched it. */
export async function busFrames(node: RelayNode): Promise<number> {
  const c = cells(await scrape(node.metricsPort));
  return (
    (c.get('pyrycode_relay_cluster_bus_frames_total{direction="out"}') ?? 0) +
    (c.get('pyrycode_relay_cluster_bus_frames_total{direction="in"}') ?? 0)
  );
}

/** A claim is visible cluster-wide within 1 s of the 101 (cluster.md §2); tests wait that long. */
export const CLAIM_VISIBLE_MS = 1000;

/** A cross-node pair: a binary claims a fresh server-id on `binaryNode`, one phone of it dials `phoneNode` and says hello. */
export async function splitPair(
  binaryNode: RelayNode,
  phoneNode: RelayNode,
): Promise<{ sid: string; binary: TestClient; phone: TestClient; connId: string }> {
  const sid = newServerId();
  const binary = await connectBinary(binaryNode.base, sid);
  await sleep(CLAIM_VISIBLE_MS);
  const phone = await connectPhone(phoneNode.base, sid);
  return { sid, binary, phone, connId: await phoneConnId(phone, binary) };
}
