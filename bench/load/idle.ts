// Workload (v), idle capacity: one relay (nofile at the hard limit, heartbeats
// every BENCH_HEARTBEAT_MS) holding N idle phones opened by several processes
// from distinct 127.0.0.x addresses. RSS per phone is (RSS with the phones −
// RSS of the relay with just its binary) ÷ N (the header timeout is raised so a
// burst of thousands of handshakes on one busy core is not cut), read after the phones have been
// held through at least two heartbeat rounds, so ping/pong state is included.
// The phones arrive in two halves with RSS read after each, so the marginal
// cost per phone (second half only) is reported too: it excludes one-off heap
// growth (V8's young generation grows to its cap under the handshake burst),
// which the "above empty" figure spreads over the phones.
// Secure (viii): the same over TLS 1.3 (secure.ts), against the relay terminating
// TLS itself or nginx terminating it in front of the echo server; for nginx the
// RSS is its workers' (which hold the TLS and upstream sockets), per connection.
// `direct` is the floor for any Node.js relay: the echo server itself on Node's
// https server with ws, holding the same idle phones (no second hop, no pings).
import { fileURLToPath } from 'node:url';
import { ECHO, relayArgs, relayEnv } from './run.js';
import { startNginx, type Nginx } from './nginx.js';
import { statusKiB } from './proc.js';
import { makeBenchCert, removeBenchCert, tlsEnv } from './secure.js';
import { startTlsEcho } from './secure-runs.js';
import { freePort, GENERATOR_CORE, spawnPinned, stop, TARGET_CORE, waitPort, waitStdout, type Child } from './spawn.js';

const IDLE_PHONES = fileURLToPath(new URL('./idle-phones.js', import.meta.url));

export interface IdleResult {
  /** Secure runs: which process was measured (absent: the relay, plain). */
  target?: 'relay' | 'nginx' | 'direct';
  tls?: boolean;
  phones: number;
  held: number;
  emptyRssKiB: number;
  loadedRssKiB: number;
  peakRssKiB: number;
  kibPerPhone: number;
  /** (RSS after all − RSS after the first half) ÷ phones in the second half. */
  marginalKibPerPhone: number;
  droppedDuringHold: number;
  connectSeconds: number;
}

const rssKiB = (pids: number[]): number => pids.reduce((sum, pid) => sum + statusKiB(pid, 'VmRSS'), 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `run` picks fresh 127.0.0.x source addresses so a previous run's TIME_WAIT sockets never collide. */
export async function runIdle(
  phones: number,
  procs: number,
  holdMs: number,
  heartbeatMs: number,
  run = 0,
  opts: { tls?: boolean; target?: 'relay' | 'nginx' | 'direct' } = {},
): Promise<IdleResult> {
  const children: Child[] = [];
  const tls = opts.tls === true ? makeBenchCert() : undefined;
  const env = tls === undefined ? process.env : tlsEnv(tls);
  const target = opts.target ?? 'relay';
  let nginx: Nginx | undefined;
  try {
    const port = await freePort();
    const hb = `${heartbeatMs}ms`;
    let url: string;
    let measured: number[];
    if (target === 'relay') {
      const args = relayArgs(port, ['--heartbeat-interval', hb, '--heartbeat-timeout', hb, '--header-timeout', '60s'], tls);
      const relay = spawnPinned(TARGET_CORE, process.execPath, args, relayEnv());
      children.push(relay);
      await waitPort(port);
      url = `${tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}`;
      const echo = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'binaries', url, 'bench-idle'], env);
      children.push(echo);
      await waitStdout(echo, 'ready');
      measured = [relay.pid];
    } else if (target === 'direct') {
      if (tls === undefined) throw new Error('the direct idle floor is measured over TLS only');
      const echo = await startTlsEcho(port, env, tls);
      children.push(echo);
      url = `wss://127.0.0.1:${port}`;
      measured = [echo.pid];
    } else {
      const echoPort = await freePort();
      const echo = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'server', String(echoPort)]);
      children.push(echo);
      await waitStdout(echo, 'ready');
      nginx = await startNginx(TARGET_CORE, port, echoPort, phones + 10, tls);
      url = `${tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}`;
      measured = nginx.workerPids;
    }
    await sleep(1000);
    const emptyRssKiB = rssKiB(measured);

    const hold = Math.max(holdMs, 2 * heartbeatMs + 1000);
    const gens: Child[] = [];
    const counts: number[] = [];
    for (let i = 0; i < procs; i++) counts.push(Math.floor(phones / procs) + (i < phones % procs ? 1 : 0));
    const half = Math.max(1, Math.floor(procs / 2));
    let connectSeconds = 0;
    const openProcs = async (from: number, to: number): Promise<number> => {
      const t0 = Date.now();
      const batch: Child[] = [];
      for (let i = from; i < to; i++) {
        // Secure runs take their own 127.x range: a plain run's sockets may still be in TIME_WAIT.
        const src = `127.${tls === undefined ? 0 : target === 'relay' ? 30 : target === 'nginx' ? 31 : 32}.${1 + run}.${2 + i}`;
        const g = spawnPinned(GENERATOR_CORE, process.execPath, [IDLE_PHONES, url, 'bench-idle', String(counts[i]), src], env);
        batch.push(g);
        gens.push(g);
        children.push(g);
      }
      await Promise.all(batch.map((g) => waitStdout(g, 'open ', 300_000)));
      connectSeconds += (Date.now() - t0) / 1000;
      await sleep(hold);
      return counts.slice(from, to).reduce((a, b) => a + b, 0);
    };
    await openProcs(0, half);
    const halfRssKiB = rssKiB(measured);
    const secondHalf = await openProcs(half, procs);
    const loadedRssKiB = rssKiB(measured);
    const peakRssKiB = measured.reduce((sum, pid) => sum + statusKiB(pid, 'VmHWM'), 0);
    let dropped = 0;
    for (const g of gens) {
      await stop(g);
      const m = /closed (\d+)/.exec(g.stdout);
      dropped += m === null ? phones : Number(m[1]);
    }
    return {
      ...(opts.tls === true || opts.target !== undefined ? { target, tls: tls !== undefined } : {}),
      phones,
      held: phones - dropped,
      emptyRssKiB,
      loadedRssKiB,
      peakRssKiB,
      kibPerPhone: (loadedRssKiB - emptyRssKiB) / phones,
      marginalKibPerPhone: secondHalf > 0 ? (loadedRssKiB - halfRssKiB) / secondHalf : NaN,
      droppedDuringHold: dropped,
      connectSeconds,
    };
  } finally {
    await nginx?.stop();
    for (const c of children.reverse()) await stop(c);
    if (tls !== undefined) removeBenchCert(tls);
  }
}
