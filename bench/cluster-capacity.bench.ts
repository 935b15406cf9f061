// The measurements behind docs/cluster.md's capacity model, from real processes: a
// redis-server and two relay nodes in cluster mode (the CLI, as deployed). Redis's own
// INFO commandstats counts every command, including those run inside the registry's
// Lua scripts, so each phase reports round trips (EVALSHA/PUBLISH) and inner commands
// per event, and Redis CPU per script call:
//  - idle: the background of heartbeats, reaper and grace sweeps and bus self-probes;
//  - binary claim / release, phone register / unregister, grace expiry (N each);
//  - bus: frames of a pair split across the nodes, bytes on the bus per frame.
//   npm run bench:cluster        (BENCH_N=200 events per phase, BENCH_IDLE_MS=10000)
import { connectBinary, connectPhone, newServerId, noiseFrame, sleep, type TestClient } from '../test/helpers/clients.js';
import { cells, scrape } from '../test/helpers/http.js';
import { freePort, spawnCli, waitForStderr } from '../test/helpers/process.js';
import { RedisServer } from '../test/helpers/redis.js';

const N = Number(process.env.BENCH_N ?? 200);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 2000);
const FRAME_BYTES = 1024;

const redis = await RedisServer.start();
const nodes: Array<{ port: number; metricsPort: number; child: ReturnType<typeof spawnCli> }> = [];
for (const id of ['bench-a', 'bench-b']) {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawnCli(
    [
      '--insecure-listen',
      `127.0.0.1:${port}`,
      '--metrics-listen',
      `127.0.0.1:${metricsPort}`,
      '--node-id',
      id,
      '--grace-period',
      '1s',
    ].concat(['--rate-limit-burst', '100000', '--rate-limit-refill', '1ms', '--max-connections-per-ip', '0']),
    { PYRYCODE_RELAY_REDIS_URL: redis.url },
  );
  nodes.push({ port, metricsPort, child });
}
await Promise.all(nodes.map((n) => waitForStderr(n.child, /"relay_started"/, 30_000)));
const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
const urlA = `ws://127.0.0.1:${a.port}`;
const urlB = `ws://127.0.0.1:${b.port}`;

interface Stats {
  calls: Map<string, number>;
  usec: Map<string, number>;
  cpu: number;
  netIn: number;
  netOut: number;
  memory: number;
}

async function stats(): Promise<Stats> {
  const info = await redis.command('INFO', 'everything');
  const calls = new Map<string, number>();
  const usec = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)/gm)) {
    calls.set(m[1] ?? '', Number(m[2]));
    usec.set(m[1] ?? '', Number(m[3]));
  }
  const num = (k: string): number => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    calls,
    usec,
    cpu: num('used_cpu_user') + num('used_cpu_sys'),
    netIn: num('total_net_input_bytes'),
    netOut: num('total_net_output_bytes'),
    memory: num('used_memory'),
  };
}

/** What happened in Redis between two snapshots, minus the INFO calls themselves. */
function delta(
  s0: Stats,
  s1: Stats,
): { top: Map<string, number>; inner: number; total: number; usec: Map<string, number>; cpuMs: number; netIn: number; netOut: number } {
  const top = new Map<string, number>();
  const usec = new Map<string, number>();
  let total = 0;
  for (const [k, v] of s1.calls) {
    if (k === 'info') continue;
    const d = v - (s0.calls.get(k) ?? 0);
    if (d === 0) continue;
    top.set(k, d);
    usec.set(k, (s1.usec.get(k) ?? 0) - (s0.usec.get(k) ?? 0));
    total += d;
  }
  const roundTrips = ['evalsha', 'eval', 'publish', 'subscribe', 'ping'].reduce((s, k) => s + (top.get(k) ?? 0), 0);
  return {
    top,
    inner: total - roundTrips,
    total,
    usec,
    cpuMs: (s1.cpu - s0.cpu) * 1000,
    netIn: s1.netIn - s0.netIn,
    netOut: s1.netOut - s0.netOut,
  };
}

const rows: string[] = [];
let idlePerMs = 0;
let idleScriptsPerMs = 0;
const scriptCalls = (d: ReturnType<typeof delta>): number => (d.top.get('evalsha') ?? 0) + (d.top.get('eval') ?? 0);

/** One table row; the idle background's share of the phase's duration is subtracted. */
function report(phase: string, events: number, d: ReturnType<typeof delta>, ms: number): void {
  const scripts = scriptCalls(d);
  const perCall = scripts > 0 ? ((d.usec.get('evalsha') ?? 0) + (d.usec.get('eval') ?? 0)) / scripts : 0;
  const perEvent = (scripts - idleScriptsPerMs * ms) / events;
  rows.push(
    `| ${phase} | ${events} | ${perEvent.toFixed(2)} | ${((d.total - idlePerMs * ms) / events).toFixed(1)} | ${perCall.toFixed(1)} | ${ms} |`,
  );
}

// Idle background.
const i0 = await stats();
const t0 = Date.now();
await sleep(IDLE_MS);
const i1 = await stats();
const idleMs = Date.now() - t0;
const idle = delta(i0, i1);
idlePerMs = idle.total / idleMs;
idleScriptsPerMs = scriptCalls(idle) / idleMs;
console.log(
  `idle, 2 nodes, ${idleMs} ms: ${idle.total} commands (${((idle.total / idleMs) * 1000).toFixed(1)}/s, ${((scriptCalls(idle) / idleMs) * 1000).toFixed(1)} script calls/s), ` +
    `Redis CPU ${((idle.cpuMs / idleMs) * 100).toFixed(2)} %, by command:`,
  Object.fromEntries(idle.top),
);

async function phase(name: string, events: number, run: () => Promise<void>): Promise<void> {
  const s0 = await stats();
  const start = Date.now();
  await run();
  const s1 = await stats();
  const ms = Date.now() - start;
  const d = delta(s0, s1);
  report(name, events, d, ms);
  console.log(
    `${name}: ${events} events in ${ms} ms, Redis used_memory ${((s1.memory - s0.memory) / events).toFixed(0)} B per event, commands:`,
    Object.fromEntries(d.top),
  );
}

const ids = Array.from({ length: N }, () => newServerId());
const binaries: TestClient[] = [];
await phase('binary claim', N, async () => {
  for (const id of ids) binaries.push(await connectBinary(urlA, id));
  await sleep(200);
});
const phones: TestClient[] = [];
await phase('phone register (binary on the same node)', N, async () => {
  for (const [i, id] of ids.entries()) {
    const p = await connectPhone(urlA, id);
    p.send(noiseFrame(64, 0));
    await binaries[i]!.next(3000);
    phones.push(p);
  }
});
await phase('phone unregister', N, async () => {
  for (const p of phones) {
    p.close();
    await p.waitClose();
  }
  await sleep(300);
});
await phase('binary release into grace + grace expiry (1 s)', N, async () => {
  for (const bin of binaries) {
    bin.close();
    await bin.waitClose();
  }
  await sleep(2500);
});

// Bus: one pair split across the nodes, frames phone → binary and back, W in flight.
const busId = newServerId();
const binary = await connectBinary(urlA, busId);
await sleep(300);
const phone = await connectPhone(urlB, busId);
phone.send(noiseFrame(FRAME_BYTES, 0));
const first = /^\{"conn_id":"([^"]+)"/.exec(await binary.next(3000))?.[1] ?? '';
const busCells = async (): Promise<{ bytes: number; frames: number; batches: number; cpu: number }> => {
  let bytes = 0;
  let frames = 0;
  let batches = 0;
  let cpu = 0;
  for (const n of nodes) {
    const c = cells(await scrape(n.metricsPort));
    cpu += c.get('pyrycode_relay_process_cpu_seconds_total') ?? 0;
    bytes += c.get('pyrycode_relay_cluster_bus_bytes_total{direction="out"}') ?? 0;
    frames += c.get('pyrycode_relay_cluster_bus_frames_total{direction="out"}') ?? 0;
    batches += c.get('pyrycode_relay_cluster_bus_batches_total{direction="out"}') ?? 0;
  }
  return { bytes, frames, batches, cpu };
};
for (const window of [1, 16]) {
  const c0 = await busCells();
  const s0 = await stats();
  const start = Date.now();
  for (let sent = 0; sent < FRAMES; sent += window) {
    for (let k = 0; k < window; k++) phone.send(noiseFrame(FRAME_BYTES, sent + k));
    for (let k = 0; k < window; k++) {
      await binary.next(5000);
      binary.send(`{"conn_id":"${first}","frame":${noiseFrame(FRAME_BYTES, sent + k)}}`);
    }
    for (let k = 0; k < window; k++) await phone.next(5000);
  }
  const ms = Date.now() - start;
  const s1 = await stats();
  const c1 = await busCells();
  const d = delta(s0, s1);
  const frames = c1.frames - c0.frames;
  const batches = c1.batches - c0.batches;
  const overhead = (c1.bytes - c0.bytes - frames * FRAME_BYTES) / frames;
  const pubUsec = (d.usec.get('publish') ?? 0) / Math.max(1, d.top.get('publish') ?? 1);
  console.log(
    `bus, ${FRAME_BYTES} B frames both ways, ${window} in flight: ${frames} frames in ${batches} batches (${(frames / batches).toFixed(2)} per PUBLISH), ` +
      `${overhead.toFixed(1)} B bus overhead per frame, Redis net in ${(d.netIn / frames).toFixed(0)} B + out ${(d.netOut / frames).toFixed(0)} B per frame, ` +
      `${pubUsec.toFixed(1)} µs Redis per PUBLISH, Redis CPU ${((d.cpuMs * 1000) / frames).toFixed(1)} µs per frame, ` +
      `both nodes' CPU ${(((c1.cpu - c0.cpu) * 1e6) / frames).toFixed(0)} µs per frame, ${((frames / ms) * 1000).toFixed(0)} frames/s`,
  );
}
phone.close();
binary.close();

console.log(
  '\n| phase | events | script calls per event | Redis commands per event (inner included, idle background subtracted) | µs Redis per script call | ms |',
);
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);

for (const n of nodes) {
  n.child.ref();
  n.child.kill('SIGTERM');
}
await Promise.all(nodes.map((n) => new Promise((r) => (n.child.exitCode !== null ? r(null) : n.child.once('exit', r)))));
await redis.stop();
process.exit(0);
