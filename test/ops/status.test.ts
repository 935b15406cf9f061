// The status snapshot (status.ts) on a real metrics registry: rates and windows
// come from the fixed ring of samples, the ring never grows, and cluster mode's
// live-node hook reaches the page and the JSON with only its documented fields.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Gauge } from 'prom-client';
import { RelayMetrics } from '../../src/ops/metrics.js';
import { StatusTracker, type LiveNode } from '../../src/ops/status.js';
import { sleep } from '../helpers/clients.js';
import { httpRequest } from '../helpers/http.js';
import { EPHEMERAL_METRICS, startRelay, type TestRelay } from '../helpers/relay.js';

describe('StatusTracker', () => {
  test('the ring holds a fixed number of samples however long it runs', async () => {
    const metrics = new RelayMetrics();
    const tracker = new StatusTracker(metrics, { version: 't', startedAt: Date.now() }, { intervalMs: 10, windowMs: 50 });
    tracker.start();
    try {
      await sleep(400);
      assert.equal(tracker.samples, 6, 'window / interval + 1 slots');
      const s = await tracker.snapshot();
      assert.ok(s.history.phones.length <= 5);
      assert.ok(s.window_seconds <= 1);
    } finally {
      tracker.stop();
    }
  });

  test('rates and recent counts come from the samples; totals from the registry', async () => {
    const metrics = new RelayMetrics();
    const tracker = new StatusTracker(metrics, { version: 't', startedAt: Date.now() - 5000 }, { intervalMs: 200, windowMs: 60_000 });
    metrics.framesPhoneToBinary.inc(7);
    metrics.upgrades.client.reject_404.inc();
    tracker.start();
    try {
      await sleep(50); // the first sample is in
      metrics.framesPhoneToBinary.inc(100);
      metrics.bytesBinaryToPhone.inc(4096);
      metrics.upgrades.client.reject_404.inc(2);
      metrics.connectedPhones.set(4);
      await sleep(400);
      const s = await tracker.snapshot();
      assert.equal(s.frames.phone_to_binary.total, 107);
      assert.equal(s.upgrades.client.reject_404.total, 3);
      assert.equal(s.upgrades.client.reject_404.recent, 2, 'counted since the oldest sample');
      assert.equal(s.closes.find((c) => c.code === 4404)?.total, 0, 'register failures are their own series');
      assert.equal(s.connections.phones, 4);
      assert.equal(s.uptime_seconds >= 5, true);
      assert.equal(s.push, undefined, 'push off');
      // Everything moved between the first sample and the newest: the rate spans only the latter part.
      assert.ok(s.rate_seconds > 0 && s.rate_seconds < 1, `rate over ${s.rate_seconds} s`);
      await sleep(450);
      const quiet = await tracker.snapshot();
      assert.equal(quiet.frames.phone_to_binary.per_second, 0, 'no frames since the last samples');
      assert.ok(
        quiet.history.frames_per_second.phone_to_binary.some((v) => v > 0),
        'the burst is in the sparkline',
      );
    } finally {
      tracker.stop();
    }
  });
});

describe('/status in cluster mode', () => {
  let relay: TestRelay;
  let port: number;
  // The gauges cluster mode registers (src/cluster), as it registers them: on the relay's registry.
  const metrics = new RelayMetrics({ runtime: true });
  new Gauge({ name: 'pyrycode_relay_cluster_nodes', help: 'live nodes', registers: [metrics.registry] }).set(3);
  new Gauge({ name: 'pyrycode_relay_cluster_fenced', help: 'fenced', registers: [metrics.registry] }).set(1);
  const nodes = (): LiveNode[] => [
    { id: 'node-a', self: true, binaries: 3, phones: 5, lastSeenSeconds: 0 },
    // A provider may carry more than the page may show: it is dropped.
    { id: 'node-<b>', self: false, lastSeenSeconds: 2, ...({ remote: '10.1.2.3', token: 'x' } as object) },
  ];
  before(async () => {
    relay = await startRelay({ metricsListen: EPHEMERAL_METRICS }, { liveNodes: nodes, metrics });
    port = relay.app.metricsAddress?.port ?? 0;
  });
  after(() => relay.stop());

  test('the live nodes appear on the page and in the JSON, with only their documented fields', async () => {
    const json = JSON.parse((await httpRequest(port, '/status.json')).body) as { nodes: unknown };
    assert.deepEqual(json.nodes, [
      { id: 'node-a', self: true, binaries: 3, phones: 5, lastSeenSeconds: 0 },
      { id: 'node-<b>', self: false, lastSeenSeconds: 2 },
    ]);
    const page = (await httpRequest(port, '/status')).body;
    assert.match(page, /<span id="v-nodes">2<\/span> live nodes/);
    assert.ok(page.includes('node-a (this node)'));
    assert.ok(page.includes('node-&#60;b&#62;'), 'node ids are escaped');
    assert.ok(!page.includes('10.1.2.3'));
  });

  test("the cluster series, when registered, show this node's view", async () => {
    const json = JSON.parse((await httpRequest(port, '/status.json')).body) as { cluster: unknown };
    assert.deepEqual(json.cluster, { live_nodes: 3, fenced: true, bus_ready: null });
    const page = (await httpRequest(port, '/status')).body;
    assert.match(page, /<td id="v-cl-nodes">3<\/td>/);
    assert.match(page, /<td id="v-cl-fenced" class="hot">yes<\/td>/);
  });

  test('a single relay has neither', async () => {
    const single = await startRelay({ metricsListen: EPHEMERAL_METRICS });
    try {
      const json = JSON.parse((await httpRequest(single.app.metricsAddress?.port ?? 0, '/status.json')).body) as Record<string, unknown>;
      assert.ok(!('cluster' in json) && !('nodes' in json));
    } finally {
      await single.stop();
    }
  });
});
