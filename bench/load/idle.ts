// Workload (v), idle capacity: one relay (nofile at the hard limit, heartbeats
// every BENCH_HEARTBEAT_MS) holding N idle phones opened by several processes
// from distinct 127.0.0.x addresses. RSS per phone is (RSS with the phones −
// RSS of the relay with just its binary) ÷ N, read after the phones have been
// held through at least two heartbeat rounds, so ping/pong state is included.
import { fileURLToPath } from 'node:url';
import { ECHO, relayArgs, relayEnv } from './run.js';
import { statusKiB } from './proc.js';
import { freePort, GENERATOR_CORE, spawnPinned, stop, TARGET_CORE, waitPort, waitStdout, type Child } from './spawn.js';

const IDLE_PHONES = fileURLToPath(new URL('./idle-phones.js', import.meta.url));

export interface IdleResult {
  phones: number;
  held: number;
  emptyRssKiB: number;
  loadedRssKiB: number;
  peakRssKiB: number;
  kibPerPhone: number;
  droppedDuringHold: number;
  connectSeconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runIdle(phones: number, procs: number, holdMs: number, heartbeatMs: number): Promise<IdleResult> {
  const children: Child[] = [];
  try {
    const port = await freePort();
    const hb = `${heartbeatMs}ms`;
    const relay = spawnPinned(TARGET_CORE, process.execPath, relayArgs(port, ['--heartbeat-interval', hb, '--heartbeat-timeout', hb]), 20000, relayEnv());
    children.push(relay);
    await waitPort(port);
    const url = `ws://127.0.0.1:${port}`;
    const echo = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'binaries', url, 'bench-idle']);
    children.push(echo);
    await waitStdout(echo, 'ready');
    await sleep(1000);
    const emptyRssKiB = statusKiB(relay.pid, 'VmRSS');

    const t0 = Date.now();
    const gens: Child[] = [];
    for (let i = 0; i < procs; i++) {
      const n = Math.floor(phones / procs) + (i < phones % procs ? 1 : 0);
      const g = spawnPinned(GENERATOR_CORE, process.execPath, [IDLE_PHONES, url, 'bench-idle', String(n), `127.0.0.${2 + i}`]);
      gens.push(g);
      children.push(g);
    }
    await Promise.all(gens.map((g) => waitStdout(g, 'open ', 300_000)));
    const connectSeconds = (Date.now() - t0) / 1000;
    await sleep(Math.max(holdMs, 2 * heartbeatMs + 1000));
    const loadedRssKiB = statusKiB(relay.pid, 'VmRSS');
    const peakRssKiB = statusKiB(relay.pid, 'VmHWM');
    let dropped = 0;
    for (const g of gens) {
      await stop(g);
      const m = /closed (\d+)/.exec(g.stdout);
      dropped += m === null ? phones : Number(m[1]);
    }
    return {
      phones,
      held: phones - dropped,
      emptyRssKiB,
      loadedRssKiB,
      peakRssKiB,
      kibPerPhone: (loadedRssKiB - emptyRssKiB) / phones,
      droppedDuringHold: dropped,
      connectSeconds,
    };
  } finally {
    for (const c of children.reverse()) await stop(c);
  }
}
