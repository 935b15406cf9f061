// Load generator process: opens P phones per server-id, keeps W frames in flight
// per phone, and after a warm-up counts round trips and RTTs for a fixed window,
// sampling the CPU of the processes under test over exactly that window. Every
// reply must be the byte-identical frame with the next sequence number for that
// phone: anything else is an error (lost, duplicated, reordered, corrupt).
//
// Lean by construction: each in-flight slot owns one prepared, pre-masked frame
// that is re-stamped (10 bytes) only after its reply arrives, written straight
// to the socket; all sends made while handling one socket read are corked into
// a single writev. Prints one JSON line and exits.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { commandCalls } from './cluster.js';
import { Histogram } from './histogram.js';
import { makeFrame, readSeq, SEQ_DIGITS, SEQ_OFFSET, stampSeq } from './frames.js';
import { cpuMs, isMain, socketOf } from './proc.js';
import { clientTls } from './secure.js';
import { MaskedFrame } from './wsframe.js';

export interface GeneratorSpec {
  url: string;
  /** Relay mode: path /v1/client plus the headers a phone sends. */
  relay: boolean;
  serverIds: string[];
  phonesPerServer: number;
  window: number;
  bytes: number;
  warmupMs: number;
  durationMs: number;
  /** Processes whose CPU time is sampled over the measured window, by label. */
  pids: Record<string, number>;
  /** Cluster targets: Redis whose command calls are counted over the measured window. */
  redisPort?: number;
}

export interface GeneratorResult {
  roundTrips: number;
  seconds: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number };
  errors: { lost: number; duplicated: number; reordered: number; corrupt: number; closed: number };
  cpuMs: Record<string, number>;
  /** Calls per Redis command over the measured window (cluster targets). */
  redisCalls?: Record<string, number>;
}

const DRAIN_MS = 5000;

const hist = new Histogram();
const errors = { lost: 0, duplicated: 0, reordered: 0, corrupt: 0, closed: 0 };
let measuring = false;
let running = true;
let roundTrips = 0;
let inFlight = 0;
let onIdle: (() => void) | undefined;

class Phone {
  /** Unmasked frame per in-flight slot (what the reply must equal) and its masked wire form. */
  readonly slots: Buffer[] = [];
  readonly wire: MaskedFrame[] = [];
  readonly sentAt: Float64Array;
  nextSend = 0;
  nextExpect = 0;
  corked = false;
  readonly ws: WebSocket;

  constructor(spec: GeneratorSpec, serverId: string, n: number) {
    for (let i = 0; i < spec.window; i++) {
      const frame = makeFrame(spec.bytes);
      this.slots.push(frame);
      this.wire.push(new MaskedFrame(frame));
    }
    this.sentAt = new Float64Array(spec.window);
    const headers = spec.relay
      ? { 'x-pyrycode-server': serverId, 'x-pyrycode-token': 'bench', 'user-agent': 'bench-load', 'x-pyrycode-device-name': `p${n}` }
      : {};
    const tls = spec.url.startsWith('wss:') ? clientTls() : {};
    this.ws = new WebSocket(spec.relay ? `${spec.url}/v1/client` : spec.url, { headers, perMessageDeflate: false, ...tls });
    this.ws.on('message', (data: Buffer) => this.onMessage(data));
    this.ws.on('close', () => {
      if (running) errors.closed++;
    });
    this.ws.on('error', () => undefined);
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
  }

  start(): void {
    for (let i = 0; i < this.slots.length; i++) this.send();
  }

  private send(): void {
    const seq = this.nextSend++;
    const slot = seq % this.slots.length;
    const frame = this.slots[slot]!;
    stampSeq(frame, seq);
    const wire = this.wire[slot]!;
    wire.patch(frame, SEQ_OFFSET, SEQ_OFFSET + SEQ_DIGITS);
    this.sentAt[slot] = performance.now();
    const socket = socketOf(this.ws);
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this);
    }
    inFlight++;
    // Pre-framed, pre-masked: only the sequence digits were re-masked above.
    socket.write(wire.head);
    socket.write(wire.body);
  }

  private onMessage(data: Buffer): void {
    const now = performance.now();
    const seq = readSeq(data);
    inFlight--;
    if (seq !== this.nextExpect) {
      if (seq >= 0 && seq < this.nextExpect) errors.duplicated++;
      else errors.reordered++;
      // Resynchronise so one fault is counted once.
      if (seq > this.nextExpect) this.nextExpect = seq + 1;
      return;
    }
    this.nextExpect++;
    const slot = seq % this.slots.length;
    if (!data.equals(this.slots[slot]!)) errors.corrupt++;
    if (measuring) {
      roundTrips++;
      hist.record((now - this.sentAt[slot]!) * 1000);
    }
    if (running) this.send();
    else if (inFlight === 0 && onIdle !== undefined) onIdle();
  }
}

function uncork(p: Phone): void {
  p.corked = false;
  socketOf(p.ws).uncork();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function sampleCpu(pids: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, pid] of Object.entries(pids)) out[label] = cpuMs(pid);
  const self = process.cpuUsage();
  out.generator = (self.user + self.system) / 1000;
  return out;
}

export async function runGenerator(spec: GeneratorSpec): Promise<GeneratorResult> {
  const phones: Phone[] = [];
  let n = 0;
  for (const id of spec.serverIds) {
    for (let i = 0; i < spec.phonesPerServer; i++) phones.push(new Phone(spec, id, n++));
  }
  await Promise.all(phones.map((p) => p.opened()));
  for (const p of phones) p.start();
  const redis = spec.redisPort === undefined ? undefined : new Redis({ port: spec.redisPort, host: '127.0.0.1' });
  await sleep(spec.warmupMs);

  const callsBefore = redis === undefined ? undefined : await commandCalls(redis);
  const before = sampleCpu(spec.pids);
  const t0 = performance.now();
  measuring = true;
  await sleep(spec.durationMs);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const after = sampleCpu(spec.pids);
  let redisCalls: Record<string, number> | undefined;
  if (redis !== undefined && callsBefore !== undefined) {
    redisCalls = {};
    for (const [k, v] of await commandCalls(redis)) if (v !== (callsBefore.get(k) ?? 0)) redisCalls[k] = v - (callsBefore.get(k) ?? 0);
    redis.disconnect();
  }

  // Stop sending and wait for every in-flight frame: what never returns is lost.
  running = false;
  if (inFlight > 0) {
    await Promise.race([new Promise<void>((r) => (onIdle = r)), sleep(DRAIN_MS)]);
  }
  errors.lost += Math.max(0, inFlight);
  for (const p of phones) p.ws.terminate();

  const cpu: Record<string, number> = {};
  for (const k of Object.keys(after)) cpu[k] = after[k]! - before[k]!;
  return {
    roundTrips,
    seconds,
    latencyUs: { p50: hist.quantile(0.5), p90: hist.quantile(0.9), p99: hist.quantile(0.99), p999: hist.quantile(0.999) },
    errors: { ...errors },
    cpuMs: cpu,
    ...(redisCalls === undefined ? {} : { redisCalls }),
  };
}

// Child-process entry: the spec arrives as JSON in argv[2].
if (isMain(import.meta.url)) {
  const spec = JSON.parse(process.argv[2]!) as GeneratorSpec;
  runGenerator(spec).then(
    (res) => {
      process.stdout.write(`${JSON.stringify(res)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`generator: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
