// The benchmark's target table: ratios and differences of medians, each with the
// run-by-run comparison beside it, including the proposed (i) target against ws-pipe.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checks } from '../../bench/load/report.js';
import type { Measurement } from '../../bench/load/run.js';
import type { Target } from '../../bench/load/settings.js';

function m(target: Target, workload: string, p50: number, cpu: number): Measurement {
  return {
    target, workload, roundTripsPerSec: 1000, framesPerSec: 2000,
    latencyUs: { p50, p90: p50, p99: p50 * 2, p999: p50 * 3 },
    cpuUsPerFrame: cpu, cpuPct: { target: 50, echo: 20, generator: 20 }, peakRssKiB: 1024,
    errors: 0, errorDetail: { lost: 0, duplicated: 0, reordered: 0, corrupt: 0, closed: 0 },
  };
}

test('p50 differences against nginx and ws-pipe, and a CPU ratio, from medians and run by run', () => {
  const all = [
    m('relay', 'i', 230, 50), m('nginx', 'i', 190, 30), m('ws-pipe', 'i', 240, 55),
    m('relay', 'i', 210, 50), m('nginx', 'i', 200, 30), m('ws-pipe', 'i', 205, 55),
    m('relay', 'i', 250, 50), m('nginx', 'i', 180, 30), m('ws-pipe', 'i', 260, 55),
    m('relay', 'ii', 0, 3.0), m('direct', 'ii', 0, 2.5),
    m('relay', 'ii', 0, 3.3), m('direct', 'ii', 0, 3.0),
    m('relay', 'ii', 0, 2.8), m('direct', 'ii', 0, 2.0),
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
