// Phone lifecycle cost (issue #13): how many Redis round trips a phone's connect
// and disconnect cost, and how long from a phone's dial to its first frame at the
// binary. Run against a single relay (`relay`, no Redis) and against two cluster
// nodes with the phones on the binary's node (`cluster-same`) or the other one
// (`cluster-cross`).
//
// The driver is one child process on the generator's core holding the binary and
// the phones, so both ends of the latency share one clock:
//   0. warm-up: a few phones connect, send, close (scripts loaded, code paths hot).
//   1. background: INFO commandstats around idle windows (one before the batches,
//      one after) gives the rate of what the nodes send anyway (membership
//      heartbeats, the reap/grace poll, bus probes), per command.
//   2. round trips: C phones connect one after another (each awaits its 101), then
//      all close (1000) and the binary's C close notices are awaited; around each
//      batch INFO commandstats is read. Round trips are the calls of commands a
//      client sends (EVALSHA, PUBLISH, …; cluster.ts) minus the background rate
//      over the batch's duration, divided by C; the raw count is kept too.
//   3. latency: L phones one after another: dial → open → send one frame → the
//      binary has the envelope; then the phone closes and its close notice is
//      awaited before the next.
//   4. Redis hop (cluster only): L messages of 1 KiB, one at a time, PUBLISHed on
//      one connection and received on another (ioredis both ends, as the bus):
//      the floor of one bus hop on this machine. A cross-node round trip at (i)
//      takes two.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { commandCalls, roundTrips, startCluster, type Cluster } from './cluster.js';
import { Histogram } from './histogram.js';
import { isMain } from './proc.js';
import { relayArgs, relayEnv } from './run.js';
import { freePort, GENERATOR_CORE, spawnPinned, stop, TARGET_CORE, waitExit, waitPort, type Child } from './spawn.js';

const DRIVER = fileURLToPath(import.meta.url);

export type LifecycleTarget = 'relay' | 'cluster-same' | 'cluster-cross';

interface DriverSpec {
  binaryUrl: string;
  phoneUrl: string;
  redisPort: number | undefined;
  connects: number;
  latencySamples: number;
  backgroundMs: number;
}

interface Batch {
  /** Round trips with the background subtracted, and without. */
  total: number;
  raw: number;
  /** Per command, background subtracted (script-internal commands included, for the record). */
  by: Record<string, number>;
  ms: number;
}

interface DriverResult {
  connectRoundTrips: Batch | undefined;
  disconnectRoundTrips: Batch | undefined;
  /** Background round trips per second while idle. */
  backgroundPerSec: number | undefined;
  firstFrameUs: { p50: number; p90: number; p99: number };
  openUs: { p50: number };
  hopUs: { p50: number; p99: number } | undefined;
}

export interface LifecycleResult {
  target: LifecycleTarget;
  connects: number;
  latencySamples: number;
  /** Redis round trips per phone connect / disconnect (undefined without Redis). */
  perConnect?: number;
  perDisconnect?: number;
  /** The same before subtracting the background. */
  rawPerConnect?: number;
  rawPerDisconnect?: number;
  backgroundPerSec?: number;
  connectBy?: Record<string, number>;
  disconnectBy?: Record<string, number>;
  firstFrameUs: { p50: number; p90: number; p99: number };
  /** Dial → 101 (the part of the first-frame latency spent connecting), p50 µs. */
  openUs?: { p50: number };
  /** PUBLISH → message on another connection, p50/p99 µs (cluster only). */
  hopUs?: { p50: number; p99: number };
}

const SERVER_ID = 'bench-life';
const WARMUP_PHONES = 10;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A binary that hands each incoming text message to whoever waits for the next one. */
class Binary {
  readonly ws: WebSocket;
  private waiting: Array<(m: string) => void> = [];
  private queue: string[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(`${url}/v1/server`, {
      perMessageDeflate: false,
      headers: { 'x-pyrycode-server': SERVER_ID, 'x-pyrycode-version': 'bench', 'user-agent': 'bench-life' },
    });
    this.ws.on('message', (d: Buffer) => {
      const m = d.toString();
      const w = this.waiting.shift();
      if (w !== undefined) w(m);
      else this.queue.push(m);
    });
  }

  next(timeoutMs = 10_000): Promise<string> {
    const q = this.queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('binary: nothing arrived')), timeoutMs);
      this.waiting.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed ${code} before open`)));
  });
}

function phone(url: string, n: number): WebSocket {
  const ws = new WebSocket(`${url}/v1/client`, {
    perMessageDeflate: false,
    headers: { 'x-pyrycode-server': SERVER_ID, 'x-pyrycode-token': 'bench', 'user-agent': 'bench-life', 'x-pyrycode-device-name': `l${n}` },
  });
  ws.on('error', () => undefined);
  return ws;
}

/** Waits for the binary's close notice ({"conn_id":…,"close_code":…}), skipping anything else. */
async function closeNotice(b: Binary): Promise<void> {
  for (;;) if ((await b.next()).includes('"close_code"')) return;
}

/** One phone's dial → 101 and dial → first frame at the binary, in µs; the phone then closes and its notice is awaited. */
async function firstFrame(b: Binary, url: string, n: number): Promise<{ open: number; frame: number }> {
  const t0 = performance.now();
  const p = phone(url, n);
  await opened(p);
  const open = (performance.now() - t0) * 1000;
  p.send('{"first":1}');
  const env = await b.next();
  const frame = (performance.now() - t0) * 1000;
  if (!env.includes('"first":1')) throw new Error(`unexpected envelope: ${env.slice(0, 80)}`);
  p.close(1000);
  await closeNotice(b);
  return { open, frame };
}

type Snapshot = { calls: Map<string, number>; at: number };

async function snapshot(r: Redis): Promise<Snapshot> {
  return { calls: await commandCalls(r), at: performance.now() };
}

function batch(a: Snapshot, z: Snapshot, bg: { total: number; by: Record<string, number> } | undefined): Batch {
  const ms = z.at - a.at;
  const rt = roundTrips(a.calls, z.calls);
  const by: Record<string, number> = {};
  for (const [k, v] of Object.entries(rt.by)) by[k] = v - ((bg?.by[k] ?? 0) * ms) / 1000;
  return { total: rt.total - ((bg?.total ?? 0) * ms) / 1000, raw: rt.total, by, ms };
}

async function drive(spec: DriverSpec): Promise<DriverResult> {
  const b = new Binary(spec.binaryUrl);
  await opened(b.ws);
  // A claim is visible cluster-wide within 1 s of the 101 (cluster.md §2).
  await sleep(spec.redisPort === undefined ? 100 : 1000);
  for (let i = 0; i < WARMUP_PHONES; i++) await firstFrame(b, spec.phoneUrl, -1 - i);
  const redis = spec.redisPort === undefined ? undefined : new Redis({ port: spec.redisPort, host: '127.0.0.1' });
  let connectRoundTrips: Batch | undefined;
  let disconnectRoundTrips: Batch | undefined;
  let backgroundPerSec: number | undefined;
  if (redis !== undefined && spec.connects > 0) {
    const i0 = await snapshot(redis);
    await sleep(spec.backgroundMs);
    const i1 = await snapshot(redis);
    const phones: WebSocket[] = [];
    const s0 = await snapshot(redis);
    for (let i = 0; i < spec.connects; i++) {
      const p = phone(spec.phoneUrl, i);
      await opened(p);
      phones.push(p);
    }
    // The 101 follows the registration; a cross-node join is published in the same turn.
    await sleep(100);
    const s1 = await snapshot(redis);
    for (const p of phones) p.close(1000);
    for (let i = 0; i < phones.length; i++) await closeNotice(b);
    await sleep(100);
    const s2 = await snapshot(redis);
    await sleep(spec.backgroundMs);
    const i2 = await snapshot(redis);
    const idleMs = i1.at - i0.at + (i2.at - s2.at);
    const a = roundTrips(i0.calls, i1.calls);
    const z = roundTrips(s2.calls, i2.calls);
    const perSec = (n: number): number => (n * 1000) / idleMs;
    const by: Record<string, number> = {};
    for (const k of new Set([...Object.keys(a.by), ...Object.keys(z.by)])) by[k] = perSec((a.by[k] ?? 0) + (z.by[k] ?? 0));
    const bg = { total: perSec(a.total + z.total), by };
    backgroundPerSec = bg.total;
    connectRoundTrips = batch(s0, s1, bg);
    disconnectRoundTrips = batch(s1, s2, bg);
  }
  const hist = new Histogram();
  const openHist = new Histogram();
  for (let i = 0; i < spec.latencySamples; i++) {
    const t = await firstFrame(b, spec.phoneUrl, spec.connects + i);
    hist.record(t.frame);
    openHist.record(t.open);
  }
  b.ws.terminate();
  const hopUs = redis === undefined ? undefined : await redisHop(redis, spec.latencySamples);
  redis?.disconnect();
  return {
    connectRoundTrips,
    disconnectRoundTrips,
    backgroundPerSec,
    hopUs,
    firstFrameUs: { p50: hist.quantile(0.5), p90: hist.quantile(0.9), p99: hist.quantile(0.99) },
    openUs: { p50: openHist.quantile(0.5) },
  };
}

/** One message at a time: PUBLISH on `pub`, received by a subscriber connection. */
async function redisHop(pub: Redis, samples: number): Promise<{ p50: number; p99: number }> {
  const sub = pub.duplicate();
  const channel = 'bench-hop';
  await sub.subscribe(channel);
  const payload = Buffer.alloc(1024, 0x61);
  const hist = new Histogram();
  let arrived: (() => void) | undefined;
  sub.on('messageBuffer', () => arrived?.());
  for (let i = 0; i < samples + 10; i++) {
    const got = new Promise<void>((r) => (arrived = r));
    const t0 = performance.now();
    void pub.publish(channel, payload);
    await got;
    if (i >= 10) hist.record((performance.now() - t0) * 1000);
  }
  sub.disconnect();
  return { p50: hist.quantile(0.5), p99: hist.quantile(0.99) };
}

function perPhone(by: Record<string, number> | undefined, n: number): Record<string, number> | undefined {
  return by === undefined ? undefined : Object.fromEntries(Object.entries(by).map(([k, v]) => [k, Math.round((100 * v) / n) / 100]));
}

/** One lifecycle run of `target`: fresh processes, the driver on the generator core. */
export async function runLifecycle(
  target: LifecycleTarget,
  connects: number,
  latencySamples: number,
  backgroundMs = 3000,
): Promise<LifecycleResult> {
  let cluster: Cluster | undefined;
  let relay: Child | undefined;
  try {
    let spec: DriverSpec;
    if (target === 'relay') {
      const port = await freePort();
      relay = spawnPinned(TARGET_CORE, process.execPath, relayArgs(port), relayEnv());
      await waitPort(port);
      const url = `ws://127.0.0.1:${port}`;
      spec = { binaryUrl: url, phoneUrl: url, redisPort: undefined, connects: 0, latencySamples, backgroundMs };
    } else {
      cluster = await startCluster({ nodes: 2 });
      spec = {
        binaryUrl: cluster.urls[0]!,
        phoneUrl: cluster.urls[target === 'cluster-same' ? 0 : 1]!,
        redisPort: cluster.redisPort,
        connects,
        latencySamples,
        backgroundMs,
      };
    }
    const d = spawnPinned(GENERATOR_CORE, process.execPath, [DRIVER, JSON.stringify(spec)]);
    const code = await waitExit(d, 120_000 + connects * 100 + latencySamples * 100);
    if (code !== 0) throw new Error(`lifecycle driver failed (${code}): ${d.stderr}`);
    const r = JSON.parse(d.stdout.trim().split('\n').pop()!) as DriverResult;
    return {
      target,
      connects: spec.connects,
      latencySamples,
      perConnect: r.connectRoundTrips === undefined ? undefined : r.connectRoundTrips.total / connects,
      perDisconnect: r.disconnectRoundTrips === undefined ? undefined : r.disconnectRoundTrips.total / connects,
      rawPerConnect: r.connectRoundTrips === undefined ? undefined : r.connectRoundTrips.raw / connects,
      rawPerDisconnect: r.disconnectRoundTrips === undefined ? undefined : r.disconnectRoundTrips.raw / connects,
      backgroundPerSec: r.backgroundPerSec,
      ...(r.hopUs === undefined ? {} : { hopUs: r.hopUs }),
      connectBy: perPhone(r.connectRoundTrips?.by, connects),
      disconnectBy: perPhone(r.disconnectRoundTrips?.by, connects),
      firstFrameUs: r.firstFrameUs,
      openUs: r.openUs,
    };
  } finally {
    await stop(relay);
    await cluster?.stop();
  }
}

if (isMain(import.meta.url)) {
  drive(JSON.parse(process.argv[2]!) as DriverSpec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`lifecycle: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
