// Smoke test of the load benchmark (bench/load): a real relay process, echo
// binaries and the generator, for a fraction of a second each. Asserts the
// harness works end to end — frames flow, none lost, duplicated, reordered or
// corrupted — not any performance figure (the full run is `npm run bench:load`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runOnce } from '../../bench/load/run.js';
import type { Workload } from '../../bench/load/settings.js';

const TINY: Workload = { id: 'smoke', title: 'smoke: 3×2, W=2, 300 B', servers: 3, phonesPerServer: 2, window: 2, bytes: 300 };

describe('bench:load smoke', () => {
  for (const target of ['relay', 'direct'] as const) {
    test(`${target}: frames round-trip with no errors`, { timeout: 20_000 }, async () => {
      const m = await runOnce(target, TINY, 100, 400);
      assert.deepEqual(m.errorDetail, { lost: 0, duplicated: 0, reordered: 0, corrupt: 0, closed: 0 });
      assert.ok(m.roundTripsPerSec > 0, 'no round trips');
      assert.ok(m.latencyUs.p50 > 0);
      assert.ok(m.peakRssKiB > 0);
    });
  }
});
