// deploy/prometheus/alerts.yml is loaded by the real Prometheus tooling: Debian's
// promtool checks the file and runs its unit tests (alerts.test.yml), and this file
// checks that the unit tests cover every alert both ways, that every alert carries the
// labels and annotations on-call needs, that every runbook anchor exists in
// docs/troubleshooting.md, that every series the rules read is one the relay registers
// (cluster mode's included), and that docs/alerts.md lists exactly the alerts shipped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { registerStandInClusterSeries } from '../helpers/cluster-series.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RelayMetrics } from '../../src/ops/metrics.js';
import { findBinary, ROOT } from '../helpers/deploy.js';

const DIR = join(ROOT, 'deploy/prometheus');
const rulesText = readFileSync(join(DIR, 'alerts.yml'), 'utf8');
const testsText = readFileSync(join(DIR, 'alerts.test.yml'), 'utf8');

interface Rule {
  name: string;
  body: string;
}

/** The rules file split at each `- alert:` (the file is ours and regular: one rule per block). */
function rules(): Rule[] {
  const parts = rulesText.split(/^ {6}- alert: /m).slice(1);
  return parts.map((p) => ({ name: p.slice(0, p.indexOf('\n')).trim(), body: p }));
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}

function promtool(args: string[]): { status: number | null; out: string } {
  const bin = findBinary('promtool', 'apt-get install -y prometheus');
  const r = spawnSync(bin, args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('deploy/prometheus/alerts.yml', () => {
  const all = rules();

  test('promtool check rules accepts it', () => {
    const r = promtool(['check', 'rules', 'alerts.yml']);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${all.length} rules found`));
  });

  test('promtool test rules passes its unit tests', () => {
    const r = promtool(['test', 'rules', 'alerts.test.yml']);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  test('the unit tests make every alert fire once and stay quiet once', () => {
    // Each test group: `alertname: X` evaluations, one with `exp_alerts: []` (quiet)
    // and one with an expected alert (fires).
    const evals = [...testsText.matchAll(/alertname: (\w+)\n\s+exp_alerts:( \[\])?/g)];
    assert.ok(all.length >= 15, `${all.length} alerts`);
    for (const { name } of all) {
      const mine = evals.filter((m) => m[1] === name);
      assert.ok(
        mine.some((m) => m[2] !== undefined),
        `${name}: no evaluation where it stays quiet`,
      );
      assert.ok(
        mine.some((m) => m[2] === undefined),
        `${name}: no evaluation where it fires`,
      );
    }
    // A quiet case is only meaningful next to a series that is there: each group feeds two instances.
    assert.equal((testsText.match(/^- name: /gm) ?? []).length, all.length);
  });

  test('every alert has a severity, a summary, a description and a runbook section that exists', () => {
    const troubleshooting = readFileSync(join(ROOT, 'docs/troubleshooting.md'), 'utf8');
    const anchors = new Set([...troubleshooting.matchAll(/^#+ (.+)$/gm)].map((m) => anchor(m[1] ?? '')));
    assert.equal(new Set(all.map((r) => r.name)).size, all.length, 'alert names are unique');
    for (const { name, body } of all) {
      assert.match(body, /\n\s+severity: (critical|warning)\n/, `${name}: severity`);
      assert.match(body, /\n\s+summary: ".+"\n/, `${name}: summary`);
      assert.match(body, /\n\s+description: ".+"\n/, `${name}: description`);
      const runbook = /\n\s+runbook: "docs\/troubleshooting\.md#([\w-]+)"\n/.exec(body)?.[1];
      assert.ok(runbook !== undefined, `${name}: runbook`);
      assert.ok(anchors.has(runbook), `${name}: docs/troubleshooting.md has no #${runbook}`);
    }
  });

  test('every relay series the rules read exists (cluster ones included), with the label values they select', async () => {
    const metrics = new RelayMetrics({ runtime: true, push: true });
    metrics.exposeCertExpiry(() => undefined); // the TLS modes' series
    // Cluster mode registers its series on the same registry (src/cluster/runtime.ts):
    // the same call here, fed by stand-ins, so the names and label values are the ones
    // the cluster code registers.
    registerStandInClusterSeries(metrics.registry);
    const series = new Map<string, Array<Record<string, unknown>>>();
    for (const m of await metrics.registry.getMetricsAsJSON())
      series.set(
        m.name,
        m.values.map((v) => v.labels as Record<string, unknown>),
      );
    for (const m of rulesText.matchAll(/\b(pyrycode_relay_[a-z0-9_]+)(?:\{([^}]*)\})?/g)) {
      const name = m[1] ?? '';
      assert.ok(series.has(name), `${name} is not a series`);
      for (const sel of (m[2] ?? '').matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)) {
        if (sel[1] === 'job') continue;
        for (const v of (sel[3] ?? '').split('|')) {
          assert.ok(
            series.get(name)?.some((l) => l[sel[1] ?? ''] === v),
            `${name} has no series with ${sel[1]}="${v}"`,
          );
        }
      }
    }
  });

  test('docs/alerts.md lists exactly the alerts of the file', () => {
    const doc = readFileSync(join(ROOT, 'docs/alerts.md'), 'utf8');
    const listed = [...doc.matchAll(/^\| `(Relay\w+)` \| (critical|warning) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    const shipped = all.map(({ name, body }) => `${name} ${/severity: (\w+)/.exec(body)?.[1]}`);
    assert.deepEqual(listed.sort(), shipped.sort());
    assert.ok(!/- alert:/.test(doc), 'docs/alerts.md links the file instead of repeating rules');
  });
});
