// One measured run of one workload against one target: starts the processes
// (pinned: target on its core, echo side and generator on the other), runs the
// generator, and turns its counts into per-second and per-frame figures.
import { fileURLToPath } from 'node:url';
import type { GeneratorResult, GeneratorSpec } from './generator.js';
import { startCluster, type Cluster } from './cluster.js';
import { startNginx, type Nginx } from './nginx.js';
import { statusKiB } from './proc.js';
import { makeBenchCert, removeBenchCert, tlsEnv, type BenchTls } from './secure.js';
import type { Target, Workload } from './settings.js';
import { freePort, GENERATOR_CORE, spawnPinned, stop, TARGET_CORE, waitExit, waitPort, waitStdout, type Child } from './spawn.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
export const RELAY_CLI = here('../../src/cli/main.js');
export const ECHO = here('./echo.js');
const GENERATOR = here('./generator.js');
const NODE_PIPE = here('./node-pipe.js');
const WS_PIPE = here('./ws-pipe.js');

export interface Measurement {
  target: Target;
  workload: string;
  roundTripsPerSec: number;
  /** Frames the target moved per second: 2 per round trip through a hop, 1 for the echo server. */
  framesPerSec: number;
  latencyUs: GeneratorResult['latencyUs'];
  /**
   * Target CPU µs per forwarded (relay, nginx) or echoed (direct) frame. For the
   * cluster targets: both relay nodes plus redis-server together.
   */
  cpuUsPerFrame: number;
  /** Cluster targets: the same per process (node-a holds the binaries, node-b, redis). */
  cpuUsPerFrameBy?: Record<string, number>;
  /** Cluster targets: Redis PUBLISH calls per forwarded frame over the window (bus batching). */
  publishesPerFrame?: number;
  /** Share of one core, over the measured window. */
  cpuPct: { target: number; echo: number; generator: number };
  peakRssKiB: number;
  errors: number;
  errorDetail: GeneratorResult['errors'];
}

/** Environment for the relay process only; BENCH_RELAY_NODE_PATH lets an optional native addon be tried. */
export function relayEnv(): NodeJS.ProcessEnv {
  const extra = process.env.BENCH_RELAY_NODE_PATH;
  return extra === undefined ? process.env : { ...process.env, NODE_PATH: extra };
}

/** V8 flags the relay ships with (docs/performance.md, workload v). */
export const DEPLOYED_NODE_ARGS = '--max-semi-space-size=4';

export function relayArgs(port: number, extra: string[] = [], tls?: BenchTls): string[] {
  // The relay runs with the node flags it is deployed with (bin shebang, Dockerfile,
  // systemd unit); BENCH_RELAY_NODE_ARGS replaces them (e.g. '' or --cpu-prof).
  const nodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? DEPLOYED_NODE_ARGS).split(' ').filter((a) => a !== '');
  // BENCH_RELAY_CLI: another build of the relay's CLI, for before/after comparisons.
  return [
    ...nodeArgs,
    process.env.BENCH_RELAY_CLI ?? RELAY_CLI,
    ...(tls === undefined
      ? ['--insecure-listen', `127.0.0.1:${port}`]
      : ['--tls-cert', tls.cert, '--tls-key', tls.key, '--https-listen', `127.0.0.1:${port}`]),
    '--log-level',
    'warn',
    '--metrics-listen',
    '',
    '--max-connections',
    '1000000',
    '--max-connections-per-ip',
    '0',
    '--rate-limit-burst',
    '1000000',
    '--max-phones-per-server',
    '100000',
    ...extra,
  ];
}

export async function runOnce(target: Target, w: Workload, warmupMs: number, durationMs: number): Promise<Measurement> {
  const children: Child[] = [];
  let nginx: Nginx | undefined;
  const tls = w.tls === true ? makeBenchCert() : undefined;
  const scheme = tls === undefined ? 'ws' : 'wss';
  // Every benchmark process that dials over TLS reads the certificate from BENCH_TLS_CA.
  const dialEnv = tls === undefined ? process.env : tlsEnv(tls);
  let cluster: Cluster | undefined;
  try {
    const serverIds = Array.from({ length: w.servers }, (_, i) => `bench-s${i}`);
    let url: string;
    let targetPid: number;
    let echoPid: number;
    /** Further processes under test whose CPU counts toward the target's (cluster targets). */
    const alsoPids: Record<string, number> = {};
    let redisPort: number | undefined;
    if (target === 'cluster-same' || target === 'cluster-cross') {
      // Redis and two nodes, all on the target core; the echo binaries dial node A,
      // the phones node A (same-node pairs) or node B (every frame crosses the bus).
      cluster = await startCluster({ nodes: 2 });
      const echo = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'binaries', cluster.urls[0]!, serverIds.join(',')]);
      children.push(echo);
      await waitStdout(echo, 'ready');
      // A claim is visible cluster-wide within 1 s of the 101 (cluster.md §2).
      await new Promise((r) => setTimeout(r, 1000));
      url = cluster.urls[target === 'cluster-same' ? 0 : 1]!;
      targetPid = cluster.nodes[0]!.pid;
      alsoPids['node-b'] = cluster.nodes[1]!.pid;
      alsoPids.redis = cluster.redis.pid;
      redisPort = cluster.redisPort;
      echoPid = echo.pid;
    } else if (target === 'relay' || target === 'ws-pipe') {
      const port = await freePort();
      const relay =
        target === 'relay'
          ? spawnPinned(TARGET_CORE, process.execPath, relayArgs(port, [], tls), relayEnv())
          : spawnPinned(TARGET_CORE, process.execPath, [WS_PIPE, String(port)]);
      children.push(relay);
      await waitPort(port);
      url = `${scheme}://127.0.0.1:${port}`;
      const echo = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'binaries', url, serverIds.join(',')], dialEnv);
      children.push(echo);
      await waitStdout(echo, 'ready');
      targetPid = relay.pid;
      echoPid = echo.pid;
    } else {
      const echoPort = await freePort();
      // The echo server takes the target core when it is the target; behind a hop it shares the generator's.
      const core = target === 'direct' ? TARGET_CORE : GENERATOR_CORE;
      const echo = spawnPinned(core, process.execPath, [ECHO, 'server', String(echoPort)]);
      children.push(echo);
      await waitStdout(echo, 'ready');
      echoPid = echo.pid;
      if (target === 'direct') {
        url = `ws://127.0.0.1:${echoPort}`;
        targetPid = echo.pid;
      } else if (target === 'node-pipe') {
        const port = await freePort();
        const pipe = spawnPinned(TARGET_CORE, process.execPath, [NODE_PIPE, String(port), String(echoPort)]);
        children.push(pipe);
        await waitStdout(pipe, 'ready');
        url = `ws://127.0.0.1:${port}`;
        targetPid = pipe.pid;
      } else {
        const port = await freePort();
        nginx = await startNginx(TARGET_CORE, port, echoPort, 1000, tls);
        url = `${scheme}://127.0.0.1:${port}`;
        targetPid = nginx.workerPids[0]!; // one worker for up to 1,000 connections
      }
    }
    const spec: GeneratorSpec = {
      url,
      relay: target !== 'direct' && target !== 'nginx' && target !== 'node-pipe',
      serverIds,
      phonesPerServer: w.phonesPerServer,
      window: w.window,
      bytes: w.bytes,
      warmupMs,
      durationMs,
      pids: { target: targetPid, echo: echoPid, ...alsoPids },
      ...(redisPort === undefined ? {} : { redisPort }),
    };
    const gen = spawnPinned(GENERATOR_CORE, process.execPath, [GENERATOR, JSON.stringify(spec)], dialEnv);
    const code = await waitExit(gen, warmupMs + durationMs + 60_000);
    if (code !== 0) throw new Error(`generator failed (${code}): ${gen.stderr}`);
    const res = JSON.parse(gen.stdout.trim().split('\n').pop()!) as GeneratorResult;
    const peakRssKiB = statusKiB(targetPid, 'VmHWM');
    const hop = target === 'direct' ? 1 : 2;
    const frames = res.roundTrips * hop;
    const ms = res.seconds * 1000;
    const e = res.errors;
    const perFrame = (cpu: number): number => (frames > 0 ? (cpu * 1000) / frames : 0);
    let targetCpuMs = res.cpuMs.target!;
    let cpuUsPerFrameBy: Record<string, number> | undefined;
    if (Object.keys(alsoPids).length > 0) {
      cpuUsPerFrameBy = { 'node-a': perFrame(res.cpuMs.target!) };
      for (const k of Object.keys(alsoPids)) {
        cpuUsPerFrameBy[k] = perFrame(res.cpuMs[k]!);
        targetCpuMs += res.cpuMs[k]!;
      }
    }
    return {
      target,
      workload: w.id,
      roundTripsPerSec: res.roundTrips / res.seconds,
      framesPerSec: frames / res.seconds,
      latencyUs: res.latencyUs,
      cpuUsPerFrame: perFrame(targetCpuMs),
      ...(cpuUsPerFrameBy === undefined ? {} : { cpuUsPerFrameBy }),
      ...(res.redisCalls === undefined || frames === 0 ? {} : { publishesPerFrame: (res.redisCalls.publish ?? 0) / frames }),
      cpuPct: {
        target: (100 * targetCpuMs) / ms,
        // For direct, the echo server is the target; its core is not shared with the generator.
        echo: target === 'direct' ? 0 : (100 * res.cpuMs.echo!) / ms,
        generator: (100 * res.cpuMs.generator!) / ms,
      },
      peakRssKiB,
      errors: e.lost + e.duplicated + e.reordered + e.corrupt + e.closed,
      errorDetail: e,
    };
  } finally {
    await nginx?.stop();
    for (const c of children.reverse()) await stop(c);
    if (tls !== undefined) removeBenchCert(tls);
    await cluster?.stop();
  }
}
