// Smoke test of the load benchmark's cluster mode (bench/load, issue #13): a real
// redis-server and relay node processes, tiny counts. Asserts the harness works
// end to end — frames flow through same-node and cross-node pairs with no errors,
// every process under test is sampled, Redis round trips are counted, the idle
// run holds its phones and leaves no per-server-id or per-phone key — not any
// performance figure (the full run is `npm run bench:load`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runClusterIdle } from '../../bench/load/cluster-idle.js';
import { runLifecycle } from '../../bench/load/lifecycle.js';
import { runOnce } from '../../bench/load/run.js';
import type { Workload } from '../../bench/load/settings.js';

const TINY: Workload = { id: 'smoke', title: 'smoke: 2×2, W=2, 300 B', servers: 2, phonesPerServer: 2, window: 2, bytes: 300 };

describe('bench:load cluster smoke', () => {
  for (const target of ['cluster-same', 'cluster-cross'] as const) {
    test(`${target}: frames round-trip with no errors; both nodes and redis sampled`, { timeout: 40_000 }, async () => {
      const m = await runOnce(target, TINY, 100, 500);
      assert.deepEqual(m.errorDetail, { lost: 0, duplicated: 0, reordered: 0, corrupt: 0, closed: 0 });
      assert.ok(m.roundTripsPerSec > 0, 'no round trips');
      assert.deepEqual(Object.keys(m.cpuUsPerFrameBy ?? {}).sort(), ['node-a', 'node-b', 'redis']);
      const parts = Object.values(m.cpuUsPerFrameBy!).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(parts - m.cpuUsPerFrame) < 1e-6, 'total is the sum of the processes');
    });
  }

  test('lifecycle, cross-node: round trips counted per connect and disconnect, first frame timed', { timeout: 60_000 }, async () => {
    const r = await runLifecycle('cluster-cross', 8, 4, 300);
    // At least the registration script per connect and the unregistration per disconnect.
    assert.ok(r.rawPerConnect! >= 1 && r.rawPerDisconnect! >= 1, JSON.stringify(r));
    assert.ok((r.connectBy?.evalsha ?? 0) > 0.5, JSON.stringify(r.connectBy));
    assert.ok((r.connectBy?.publish ?? 0) > 0.5, 'a cross-node join is published');
    assert.ok(r.firstFrameUs.p50 > 0);
  });

  test('cluster idle: phones held on 2 nodes, Redis memory read, no state keys left', { timeout: 90_000 }, async () => {
    const r = await runClusterIdle(2, 20, 4, 200, 300);
    assert.equal(r.held, 40);
    assert.equal(r.droppedDuringHold, 0);
    assert.ok(r.keysLoaded > r.keysWithBinaries, 'phones add keys');
    assert.ok(Number.isFinite(r.bytesPerPhone));
    assert.equal(r.keysAfterPhones, r.keysWithBinaries);
    assert.equal(r.stateKeysLeft, 0, r.leftAfterBinaries.join(','));
  });
});
