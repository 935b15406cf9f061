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
import { RelayMetrics } from '../../src/ops/metrics.js';
import { CloseCode, Reason } from '../../src/protocol.js';
import { ROOT } from '../helpers/deploy.js';

const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const reference = read('docs/reference.md');
const alerts = read('docs/alerts.md');
const troubleshooting = read('docs/troubleshooting.md');

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
        def.default === undefined ? '—' : `\`${def.type === 'duration' ? formatGoDuration(parseGoDuration(def.default) ?? -1) : def.default}\``;
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
  // Every series the relay can export: runtime series (with /metrics on) and push (with FCM on).
  const metrics = new RelayMetrics({ runtime: true, push: true });

  test('every relay series has a row (the runtime ones share a wildcard row)', async () => {
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      const wildcard = /^(pyrycode_relay_(?:process|nodejs)_)/.exec(m.name)?.[1];
      if (wildcard !== undefined) assert.ok(alerts.includes(`| \`${wildcard}*\``) || alerts.includes(`\`${wildcard}*\``), m.name);
      else assert.equal(rowsFor(alerts, `\`${m.name}\``).length, 1, m.name);
    }
  });

  test('every series and label value named in the docs exists (PromQL included)', async () => {
    const series = new Map<string, Array<Record<string, unknown>>>();
    for (const m of await metrics.registry.getMetricsAsJSON()) series.set(m.name, m.values.map((v) => v.labels as Record<string, unknown>));
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

  test('ships example alert rules', () => {
    const rules = [...alerts.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]);
    assert.ok(rules.length >= 8, `${rules.length} rules`);
    assert.equal(new Set(rules).size, rules.length, 'alert names are unique');
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

  test('has a row for every log event the relay emits', () => {
    const events = new Set<string>();
    for (const f of walk(join(ROOT, 'src'), (p) => p.endsWith('.ts'))) {
      // logger.warn('event', …) calls, and { event: 'name' } lines handed to the logger later.
      for (const m of readFileSync(f, 'utf8').matchAll(/\.(?:debug|info|warn|error)\(\s*'([a-z_]+)'|\bevent: '([a-z_]+)'/g)) {
        events.add(m[1] ?? m[2] ?? '');
      }
    }
    assert.ok(events.has('server_claimed') && events.size >= 15, `scan found ${events.size} events`);
    const documented = new Set<string>();
    for (const line of troubleshooting.split('\n')) {
      const first = /^\| ([^|]+) \|/.exec(line)?.[1] ?? '';
      for (const m of first.matchAll(/`([a-z_]+)`/g)) documented.add(m[1] ?? '');
    }
    for (const e of events) assert.ok(documented.has(e), `log event ${e} has no row`);
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
