// Smoke test of the load benchmark (bench/load): a real relay process, echo
// binaries and the generator, for a fraction of a second each. Asserts the
// harness works end to end — frames flow, none lost, duplicated, reordered or
// corrupted — not any performance figure (the full run is `npm run bench:load`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runOnce, type Measurement } from '../../bench/load/run.js';
import { runHandshakes, runStorm } from '../../bench/load/secure-runs.js';
import type { Workload } from '../../bench/load/settings.js';

const TINY: Workload = { id: 'smoke', title: 'smoke: 3×2, W=2, 300 B', servers: 3, phonesPerServer: 2, window: 2, bytes: 300 };
/** ws-pipe pairs one phone per server-id. */
const TINY_SINGLE: Workload = { ...TINY, title: 'smoke: 3×1, W=2, 300 B', phonesPerServer: 1 };

function assertClean(m: Measurement): void {
  assert.deepEqual(m.errorDetail, { lost: 0, duplicated: 0, reordered: 0, corrupt: 0, closed: 0 });
  assert.ok(m.roundTripsPerSec > 0, 'no round trips');
  assert.ok(m.latencyUs.p50 > 0);
  assert.ok(m.peakRssKiB > 0);
}

describe('bench:load smoke', () => {
  for (const target of ['relay', 'direct'] as const) {
    test(`${target}: frames round-trip with no errors`, { timeout: 20_000 }, async () => {
      assertClean(await runOnce(target, TINY, 100, 400));
    });
  }
  test('ws-pipe: frames round-trip with no errors', { timeout: 20_000 }, async () => {
    assertClean(await runOnce('ws-pipe', TINY_SINGLE, 100, 400));
  });
});

describe('bench:load smoke, secure workloads', () => {
  test('relay over TLS (--tls-cert): frames round-trip with no errors', { timeout: 30_000 }, async () => {
    assertClean(await runOnce('relay', { ...TINY, id: 'smoke-tls', tls: true }, 100, 400));
  });
  test('(vi) handshakes, full and resumed: every dial completes; resumed ones resume', { timeout: 60_000 }, async () => {
    for (const resume of [false, true]) {
      const h = await runHandshakes('relay', resume, { concurrency: 2, warmupMs: 200, durationMs: 600, run: 0 });
      assert.deepEqual(h.errors, { refused: 0, failed: 0, corrupt: 0 });
      assert.ok(h.connsPerSec > 0 && h.cpuUsPerConn > 0, JSON.stringify(h));
      if (resume) assert.ok(h.resumedShare > 0.9, `resumed ${h.resumedShare}`);
      else assert.equal(h.resumedShare, 0);
    }
  });
  for (const target of ['relay', 'nginx', 'direct'] as const) {
    test(`(vii) storm against ${target}: every phone paired and echoed`, { timeout: 60_000 }, async () => {
      const s = await runStorm(target, { phones: 40, servers: 4, run: 0 });
      assert.deepEqual(s.errors, { refused: 0, failed: 0, corrupt: 0 });
      assert.equal(s.paired, 40);
      assert.equal(s.binaryFailures, 0);
      assert.ok(s.cpuUsPerPhone > 0);
    });
  }
});
