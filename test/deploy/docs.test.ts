// The operator docs cannot drift from the code: every flag (with its default),
// environment variable, metric series and label value, close code and reason, and
// log event the relay can emit is documented, and nothing documented is made up.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { CHECK_NAMES } from '../../src/cli/probe-checks.js';
import { FLAGS } from '../../src/ops/config.js';
import { formatGoDuration, parseGoDuration } from '../../src/ops/duration.js';
import { EVENT_REASONS, LOG_EVENTS } from '../../src/ops/log-events.js';
import { registerStandInClusterSeries } from '../helpers/cluster-series.js';
import { Registry } from 'prom-client';
import { RelayMetrics } from '../../src/ops/metrics.js';
import { CloseCode, Reason } from '../../src/protocol.js';
import { ROOT } from '../helpers/deploy.js';

const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const reference = read('docs/reference.md');
const alerts = read('docs/alerts.md');
const troubleshooting = read('docs/troubleshooting.md');
const operations = read('docs/operations.md');

/** The text under a `## heading` up to the next `## `. */
function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `no section ${heading}`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end === -1 ? undefined : end);
}

/** The backticked names in the first cell of each table row (`a` / `b` rows name several). */
function firstCellNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const first = /^\| ([^|]+) \|/.exec(line)?.[1] ?? '';
    for (const m of first.matchAll(/`([a-z0-9_]+)`/g)) names.add(m[1] ?? '');
  }
  return names;
}

/** Markdown table rows whose first cell is `x` (in backticks), as arrays of cells. */
function rowsFor(doc: string, first: string): string[][] {
  return doc
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    )
    .filter((cells) => cells[0] === first);
}

function walk(dir: string, pred: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p, pred));
    else if (pred(p)) out.push(p);
  }
  return out;
}

describe('docs/reference.md', () => {
  test('documents every flag once, with the default --help shows', () => {
    for (const def of FLAGS) {
      const rows = rowsFor(reference, `\`--${def.name}\``);
      assert.equal(rows.length, 1, `--${def.name} has exactly one row`);
      const shown =
        def.default === undefined
          ? '—'
          : `\`${def.type === 'duration' ? formatGoDuration(parseGoDuration(def.default) ?? -1) : def.default}\``;
      assert.equal(rows[0]?.[2], shown, `--${def.name} default`);
    }
  });

  test('documents no flag that does not exist', () => {
    const known = new Set(FLAGS.map((d) => d.name).concat(['help', 'json', 'timeout', 'ca', 'resolve'])); // the last three: probe's own
    for (const m of reference.matchAll(/^\| `--([a-z-]+)`/gm)) assert.ok(known.has(m[1] ?? ''), `--${m[1]} is not a flag`);
  });

  test('documents every environment variable of operations.md §2', () => {
    for (const v of [
      'PYRYCODE_RELAY_PRODUCTION',
      'PYRYCODE_RELAY_SINGLE_INSTANCE',
      'PYRYCODE_RELAY_FCM_CREDENTIALS',
      'PYRYCODE_RELAY_FCM_URL',
      'FLY_APP_NAME',
      'PYRYCODE_RELAY_REDIS_URL',
      'FLY_MACHINE_ID',
    ]) {
      assert.equal(rowsFor(reference, `\`${v}\``).length, 1, v);
    }
  });

  test('documents the exit codes and every probe check', () => {
    for (const code of ['0', '1', '2']) assert.equal(rowsFor(reference, code).length, 1, `exit ${code}`);
    for (const name of CHECK_NAMES) assert.equal(rowsFor(reference, `\`${name}\``).length, 1, name);
  });
});

describe('docs/alerts.md', () => {
  // Every series the relay can export: runtime series (with /metrics on), push (with FCM
  // on), the certificate expiry (in the TLS modes) and the cluster's (in cluster mode).
  const metrics = new RelayMetrics({ runtime: true, push: true });
  metrics.exposeCertExpiry(() => undefined);
  // Cluster mode adds its series to the relay's registry (src/cluster/runtime.ts).
  const cluster = new Registry();
  registerStandInClusterSeries(cluster);

  test('every relay series has a row, cluster ones included (the runtime ones share a wildcard row)', async () => {
    for (const m of [...(await metrics.registry.getMetricsAsJSON()), ...(await cluster.getMetricsAsJSON())]) {
      const wildcard = /^(pyrycode_relay_(?:process|nodejs)_)/.exec(m.name)?.[1];
      if (wildcard !== undefined) assert.ok(alerts.includes(`| \`${wildcard}*\``) || alerts.includes(`\`${wildcard}*\``), m.name);
      else assert.equal(rowsFor(alerts, `\`${m.name}\``).length, 1, m.name);
    }
  });

  test('every series and label value named in the docs exists (PromQL included)', async () => {
    const series = new Map<string, Array<Record<string, unknown>>>();
    for (const m of [...(await metrics.registry.getMetricsAsJSON()), ...(await cluster.getMetricsAsJSON())]) {
      series.set(
        m.name,
        m.values.map((v) => v.labels as Record<string, unknown>),
      );
    }
    const docs = walk(join(ROOT, 'docs'), (f) => f.endsWith('.md'));
    for (const file of docs) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bpyrycode_relay_[a-z0-9_]+(\*)?/g)) {
        const name = m[0].replace(/\*$/, '');
        const ok = m[1] === undefined ? series.has(name) : [...series.keys()].some((k) => k.startsWith(name));
        assert.ok(ok, `${file}: ${m[0]} is not a series`);
      }
      // Selectors like name{label="v"} or name{label=~"a|b"}.
      for (const m of text.matchAll(/\b(pyrycode_relay_[a-z0-9_]+)\{([^}]*)\}/g)) {
        const labels = series.get(m[1] ?? '') ?? [];
        for (const sel of (m[2] ?? '').matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)) {
          const [, label, , value] = sel;
          for (const v of (value ?? '').split('|')) {
            assert.ok(
              labels.some((l) => l[label ?? ''] === v),
              `${file}: ${m[1]} has no series with ${label}="${v}"`,
            );
          }
        }
      }
    }
  });

  test('points at the shipped alert rules (test/deploy/prometheus-rules.test.ts checks them)', () => {
    assert.ok(alerts.includes('](../deploy/prometheus/alerts.yml)'));
  });
});

describe('docs/troubleshooting.md', () => {
  test('has a row for every close code the relay sends, with its reason', () => {
    for (const code of Object.values(CloseCode)) {
      assert.ok(rowsFor(troubleshooting, String(code)).length >= 1, `close code ${code}`);
    }
    for (const reason of Object.values(Reason)) {
      if (reason !== '') assert.ok(troubleshooting.includes(`\`${reason}\``), `reason ${reason}`);
    }
  });

  test('has a row for every HTTP status an upgrade can be refused with', () => {
    for (const status of ['400', '404', '421', '429', '503']) assert.ok(rowsFor(troubleshooting, status).length >= 1, `HTTP ${status}`);
  });

  test('the log events table lists exactly the declared events (src/ops/log-events.ts)', () => {
    const documented = firstCellNames(section(troubleshooting, 'Log events'));
    for (const e of LOG_EVENTS) assert.ok(documented.has(e), `log event ${e} has no row`);
    for (const e of documented) assert.ok((LOG_EVENTS as readonly string[]).includes(e), `documented event ${e} is not declared`);
  });

  test('the reasons table lists exactly the closed reason sets, each under its event', () => {
    const declared = new Set<string>();
    for (const [event, reasons] of Object.entries(EVENT_REASONS)) {
      for (const r of reasons) {
        declared.add(`${r}|${event}`);
        assert.equal(rowsFor(troubleshooting, `\`${r}\``).filter((cells) => cells[1] === `\`${event}\``).length, 1, `${event} reason ${r}`);
      }
    }
    const table = section(troubleshooting, 'Log reasons')
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split('|').map((c) => c.trim().replace(/^`|`$/g, '')));
    assert.ok(table.length >= declared.size);
    for (const cells of table)
      assert.ok(declared.has(`${cells[1]}|${cells[2]}`), `documented reason ${cells[1]} of ${cells[2]} is not declared`);
  });

  test('no source file logs an event outside the declared set (belt and braces for casts)', () => {
    for (const f of walk(join(ROOT, 'src'), (p) => p.endsWith('.ts'))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\.(?:debug|info|warn|error)\(\s*'([a-z0-9_]+)'|\bevent: '([a-z0-9_]+)'/g)) {
        const e = m[1] ?? m[2] ?? '';
        assert.ok((LOG_EVENTS as readonly string[]).includes(e), `${f}: event ${e} is not declared`);
      }
    }
  });
});

describe('docs/operations.md', () => {
  test('the logging table lists exactly the declared events', () => {
    const documented = firstCellNames(section(operations, 'Logging'));
    for (const e of LOG_EVENTS) assert.ok(documented.has(e), `log event ${e} has no row`);
    for (const e of documented) assert.ok((LOG_EVENTS as readonly string[]).includes(e), `documented event ${e} is not declared`);
  });
});

describe('operator docs', () => {
  test('every relative link in docs/ resolves', () => {
    for (const file of walk(join(ROOT, 'docs'), (f) => f.endsWith('.md'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        assert.ok(existsSync(join(dirname(file), target)), `${file}: broken link ${target}`);
      }
    }
  });
});
