// Before/after comparison of two relay builds under one workload, runs
// alternating A, B, A, B… so machine noise hits both alike:
//   node dist/bench/load/ab.js <cliA.js> <cliB.js> <workload i..iv> [runs]
// Build "before" from an older commit into its own directory, e.g.
//   git archive <rev> src tsconfig.json | tar -x -C /tmp/before && npx tsc -p /tmp/before
// (with node_modules linked there), then pass /tmp/before/dist/src/cli/main.js.
import { stat } from './report.js';
import { runOnce, type Measurement } from './run.js';
import { loadSettings, WORKLOADS } from './settings.js';

async function main(): Promise<void> {
  const [a, b, id, runsArg] = process.argv.slice(2);
  const w = WORKLOADS.find((x) => x.id === id);
  if (a === undefined || b === undefined || w === undefined) throw new Error('usage: ab.js <cliA> <cliB> <workload> [runs]');
  const s = loadSettings();
  const runs = Number(runsArg ?? 5);
  const res: Record<'A' | 'B', Measurement[]> = { A: [], B: [] };
  for (let r = 0; r < runs; r++) {
    for (const [label, cli] of [
      ['A', a],
      ['B', b],
    ] as const) {
      process.env.BENCH_RELAY_CLI = cli;
      const m = await runOnce('relay', w, s.warmupMs, s.durationMs);
      if (m.errors > 0) throw new Error(`${label}: ${JSON.stringify(m.errorDetail)}`);
      res[label].push(m);
      process.stderr.write(
        `${label} run ${r + 1}: ${m.cpuUsPerFrame.toFixed(2)} µs CPU/frame, ${m.roundTripsPerSec.toFixed(0)} rt/s, p50 ${m.latencyUs.p50} µs\n`,
      );
    }
  }
  for (const label of ['A', 'B'] as const) {
    const c = stat(res[label].map((m) => m.cpuUsPerFrame));
    const t = stat(res[label].map((m) => m.roundTripsPerSec));
    const p = stat(res[label].map((m) => m.latencyUs.p50));
    console.log(
      `${label}: CPU µs/frame ${c.med.toFixed(2)} (${c.min.toFixed(2)}–${c.max.toFixed(2)}), rt/s ${t.med.toFixed(0)}, p50 ${p.med} µs`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
