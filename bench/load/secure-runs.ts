// The secure workloads' runs, each against a freshly started target on the
// target core with the dialer on the other: (vi) handshake cost, full and
// resumed, and (vii) the reconnect storm. The relay terminates TLS with
// --tls-cert/--tls-key; nginx terminates it in front of the echo server (both
// with the same certificate and session tickets on, secure.ts). The relay runs
// with admission limits opened for the load (relayArgs: --max-connections 1000000,
// --max-connections-per-ip 0, --rate-limit-burst 1000000) and, for the storm,
// --header-timeout 60s so a 10,000-connection burst queued on one core is not cut
// by the handshake deadline.
import { fileURLToPath } from 'node:url';
import type { DialResult, DialSpec } from './dialer.js';
import { startNginx, type Nginx } from './nginx.js';
import { ECHO, relayArgs, relayEnv } from './run.js';
import { makeBenchCert, removeBenchCert, tlsEnv } from './secure.js';
import { freePort, GENERATOR_CORE, spawnPinned, stop, TARGET_CORE, waitExit, waitPort, waitStdout, type Child } from './spawn.js';

const DIALER = fileURLToPath(new URL('./dialer.js', import.meta.url));

/** `direct`: the echo server itself over Node's TLS — the floor for any Node relay (not judged). */
export type SecureTarget = 'relay' | 'nginx' | 'direct';

export interface HandshakeResult {
  target: SecureTarget;
  resume: boolean;
  connsPerSec: number;
  /** Target CPU µs per completed connection (handshake + upgrade + one frame each way + close). */
  cpuUsPerConn: number;
  /** Share of the completed connections that resumed a session. */
  resumedShare: number;
  cpuPct: { target: number; generator: number };
  errors: DialResult['errors'];
}

export interface StormResult {
  target: SecureTarget;
  phones: number;
  paired: number;
  seconds: number;
  /** Target CPU µs per phone, storm start to the last phone's echo (binaries' handshakes included). */
  cpuUsPerPhone: number;
  retries: number;
  binaryFailures: number;
  errors: DialResult['errors'];
}

interface Started {
  url: string;
  /** The processes whose CPU is the target's (nginx: every worker). */
  targetPids: number[];
  children: Child[];
  nginx?: Nginx;
}

/** A fresh target over TLS; with `binaries`, echo binaries for those server-ids are connected first (relay). */
async function startTarget(
  target: SecureTarget,
  env: NodeJS.ProcessEnv,
  tls: ReturnType<typeof makeBenchCert>,
  opts: { binaries?: string[]; connections?: number; relayExtra?: string[] },
): Promise<Started> {
  const children: Child[] = [];
  const port = await freePort();
  if (target === 'relay') {
    const relay = spawnPinned(TARGET_CORE, process.execPath, relayArgs(port, opts.relayExtra ?? [], tls), relayEnv());
    children.push(relay);
    await waitPort(port);
    const url = `wss://127.0.0.1:${port}`;
    if (opts.binaries !== undefined) {
      const echo = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'binaries', url, opts.binaries.join(',')], env);
      children.push(echo);
      await waitStdout(echo, 'ready');
    }
    return { url, targetPids: [relay.pid], children };
  }
  if (target === 'direct') {
    const echo = await startTlsEcho(port, env, tls);
    children.push(echo);
    return { url: `wss://127.0.0.1:${port}`, targetPids: [echo.pid], children };
  }
  const echoPort = await freePort();
  const echo = spawnPinned(GENERATOR_CORE, process.execPath, [ECHO, 'server', String(echoPort)]);
  children.push(echo);
  await waitStdout(echo, 'ready');
  const nginx = await startNginx(TARGET_CORE, port, echoPort, opts.connections ?? 1000, tls);
  return { url: `wss://127.0.0.1:${port}`, targetPids: nginx.workerPids, children, nginx };
}

/** The `direct` target: the echo server itself on Node's https server with ws, on the target core. */
export async function startTlsEcho(port: number, env: NodeJS.ProcessEnv, tls: ReturnType<typeof makeBenchCert>): Promise<Child> {
  const echo = spawnPinned(TARGET_CORE, process.execPath, [ECHO, 'server', String(port)], {
    ...env,
    BENCH_TLS_CERT: tls.cert,
    BENCH_TLS_KEY: tls.key,
  });
  await waitStdout(echo, 'ready');
  return echo;
}

async function dialer(spec: DialSpec, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<DialResult> {
  const d = spawnPinned(GENERATOR_CORE, process.execPath, [DIALER, JSON.stringify(spec)], env);
  const code = await waitExit(d, timeoutMs);
  if (code !== 0) throw new Error(`dialer failed (${code}): ${d.stderr}`);
  return JSON.parse(d.stdout.trim().split('\n').pop()!) as DialResult;
}

/** Fresh 127.0.x.y source addresses for run `run`, so earlier runs' TIME_WAIT sockets never collide. */
function sources(run: number, salt: number, n = 8): string[] {
  return Array.from({ length: n }, (_, i) => `127.${10 + salt}.${1 + (run % 250)}.${2 + i}`);
}

export async function runHandshakes(
  target: SecureTarget,
  resume: boolean,
  o: { concurrency: number; warmupMs: number; durationMs: number; run: number },
): Promise<HandshakeResult> {
  const tls = makeBenchCert();
  const env = tlsEnv(tls);
  const ids = ['bench-hs0', 'bench-hs1', 'bench-hs2', 'bench-hs3'];
  let t: Started | undefined;
  try {
    t = await startTarget(target, env, tls, { binaries: ids });
    const res = await dialer(
      {
        mode: 'handshakes',
        url: t.url,
        relay: target === 'relay',
        serverIds: ids,
        localAddresses: sources(o.run, resume ? 1 : 0),
        pids: { target: t.targetPids },
        resume,
        concurrency: o.concurrency,
        warmupMs: o.warmupMs,
        durationMs: o.durationMs,
      },
      env,
      o.warmupMs + o.durationMs + 60_000,
    );
    const ms = res.seconds * 1000;
    return {
      target,
      resume,
      connsPerSec: res.completed / res.seconds,
      cpuUsPerConn: res.completed > 0 ? (res.cpuMs.target! * 1000) / res.completed : NaN,
      resumedShare: res.completed > 0 ? res.resumed / res.completed : 0,
      cpuPct: { target: (100 * res.cpuMs.target!) / ms, generator: (100 * res.cpuMs.generator!) / ms },
      errors: res.errors,
    };
  } finally {
    await t?.nginx?.stop();
    for (const c of (t?.children ?? []).reverse()) await stop(c);
    removeBenchCert(tls);
  }
}

export async function runStorm(target: SecureTarget, o: { phones: number; servers: number; run: number }): Promise<StormResult> {
  const tls = makeBenchCert();
  const env = tlsEnv(tls);
  const ids = Array.from({ length: o.servers }, (_, i) => `bench-storm${i}`);
  let t: Started | undefined;
  try {
    t = await startTarget(target, env, tls, { connections: o.phones + o.servers + 100, relayExtra: ['--header-timeout', '60s'] });
    // Let the fresh process settle so its boot is not counted.
    await new Promise((r) => setTimeout(r, 500));
    const res = await dialer(
      {
        mode: 'storm',
        url: t.url,
        relay: target === 'relay',
        serverIds: ids,
        localAddresses: sources(o.run, 2, 16),
        pids: { target: t.targetPids },
        phones: o.phones,
      },
      env,
      600_000,
    );
    return {
      target,
      phones: o.phones,
      paired: res.completed,
      seconds: res.seconds,
      cpuUsPerPhone: res.completed > 0 ? (res.cpuMs.target! * 1000) / o.phones : NaN,
      retries: res.retries,
      binaryFailures: res.binaryFailures,
      errors: res.errors,
    };
  } finally {
    await t?.nginx?.stop();
    for (const c of (t?.children ?? []).reverse()) await stop(c);
    removeBenchCert(tls);
  }
}
