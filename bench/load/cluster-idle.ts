// Cluster idle capacity (issue #13): N nodes on one Redis, S server-ids whose
// echo binaries are spread over the nodes, and P idle phones per node spread
// round-robin over all S server-ids (so most pairs cross nodes), with WebSocket
// heartbeats on. Reports Redis's used_memory (INFO memory) per registered phone:
// (with the phones − with the binaries only) ÷ phones, read after the phones were
// held through at least two heartbeat rounds. Then everything leaves in order —
// phones, binaries (their grace windows expire), nodes — and the key count is
// read after each step. Once every connection has ended, Redis may hold nothing
// but the live nodes' own keys (cluster.md §3): the generation, the node set, the
// epoch counter and each node's request-replay hash. Any other key is per-server-id
// or per-phone state left behind, and counts against the target.
import { fileURLToPath } from 'node:url';
import { info, startCluster } from './cluster.js';
import { ECHO } from './run.js';
import { GENERATOR_CORE, spawnPinned, stop, waitStdout, type Child } from './spawn.js';

const IDLE_PHONES = fileURLToPath(new URL('./idle-phones.js', import.meta.url));
const GRACE = '2s';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ClusterIdleResult {
  nodes: number;
  servers: number;
  phones: number;
  held: number;
  /** used_memory with the binaries only, and with the phones too (bytes). */
  baseUsedBytes: number;
  loadedUsedBytes: number;
  bytesPerPhone: number;
  keysWithBinaries: number;
  keysLoaded: number;
  /** DBSIZE after the phones left, after the binaries' grace expired, after the nodes stopped. */
  keysAfterPhones: number;
  keysAfterBinaries: number;
  keysAfterNodes: number;
  /** Names of keys left after the binaries (the live nodes' own, when all is well), at most 20. */
  leftAfterBinaries: string[];
  /** Of those, keys that are not the nodes' own: per-server-id or per-phone state. */
  stateKeysLeft: number;
  /** Names of keys left after the nodes stopped, at most 20. */
  leftAfterNodes: string[];
  connectSeconds: number;
  droppedDuringHold: number;
}

/** Keys of cluster-wide and per-node state (keys.ts), allowed while nodes live. */
const NODE_OWN = /^bench:(gen|nodes|epoch|lr:.*)$/;

async function allKeys(r: Awaited<ReturnType<typeof startCluster>>['admin']): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', '*', 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0' && out.length < 100_000);
  return out.sort();
}

/** Polls DBSIZE until it is at most `want` or `ms` passed; returns the last value. */
async function settleKeys(dbsize: () => Promise<number>, want: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const n = await dbsize();
    if (n <= want || Date.now() > end) return n;
    await sleep(250);
  }
}

export async function runClusterIdle(
  nodes: number,
  phonesPerNode: number,
  servers: number,
  holdMs: number,
  heartbeatMs: number,
): Promise<ClusterIdleResult> {
  const hb = `${heartbeatMs}ms`;
  const cluster = await startCluster({
    nodes,
    extra: ['--heartbeat-interval', hb, '--heartbeat-timeout', hb, '--header-timeout', '60s', '--grace-period', GRACE],
  });
  const children: Child[] = [];
  try {
    const ids = Array.from({ length: servers }, (_, i) => `bench-c${i}`);
    const echoes: Child[] = [];
    for (let n = 0; n < nodes; n++) {
      const mine = ids.filter((_, i) => i % nodes === n);
      if (mine.length === 0) continue;
      const e = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'binaries', cluster.urls[n]!, mine.join(',')]);
      children.push(e);
      echoes.push(e);
      await waitStdout(e, 'ready', 60_000);
    }
    // Claims visible cluster-wide (cluster.md §2), then the baseline.
    await sleep(1500);
    const dbsize = (): Promise<number> => cluster.admin.dbsize();
    const keysWithBinaries = await dbsize();
    const baseUsedBytes = (await info(cluster.admin, 'memory')).get('used_memory')!;

    // Two phone processes per node, each from its own source address.
    const t0 = Date.now();
    const gens: Child[] = [];
    const perProc = [Math.ceil(phonesPerNode / 2), Math.floor(phonesPerNode / 2)];
    for (let n = 0; n < nodes; n++) {
      for (let k = 0; k < 2; k++) {
        if (perProc[k] === 0) continue;
        const g = spawnPinned(GENERATOR_CORE, process.execPath, [
          IDLE_PHONES,
          cluster.urls[n]!,
          ids.join(','),
          String(perProc[k]),
          `127.0.${10 + n}.${2 + k}`,
        ]);
        children.push(g);
        gens.push(g);
      }
    }
    await Promise.all(gens.map((g) => waitStdout(g, 'open ', 600_000)));
    const connectSeconds = (Date.now() - t0) / 1000;
    await sleep(Math.max(holdMs, 2 * heartbeatMs + 1000));
    const loadedUsedBytes = (await info(cluster.admin, 'memory')).get('used_memory')!;
    const keysLoaded = await dbsize();
    const phones = nodes * phonesPerNode;

    let dropped = 0;
    for (const g of gens) {
      await stop(g);
      const m = /closed (\d+)/.exec(g.stdout);
      dropped += m === null ? phones / gens.length : Number(m[1]);
    }
    const keysAfterPhones = await settleKeys(dbsize, keysWithBinaries, 30_000);
    for (const e of echoes) await stop(e);
    // Grace windows expire (2 s) and are popped by the nodes' sweeps.
    await sleep(2500);
    const keysAfterBinaries = await settleKeys(dbsize, 0, 15_000);
    const left = await allKeys(cluster.admin);
    const stateKeysLeft = left.filter((k) => !NODE_OWN.test(k)).length;
    for (const node of [...cluster.nodes].reverse()) await stop(node);
    const keysAfterNodes = await settleKeys(dbsize, 0, 5000);
    const leftAfterNodes = (await allKeys(cluster.admin)).slice(0, 20);
    return {
      nodes,
      servers,
      phones,
      held: phones - dropped,
      baseUsedBytes,
      loadedUsedBytes,
      bytesPerPhone: phones > 0 ? (loadedUsedBytes - baseUsedBytes) / phones : NaN,
      keysWithBinaries,
      keysLoaded,
      keysAfterPhones,
      keysAfterBinaries,
      keysAfterNodes,
      leftAfterBinaries: left.slice(0, 20),
      stateKeysLeft,
      leftAfterNodes,
      connectSeconds,
      droppedDuringHold: dropped,
    };
  } finally {
    for (const c of children.reverse()) await stop(c);
    await cluster.stop();
  }
}
