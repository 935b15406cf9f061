// deploy/grafana/pyrycode-relay.json against the real thing: Debian's Prometheus
// scrapes a relay child (push on, against a loopback fake of Google) every second
// while a scripted load runs, and every query of every panel is evaluated through
// Prometheus's HTTP API with the dashboard's variables filled in as Grafana would.
// Each must parse and return data — except the panels listed in CLUSTER_ONLY, which
// read only pyrycode_relay_cluster_* series: a single relay has none, so for those
// the test asserts the query parses and returns nothing, and that the list is exact.
// The same Prometheus loads deploy/prometheus/alerts.yml.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../helpers/clients.js';
import { findBinary, ROOT } from '../helpers/deploy.js';
import { FakeGoogle, PROJECT } from '../helpers/fake-google.js';
import { eventually } from '../helpers/http.js';
import { LOAD_FLAGS, scriptedLoad, type Load } from '../helpers/ops-load.js';
import { freePort, reap, spawnCli, waitForStderr } from '../helpers/process.js';

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Target[];
  datasource?: { uid?: string };
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown; allValue?: string; includeAll?: boolean }> };
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/pyrycode-relay.json'), 'utf8')) as Dashboard;

/** Panels whose every query reads only pyrycode_relay_cluster_* series (cluster mode). */
const CLUSTER_ONLY = new Set([32, 33, 34, 35, 36, 37, 38, 39]);

function allPanels(): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
}

/** The dashboard's variables as Grafana substitutes them: All nodes, this job, a short rate window. */
function fill(expr: string): string {
  return expr
    .replace(/\$__rate_interval/g, '15s')
    .replace(/\$instance/g, '.*')
    .replace(/\$job/g, 'pyrycode-relay');
}

function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch (err) {
          reject(new Error(`${url}: ${String(err)}: ${text.slice(0, 200)}`));
        }
      });
    }).on('error', reject);
  });
}

describe('deploy/grafana/pyrycode-relay.json', () => {
  test('is a dashboard with a data-source, job and node selector, every panel on the data source variable', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.get('datasource')?.type, 'datasource');
    assert.equal(vars.get('instance')?.type, 'query');
    assert.equal(vars.get('instance')?.includeAll, true);
    assert.equal(vars.get('instance')?.allValue, '.*');
    assert.equal(vars.get('job')?.type, 'query');
    const panels = allPanels();
    assert.ok(panels.length >= 20, `${panels.length} panels`);
    const ids = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of panels) {
      assert.equal(p.datasource?.uid, '${datasource}', `panel ${p.id} ${p.title}`);
      assert.ok((p.targets ?? []).length > 0, `panel ${p.id} has no query`);
      for (const t of p.targets ?? []) assert.match(t.expr, /instance=~"\$instance"/, `panel ${p.id} ${t.refId} follows the node selector`);
    }
  });

  test('the cluster-only list is exactly the panels that read only cluster series', () => {
    assert.ok(CLUSTER_ONLY.size > 0);
    for (const p of allPanels()) {
      const exprs = (p.targets ?? []).map((t) => t.expr);
      const onlyCluster = exprs.every((e) => /pyrycode_relay_cluster_/.test(e) && !/pyrycode_relay_(?!cluster_)[a-z]/.test(e));
      assert.equal(CLUSTER_ONLY.has(p.id), onlyCluster, `panel ${p.id} ${p.title}`);
    }
  });

  describe('every panel against Prometheus scraping a relay under load', () => {
    let dir: string;
    let relay: ReturnType<typeof spawnCli>;
    let prometheus: ChildProcess | undefined;
    let fake: FakeGoogle;
    let load: Load | undefined;
    let api = '';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'relay-prometheus-'));
      fake = await FakeGoogle.start();
      const [port, metricsPort, promPort] = [await freePort(), await freePort(), await freePort()];
      relay = spawnCli(
        ['--insecure-listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--fcm-project', PROJECT, ...LOAD_FLAGS],
        { PYRYCODE_RELAY_FCM_CREDENTIALS: fake.serviceAccountJson(), PYRYCODE_RELAY_FCM_URL: fake.sendUrl },
      );
      await waitForStderr(relay, /relay_started/);
      copyFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), join(dir, 'alerts.yml'));
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  evaluation_interval: 1s',
          'rule_files: [alerts.yml]',
          'scrape_configs:',
          '  - job_name: pyrycode-relay',
          '    static_configs:',
          `      - targets: ["127.0.0.1:${metricsPort}"]`,
          '',
        ].join('\n'),
      );
      prometheus = spawn(
        findBinary('prometheus', 'apt-get install -y prometheus'),
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      reap(prometheus);
      api = `http://127.0.0.1:${promPort}`;
      await eventually(
        async () => {
          try {
            return (await getJson(`${api}/api/v1/query?query=up`)).status === 200;
          } catch {
            return false;
          }
        },
        30_000,
        'prometheus ready',
      );
      load = await scriptedLoad(`ws://127.0.0.1:${port}`, metricsPort, { pushWake: true });
      const stop = load.pump(50);
      try {
        // Enough scrapes across the load for every rate window.
        await eventually(
          async () => {
            const r = await getJson(`${api}/api/v1/query?query=${encodeURIComponent('count_over_time(up{job="pyrycode-relay"}[1m])')}`);
            const v = (r.body.data as { result: Array<{ value: [number, string] }> }).result[0]?.value[1] ?? '0';
            return Number(v) >= 8;
          },
          40_000,
          'eight scrapes',
        );
      } finally {
        await stop();
      }
      await sleep(1500); // one more scrape after the last frames
    });

    after(async () => {
      load?.close();
      if (prometheus !== undefined && prometheus.exitCode === null) {
        const exited = new Promise((r) => prometheus?.once('exit', r));
        prometheus.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
      }
      relay?.kill('SIGKILL');
      await fake?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    test('every query parses and returns data (cluster-only panels: parse, no data on a single relay)', async () => {
      const failures: string[] = [];
      let checked = 0;
      for (const p of allPanels()) {
        for (const t of p.targets ?? []) {
          const url = `${api}/api/v1/query?query=${encodeURIComponent(fill(t.expr))}`;
          const r = await getJson(url);
          const result = (r.body.data as { result?: unknown[] } | undefined)?.result ?? [];
          const where = `panel ${p.id} "${p.title}" ${t.refId}`;
          if (r.status !== 200 || r.body.status !== 'success') failures.push(`${where}: ${String(r.body.error)}`);
          else if (CLUSTER_ONLY.has(p.id)) {
            if (result.length !== 0) failures.push(`${where}: cluster series on a single relay?`);
          } else if (result.length === 0) failures.push(`${where}: no data`);
          checked++;
        }
      }
      assert.deepEqual(failures, []);
      assert.ok(checked >= 30, `${checked} queries`);
    });

    test('the load shows up: frames, refusals, a backlog close, a grace expiry and a push wake', async () => {
      const value = async (q: string): Promise<number> => {
        const r = await getJson(`${api}/api/v1/query?query=${encodeURIComponent(q)}`);
        return Number((r.body.data as { result: Array<{ value: [number, string] }> }).result[0]?.value[1] ?? 'NaN');
      };
      assert.ok((await value('sum(pyrycode_relay_frames_forwarded_total)')) > 0);
      assert.ok((await value('pyrycode_relay_ws_upgrade_attempts_total{endpoint="client",outcome="reject_404"}')) >= 1);
      assert.ok((await value('pyrycode_relay_ws_upgrade_attempts_total{endpoint="server",outcome="reject_409"}')) >= 1);
      assert.ok((await value('pyrycode_relay_admission_rejects_total{reason="rate_limit"}')) >= 1);
      assert.ok((await value('pyrycode_relay_phone_backlog_closes_total')) >= 1);
      assert.ok((await value('pyrycode_relay_grace_expiries_total')) >= 1);
      await eventually(async () => (await value('sum(pyrycode_relay_push_wakes_total)')) >= 1, 5000, 'a push wake counted');
    });

    test('the node selector lists the scraped relay; Prometheus loaded the alert rules', async () => {
      const match = encodeURIComponent('pyrycode_relay_connected_binaries{job=~"pyrycode-relay"}');
      const r = await getJson(`${api}/api/v1/label/instance/values?match[]=${match}`);
      assert.equal((r.body.data as string[]).length, 1);
      const rules = await getJson(`${api}/api/v1/rules`);
      const groups = (rules.body.data as { groups: Array<{ rules: Array<{ name: string; health: string }> }> }).groups;
      const loaded = groups.flatMap((g) => g.rules);
      assert.ok(loaded.length >= 15, `${loaded.length} rules`);
      for (const rule of loaded) assert.notEqual(rule.health, 'err', rule.name);
    });
  });
});
