// `npm run bench:load`: runs every selected workload against the relay and the
// two baselines (direct echo server, nginx in front of it), each configuration
// BENCH_RUNS times with runs interleaved across targets so machine noise hits
// all of them alike, then the idle-capacity run, then the secure workloads
// (vi)-(viii) against the relay and nginx over TLS 1.3; prints the tables and target
// ratios and writes bench/results/latest.{json,md,svg}. Exits 1 on any frame
// error or failed run. See settings.ts for the environment knobs.
// BENCH_REPORT_FROM=bench/results/latest.json re-renders a saved run without measuring.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runClusterIdle, type ClusterIdleResult } from './cluster-idle.js';
import { runIdle, type IdleResult } from './idle.js';
import { runLifecycle, type LifecycleResult } from './lifecycle.js';
import { checks, checksTable, clusterCpuTable, clusterTables, markdownTables, svgChart } from './report.js';
import { runOnce, type Measurement } from './run.js';
import { secureChecks, secureTables, type SecureResults } from './secure-report.js';
import { runHandshakes, runStorm, type SecureTarget } from './secure-runs.js';
import { loadSettings, runsOn, type Settings } from './settings.js';

const RESULTS = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

interface Saved {
  when: string;
  settings: Settings;
  measurements: Measurement[];
  idle: IdleResult[];
  /** Absent in runs saved before the secure workloads existed. */
  secure?: SecureResults;
  lifecycle?: LifecycleResult[];
  clusterIdle?: ClusterIdleResult[];
}

async function measure(): Promise<Saved> {
  const s = loadSettings();
  const all: Measurement[] = [];
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  log(`bench:load warm-up ${s.warmupMs} ms, duration ${s.durationMs} ms, ${s.runs} run(s), targets ${s.targets.join(',')}`);
  for (const w of s.workloads) {
    for (let r = 0; r < s.runs; r++) {
      for (const t of s.targets) {
        if (!runsOn(t, w)) continue;
        const m = await runOnce(t, w, s.warmupMs, s.durationMs);
        all.push(m);
        log(
          `(${w.id}) ${t.padEnd(6)} run ${r + 1}: ${m.roundTripsPerSec.toFixed(0)} rt/s, p50 ${m.latencyUs.p50} µs, p99 ${m.latencyUs.p99} µs, ${m.cpuUsPerFrame.toFixed(2)} µs CPU/frame, errors ${m.errors}`,
        );
      }
    }
  }
  const idle: IdleResult[] = [];
  if (s.idle) {
    for (let r = 0; r < (s.quick ? 1 : Math.min(s.runs, 3)); r++) {
      const res = await runIdle(s.idlePhones, s.idleProcs, s.idleHoldMs, s.heartbeatMs, r);
      idle.push(res);
      log(
        `(v) idle run ${r + 1}: ${res.held}/${res.phones} phones held, ${res.kibPerPhone.toFixed(2)} KiB RSS/phone above empty, marginal ${res.marginalKibPerPhone.toFixed(2)} (empty ${res.emptyRssKiB} KiB, loaded ${res.loadedRssKiB} KiB)`,
      );
    }
  }
  const secure = await measureSecure(s, log);
  const lifecycle: LifecycleResult[] = [];
  if (s.lifecycle) {
    for (let r = 0; r < s.runs; r++) {
      for (const t of ['relay', 'cluster-same', 'cluster-cross'] as const) {
        const res = await runLifecycle(t, s.lifeConnects, s.lifeSamples);
        lifecycle.push(res);
        log(
          `(life) ${t} run ${r + 1}: round trips/connect ${res.perConnect?.toFixed(2) ?? '–'}, /disconnect ${res.perDisconnect?.toFixed(2) ?? '–'}, first frame p50 ${res.firstFrameUs.p50} µs`,
        );
      }
    }
  }
  const clusterIdle: ClusterIdleResult[] = [];
  if (s.clusterIdle) {
    const res = await runClusterIdle(s.clusterNodes, s.clusterPhonesPerNode, s.clusterServers, s.idleHoldMs, s.heartbeatMs);
    clusterIdle.push(res);
    log(
      `(vc) ${res.held}/${res.phones} phones on ${res.nodes} nodes over ${res.servers} server-ids: ${res.bytesPerPhone.toFixed(0)} B Redis memory/phone; keys ${res.keysLoaded} loaded, ${res.keysAfterPhones} after phones, ${res.keysAfterBinaries} after binaries, ${res.keysAfterNodes} after nodes`,
    );
  }
  return { when: new Date().toISOString(), settings: s, measurements: all, idle, secure, lifecycle, clusterIdle };
}

/** (vi)-(viii): the relay, nginx and the Node TLS floor (direct) over TLS, runs interleaved. */
async function measureSecure(s: Settings, log: (line: string) => void): Promise<SecureResults> {
  const out: SecureResults = { handshakes: [], storms: [], idle: [] };
  const targets = (['relay', 'nginx', 'direct'] as const).filter((t): t is SecureTarget => s.targets.includes(t));
  const idleTargets = (['relay', 'nginx', 'direct'] as const).filter((t) => s.targets.includes(t));
  const c = s.secure;
  for (let r = 0; r < s.runs && c.handshakes; r++) {
    for (const resume of [false, true]) {
      for (const t of targets) {
        const h = await runHandshakes(t, resume, { concurrency: c.concurrency, warmupMs: s.warmupMs, durationMs: s.durationMs, run: r });
        out.handshakes.push(h);
        log(
          `(vi) ${t.padEnd(6)} ${resume ? 'resumed' : 'full   '} run ${r + 1}: ${h.connsPerSec.toFixed(0)} conn/s, ${h.cpuUsPerConn.toFixed(0)} µs CPU/conn, resumed ${(100 * h.resumedShare).toFixed(0)} %, errors ${JSON.stringify(h.errors)}`,
        );
      }
    }
  }
  for (let r = 0; r < Math.min(s.runs, 3) && c.storm; r++) {
    for (const t of targets) {
      const st = await runStorm(t, { phones: c.stormPhones, servers: c.stormServers, run: r });
      out.storms.push(st);
      log(
        `(vii) ${t.padEnd(6)} run ${r + 1}: ${st.paired}/${st.phones} phones in ${st.seconds.toFixed(1)} s, ${st.cpuUsPerPhone.toFixed(0)} µs CPU/phone, ${st.retries} 4404 redials, errors ${JSON.stringify(st.errors)}`,
      );
    }
  }
  for (let r = 0; r < (s.quick ? 1 : Math.min(s.runs, 3)) && c.idle; r++) {
    for (const t of idleTargets) {
      const res = await runIdle(c.idlePhones, s.idleProcs, s.idleHoldMs, s.heartbeatMs, r, { tls: true, target: t });
      out.idle.push(res);
      log(
        `(viii) ${t.padEnd(6)} run ${r + 1}: ${res.held}/${res.phones} held, ${res.kibPerPhone.toFixed(2)} KiB RSS/connection above empty, marginal ${res.marginalKibPerPhone.toFixed(2)}`,
      );
    }
  }
  return out;
}

async function main(): Promise<number> {
  const from = process.env.BENCH_REPORT_FROM;
  const saved = from === undefined ? await measure() : (JSON.parse(readFileSync(from, 'utf8')) as Saved);
  const { when, settings: s, measurements: all, idle } = saved;
  const secure = saved.secure ?? { handshakes: [], storms: [], idle: [] };
  const extras = { lifecycle: saved.lifecycle ?? [], clusterIdle: saved.clusterIdle ?? [] };
  const idleMed = [...idle].sort((a, b) => a.kibPerPhone - b.kibPerPhone)[idle.length >> 1];
  const cs = [...checks(all, idleMed?.kibPerPhone, extras), ...secureChecks(secure)];
  const idleMd =
    idle.length === 0
      ? ''
      : [
          '#### (v) idle capacity',
          '',
          '| run | phones held | empty RSS MiB | loaded RSS MiB | KiB RSS per phone (above empty) | marginal KiB per phone (2nd half) | connect s |',
          '|---|---:|---:|---:|---:|---:|---:|',
          ...idle.map(
            (r, i) =>
              `| ${i + 1} | ${r.held}/${r.phones} | ${(r.emptyRssKiB / 1024).toFixed(1)} | ${(r.loadedRssKiB / 1024).toFixed(1)} | ${r.kibPerPhone.toFixed(2)} | ${r.marginalKibPerPhone.toFixed(2)} | ${r.connectSeconds.toFixed(1)} |`,
          ),
          '',
        ].join('\n');
  const md = [
    `### Load benchmark — ${when}`,
    '',
    `Warm-up ${s.warmupMs} ms, measured ${s.durationMs} ms, ${s.runs} run(s) per configuration; cells are median (min–max).`,
    '',
    markdownTables(all, s.workloads, s.targets),
    idleMd,
    secureTables(secure),
    clusterCpuTable(all, s.workloads),
    clusterTables(extras),
    '#### Targets',
    '',
    checksTable(cs),
    '',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  mkdirSync(RESULTS, { recursive: true });
  const prefix =
    process.env.BENCH_RESULTS_NAME ??
    (from !== undefined ? from.replace(/^.*\//, '').replace(/\.json$/, '') : s.quick ? 'quick' : 'latest');
  writeFileSync(`${RESULTS}${prefix}.md`, md);
  writeFileSync(
    `${RESULTS}${prefix}.json`,
    `${JSON.stringify({ when, settings: s, measurements: all, idle, secure, ...extras, checks: cs }, null, 1)}\n`,
  );
  if (all.length > 0)
    writeFileSync(`${RESULTS}${prefix}.svg`, svgChart(all, s.workloads, s.targets, `pyrycode-relay load benchmark, ${when}`));
  const secureErrors = [...secure.handshakes, ...secure.storms].some((x) => x.errors.refused + x.errors.failed + x.errors.corrupt > 0);
  const errors =
    all.some((m) => m.errors > 0) ||
    idle.some((r) => r.droppedDuringHold > 0) ||
    secure.idle.some((r) => r.droppedDuringHold > 0) ||
    extras.clusterIdle.some((r) => r.droppedDuringHold > 0) ||
    secureErrors;
  return errors ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench:load failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
