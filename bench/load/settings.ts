// Benchmark settings: the workloads of issue #6 and the run lengths, overridable
// from the environment so the suite can be smoke-run in seconds.
//   BENCH_QUICK=1           short warm-up/duration, one run, small idle count
//   BENCH_WARMUP_MS, BENCH_DURATION_MS, BENCH_RUNS
//   BENCH_WORKLOADS=i,ii    subset of workloads (i..v; secure: ii-tls, vi, vii, viii)
//   BENCH_TARGETS=relay,nginx  subset of targets (relay, direct, nginx, node-pipe, ws-pipe)
//   BENCH_IDLE_PHONES=19000 BENCH_IDLE_PROCS=4 BENCH_IDLE_HOLD_MS=12000
//   BENCH_RESULTS_NAME=latest  file name under bench/results/
// Secure workloads: BENCH_HANDSHAKE_CONCURRENCY=16 (vi), BENCH_STORM_PHONES=10000
//   BENCH_STORM_SERVERS=500 (vii), BENCH_TLS_IDLE_PHONES=19000 (viii).
// Cluster mode (issue #13): targets cluster-same and cluster-cross run every
// workload; workload `life` (phone lifecycle: Redis round trips, connect → first
// frame) and `vc` (cluster idle capacity: Redis memory per phone, keys left):
//   BENCH_LIFE_CONNECTS=500 BENCH_LIFE_SAMPLES=300
//   BENCH_CLUSTER_NODES=3 BENCH_CLUSTER_PHONES_PER_NODE=6000 BENCH_CLUSTER_SERVERS=600
// Relay process only: BENCH_RELAY_NODE_ARGS (node flags), BENCH_RELAY_NODE_PATH
// (e.g. to try bufferutil), BENCH_RELAY_CLI (another build, see ab.ts).
export type Target = 'relay' | 'direct' | 'nginx' | 'node-pipe' | 'ws-pipe' | 'cluster-same' | 'cluster-cross';
export const TARGETS: readonly Target[] = ['relay', 'direct', 'nginx', 'node-pipe', 'ws-pipe', 'cluster-same', 'cluster-cross'];

/**
 * ws-pipe pairs one phone with one binary, so it only runs single-phone workloads;
 * workloads over TLS compare the relay with nginx only.
 */
export function runsOn(t: Target, w: Workload): boolean {
  if (w.tls === true) return t === 'relay' || t === 'nginx';
  return t !== 'ws-pipe' || w.phonesPerServer === 1;
}

export interface Workload {
  id: string;
  title: string;
  servers: number;
  phonesPerServer: number;
  window: number;
  bytes: number;
  /** Over TLS 1.3 (secure.ts): the relay terminates it itself, nginx in front of the echo server. */
  tls?: boolean;
}

export const WORKLOADS: readonly Workload[] = [
  { id: 'i', title: 'latency: 1×1, W=1, 1 KiB', servers: 1, phonesPerServer: 1, window: 1, bytes: 1024 },
  { id: 'ii', title: 'throughput: 1×16, W=8, 1 KiB', servers: 1, phonesPerServer: 16, window: 8, bytes: 1024 },
  { id: 'iii', title: 'fan-out: 100×4, W=2, 1 KiB', servers: 100, phonesPerServer: 4, window: 2, bytes: 1024 },
  { id: 'iv', title: 'bytes: 1×4, W=4, 64 KiB', servers: 1, phonesPerServer: 4, window: 4, bytes: 65536 },
  { id: 'ii-tls', title: 'throughput over TLS: 1×16, W=8, 1 KiB', servers: 1, phonesPerServer: 16, window: 8, bytes: 1024, tls: true },
];

export interface Settings {
  quick: boolean;
  warmupMs: number;
  durationMs: number;
  runs: number;
  workloads: Workload[];
  idle: boolean;
  targets: Target[];
  idlePhones: number;
  idleProcs: number;
  idleHoldMs: number;
  heartbeatMs: number;
  secure: SecureSettings;
  lifecycle: boolean;
  lifeConnects: number;
  lifeSamples: number;
  clusterIdle: boolean;
  clusterNodes: number;
  clusterPhonesPerNode: number;
  clusterServers: number;
}

export interface SecureSettings {
  /** (vi) handshake cost, full and resumed. */
  handshakes: boolean;
  /** (vii) reconnect storm. */
  storm: boolean;
  /** (viii) idle secure connections. */
  idle: boolean;
  concurrency: number;
  stormPhones: number;
  stormServers: number;
  idlePhones: number;
}

function num(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
}

export function loadSettings(): Settings {
  const quick = process.env.BENCH_QUICK === '1';
  const pick = (process.env.BENCH_WORKLOADS ?? 'i,ii,iii,iv,v,ii-tls,vi,vii,viii,life,vc').split(',').map((s) => s.trim());
  const targets = (process.env.BENCH_TARGETS ?? TARGETS.join(',')).split(',').map((s) => s.trim()) as Target[];
  for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
  return {
    quick,
    warmupMs: num('BENCH_WARMUP_MS', quick ? 300 : 2000),
    durationMs: num('BENCH_DURATION_MS', quick ? 1000 : 5000),
    runs: num('BENCH_RUNS', quick ? 1 : 3),
    workloads: WORKLOADS.filter((w) => pick.includes(w.id)),
    idle: pick.includes('v'),
    targets,
    idlePhones: num('BENCH_IDLE_PHONES', quick ? 1000 : 19000),
    idleProcs: num('BENCH_IDLE_PROCS', 4),
    idleHoldMs: num('BENCH_IDLE_HOLD_MS', quick ? 2500 : 12000),
    heartbeatMs: num('BENCH_HEARTBEAT_MS', quick ? 1000 : 5000),
    secure: {
      handshakes: pick.includes('vi'),
      storm: pick.includes('vii'),
      idle: pick.includes('viii'),
      concurrency: num('BENCH_HANDSHAKE_CONCURRENCY', 16),
      stormPhones: num('BENCH_STORM_PHONES', quick ? 300 : 10_000),
      stormServers: num('BENCH_STORM_SERVERS', quick ? 15 : 500),
      idlePhones: num('BENCH_TLS_IDLE_PHONES', quick ? 300 : 19_000),
    },
    lifecycle: pick.includes('life'),
    lifeConnects: Math.max(1, num('BENCH_LIFE_CONNECTS', quick ? 30 : 500)),
    lifeSamples: Math.max(1, num('BENCH_LIFE_SAMPLES', quick ? 30 : 300)),
    clusterIdle: pick.includes('vc'),
    clusterNodes: Math.max(1, num('BENCH_CLUSTER_NODES', 3)),
    clusterPhonesPerNode: num('BENCH_CLUSTER_PHONES_PER_NODE', quick ? 200 : 6000),
    clusterServers: Math.max(1, num('BENCH_CLUSTER_SERVERS', quick ? 20 : 600)),
  };
}
