// The benchmark's target table: ratios and differences of medians, each with the
// run-by-run comparison beside it, including the proposed (i) target against ws-pipe,
// and the cluster-mode targets of issue #13 (CPU ratios, lifecycle, idle capacity).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterIdleResult } from '../../bench/load/cluster-idle.js';
import type { LifecycleResult, LifecycleTarget } from '../../bench/load/lifecycle.js';
import { checks } from '../../bench/load/report.js';
import type { Measurement } from '../../bench/load/run.js';
import type { Target } from '../../bench/load/settings.js';

function m(target: Target, workload: string, p50: number, cpu: number): Measurement {
  return {
    target,
    workload,
    roundTripsPerSec: 1000,
    framesPerSec: 2000,
    latencyUs: { p50, p90: p50, p99: p50 * 2, p999: p50 * 3 },
    cpuUsPerFrame: cpu,
    cpuPct: { target: 50, echo: 20, generator: 20 },
    peakRssKiB: 1024,
    errors: 0,
    errorDetail: { lost: 0, duplicated: 0, reordered: 0, corrupt: 0, closed: 0 },
  };
}

test('p50 differences against nginx and ws-pipe, and a CPU ratio, from medians and run by run', () => {
  const all = [
    m('relay', 'i', 230, 50),
    m('nginx', 'i', 190, 30),
    m('ws-pipe', 'i', 240, 55),
    m('relay', 'i', 210, 50),
    m('nginx', 'i', 200, 30),
    m('ws-pipe', 'i', 205, 55),
    m('relay', 'i', 250, 50),
    m('nginx', 'i', 180, 30),
    m('ws-pipe', 'i', 260, 55),
    m('relay', 'ii', 0, 3.0),
    m('direct', 'ii', 0, 2.5),
    m('relay', 'ii', 0, 3.3),
    m('direct', 'ii', 0, 3.0),
    m('relay', 'ii', 0, 2.8),
    m('direct', 'ii', 0, 2.0),
  ];
  const byName = new Map(checks(all, undefined).map((c) => [c.name, c]));
  const nginx = byName.get('(i) relay p50 − nginx p50')!;
  assert.deepEqual([nginx.value, nginx.paired, nginx.unit, nginx.ok], [40, 40, 'µs', false]); // medians 230 − 190; runs 40, 10, 70
  const floor = byName.get('(i) relay p50 − ws-pipe p50 (proposed)')!;
  assert.deepEqual([floor.value, floor.paired, floor.unit, floor.ok], [-10, -10, 'µs', true]); // 230 − 240; runs −10, 5, −10
  const cost = byName.get('(ii) relay CPU/frame ÷ direct')!;
  assert.equal(cost.unit, '×');
  assert.equal(cost.value, 3.0 / 2.5);
  assert.equal(cost.paired, 1.2); // runs 1.2, 1.1, 1.4
  assert.equal(cost.ok, true);
  assert.equal(byName.has('(ii) relay CPU/frame ÷ nginx'), false, 'no nginx runs at (ii): no row');
});

test('cluster targets: same-node and cross-node CPU over the single relay, cross − same p50', () => {
  const all = [
    m('relay', 'ii', 0, 4.0),
    m('cluster-same', 'ii', 0, 4.2),
    m('cluster-cross', 'ii', 0, 11.0),
    m('relay', 'ii', 0, 5.0),
    m('cluster-same', 'ii', 0, 5.0),
    m('cluster-cross', 'ii', 0, 10.0),
    m('relay', 'ii', 0, 3.0),
    m('cluster-same', 'ii', 0, 3.6),
    m('cluster-cross', 'ii', 0, 9.0),
    m('cluster-same', 'i', 200, 50),
    m('cluster-cross', 'i', 350, 90),
  ];
  const byName = new Map(checks(all, undefined).map((c) => [c.name, c]));
  const same = byName.get('(ii) cluster same-node CPU/frame ÷ single-node')!;
  assert.deepEqual([same.value, same.limit, same.ok], [4.2 / 4.0, 1.1, true]); // medians 4.2 ÷ 4.0
  assert.equal(same.paired, 1.05); // runs 1.05, 1.0, 1.2
  const cross = byName.get('(ii) cluster cross-node CPU/frame (2 relays + redis) ÷ single-node')!;
  assert.deepEqual([cross.value, cross.limit, cross.ok], [10 / 4, 2.5, true]);
  assert.equal(cross.paired, 2.75); // runs 2.75, 2.0, 3.0
  const p50 = byName.get('(i) cluster cross-node p50 − same-node p50')!;
  assert.deepEqual([p50.value, p50.unit, p50.limit, p50.ok], [150, 'µs', 100, false]);
  assert.equal(byName.has('(ii) relay CPU/frame ÷ direct'), false, 'no direct runs: no row');
});

function life(target: LifecycleTarget, p50: number, perConnect?: number, perDisconnect?: number): LifecycleResult {
  return { target, connects: 100, latencySamples: 50, perConnect, perDisconnect, firstFrameUs: { p50, p90: p50 * 2, p99: p50 * 3 } };
}

function idle(bytesPerPhone: number, stateKeysLeft: number): ClusterIdleResult {
  return {
    nodes: 3,
    servers: 600,
    phones: 18000,
    held: 18000,
    baseUsedBytes: 1e6,
    loadedUsedBytes: 1e6 + bytesPerPhone * 18000,
    bytesPerPhone,
    keysWithBinaries: 1800,
    keysLoaded: 2400,
    keysAfterPhones: 1800,
    keysAfterBinaries: 6,
    keysAfterNodes: 2,
    leftAfterBinaries: [],
    stateKeysLeft,
    leftAfterNodes: [],
    connectSeconds: 10,
    droppedDuringHold: 0,
  };
}

test('lifecycle and idle-capacity targets: round trips, first-frame p50 over single-node, Redis bytes and keys', () => {
  const lifecycle = [
    life('relay', 2000),
    life('cluster-same', 2300, 1, 1),
    life('cluster-cross', 2600, 2.004, 1.2),
    life('relay', 2200),
    life('cluster-same', 2400, 1, 1),
    life('cluster-cross', 3500, 2, 1.1),
    life('relay', 1800),
    life('cluster-same', 2100, 1.01, 0.99),
    life('cluster-cross', 2900, 1.99, 1),
  ];
  const byName = new Map(checks([], undefined, { lifecycle, clusterIdle: [idle(300, 0)] }).map((c) => [c.name, c]));
  const conn = byName.get('(life) cluster-cross: Redis round trips per phone connect')!;
  assert.deepEqual([conn.value, conn.limit, conn.ok], [2, 2, true]); // median of 2.004, 2, 1.99
  assert.equal(byName.get('(life) cluster-same: Redis round trips per phone disconnect')!.value, 1);
  const first = byName.get('(life) cluster-cross: connect → first frame p50 − single-node')!;
  assert.deepEqual([first.value, first.unit, first.ok], [900, 'µs', true]); // medians 2900 − 2000
  assert.equal(first.paired, 1100); // runs 600, 1300, 1100
  assert.equal(byName.get('(life) cluster-same: connect → first frame p50 − single-node')!.value, 300);
  const mem = byName.get('(vc) Redis memory per registered phone')!;
  assert.deepEqual([mem.value, mem.unit, mem.limit, mem.ok], [300, 'B', 512, true]);
  assert.equal(byName.get('(vc) per-server-id/per-phone keys left after all disconnect')!.ok, true);
  const bad = new Map(checks([], undefined, { clusterIdle: [idle(600, 3)] }).map((c) => [c.name, c]));
  assert.equal(bad.get('(vc) Redis memory per registered phone')!.ok, false);
  assert.deepEqual(
    [
      bad.get('(vc) per-server-id/per-phone keys left after all disconnect')!.value,
      bad.get('(vc) per-server-id/per-phone keys left after all disconnect')!.ok,
    ],
    [3, false],
  );
  assert.equal(bad.has('(life) cluster-cross: Redis round trips per phone connect'), false, 'no lifecycle runs: no rows');
});
