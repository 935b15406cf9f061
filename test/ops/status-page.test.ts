// GET /status and /status.json on the metrics listener, black-box: a real relay
// carrying a scripted load, the page loaded in Debian's Chromium (playwright-core)
// with JavaScript on (figures move, match /metrics, no CSP violation; a screenshot
// goes to test-output/) and off (the server-rendered figures are current), and the
// HTML and JSON scanned for every server-id, conn_id, token and client IP in use.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { StatusSnapshot } from '../../src/ops/status.js';
import { VERSION } from '../../src/ops/version.js';
import { launchChromium, OUTPUT } from '../helpers/browser.js';
import { cells, eventually, httpRequest, scrape } from '../helpers/http.js';
import { scriptedLoad, type Load } from '../helpers/ops-load.js';
import { EPHEMERAL_METRICS, startRelay, type TestRelay } from '../helpers/relay.js';

/** A figure as the page shows it, parsed back to a number ("1,234" → 1234). */
async function figure(page: Page, id: string): Promise<number> {
  const text = (await page.textContent(`#${id}`)) ?? '';
  const n = Number(text.replace(/,/g, ''));
  assert.ok(Number.isFinite(n), `#${id} shows ${JSON.stringify(text)}`);
  return n;
}

const up = (endpoint: string, outcome: string): string =>
  `pyrycode_relay_ws_upgrade_attempts_total{endpoint="${endpoint}",outcome="${outcome}"}`;

/** The page figures that are straight copies of a /metrics cell. */
const MIRRORED: Array<[string, string]> = [
  ['v-binaries', 'pyrycode_relay_connected_binaries'],
  ['v-phones', 'pyrycode_relay_connected_phones'],
  ['v-open', 'pyrycode_relay_open_connections'],
  ['v-frames-total-phone_to_binary', 'pyrycode_relay_frames_forwarded_total{direction="phone_to_binary"}'],
  ['v-frames-total-binary_to_phone', 'pyrycode_relay_frames_forwarded_total{direction="binary_to_phone"}'],
  ['v-up-server-accept-total', up('server', 'accept')],
  ['v-up-client-accept-total', up('client', 'accept')],
  ['v-up-client-reject_404-total', up('client', 'reject_404')],
  ['v-up-server-reject_409-total', up('server', 'reject_409')],
  ['v-up-server-reject_rate_limit-total', up('server', 'reject_rate_limit')],
  ['v-close-4404-total', 'pyrycode_relay_register_failures_total{kind="no_server"}'],
  ['v-close-4409-total', 'pyrycode_relay_register_failures_total{kind="server_in_use"}'],
  ['v-close-1011-total', 'pyrycode_relay_phone_backlog_closes_total'],
  ['v-adm-rate_limit-total', 'pyrycode_relay_admission_rejects_total{reason="rate_limit"}'],
  ['v-grace-total', 'pyrycode_relay_grace_expiries_total'],
];

/** Waits until every mirrored figure on the page equals its /metrics cell (the page refreshes every 2 s). */
async function assertMatchesMetrics(page: Page, metricsPort: number, reload: boolean): Promise<void> {
  let diff: string[] = [];
  try {
    await eventually(
      async () => {
        if (reload) await page.reload();
        const c = cells(await scrape(metricsPort));
        diff = [];
        for (const [id, key] of MIRRORED) {
          const shown = await figure(page, id);
          if (shown !== c.get(key)) diff.push(`${id}: page ${shown}, /metrics ${c.get(key)}`);
        }
        return diff.length === 0;
      },
      8000,
      'page matches /metrics',
    );
  } catch {
    assert.fail(`page and /metrics differ:\n${diff.join('\n')}`);
  }
}

describe('/status', () => {
  let relay: TestRelay;
  let port: number;
  let load: Load;
  let browser: Browser;

  before(async () => {
    relay = await startRelay({
      metricsListen: EPHEMERAL_METRICS,
      rateLimitBurst: 8,
      phoneOutboxBytes: 65536,
      conflictProbeTimeoutMs: 300,
      gracePeriodMs: 300,
    });
    assert.ok(relay.app.metricsAddress);
    port = relay.app.metricsAddress.port;
    load = await scriptedLoad(relay.url, port);
    mkdirSync(OUTPUT, { recursive: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    load?.close();
    await relay?.stop();
  });

  test('GET only, HTML and JSON with a strict CSP; not on the public port', async () => {
    const page = await httpRequest(port, '/status');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /^default-src 'none'; /);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['cache-control'], 'no-store');
    // Self-contained: no URL to anywhere else, no external script, style or font.
    assert.ok(!/(src|href)="(https?:)?\/\//.test(page.body), 'no external resource');
    assert.ok(!/@import|url\(/.test(page.body), 'no CSS import or url()');
    const json = await httpRequest(port, '/status.json');
    assert.equal(json.status, 200);
    assert.equal(json.headers['content-type'], 'application/json');
    const s = JSON.parse(json.body) as StatusSnapshot;
    assert.equal(s.version, VERSION);
    assert.equal(s.nodes, undefined, 'single relay: no cluster section');
    assert.ok(!page.body.includes('Cluster'), 'single relay: no cluster card');
    for (const [method, path] of [
      ['POST', '/status'],
      ['PUT', '/status.json'],
      ['GET', '/status/'],
      ['GET', '/status.js'],
    ] as const) {
      assert.equal((await httpRequest(port, path, { method })).status, 404, `${method} ${path}`);
    }
    assert.equal((await httpRequest(relay.port, '/status')).status, 404, 'public port');
    assert.equal((await httpRequest(relay.port, '/status.json')).status, 404, 'public port');
  });

  test('in Chromium: the figures move with the traffic and match /metrics; no CSP violation', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('requestfailed', (r) => problems.push(`${r.url()} ${r.failure()?.errorText}`));
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${port}/`)) external.push(r.url());
    });
    const res = await page.goto(`http://127.0.0.1:${port}/status`);
    assert.equal(res?.status(), 200);
    const before = await figure(page, 'v-frames-total-phone_to_binary');
    assert.ok(before > 0);
    assert.ok((await figure(page, 'v-binaries')) >= load.pairs.length);

    // Traffic flows: the page's own refresh shows the totals climbing and a non-zero rate.
    const stop = load.pump(40);
    try {
      const seen = new Set<number>();
      await eventually(
        async () => {
          seen.add(await figure(page, 'v-frames-total-phone_to_binary'));
          return seen.size >= 3 && (await figure(page, 'v-frames-rate-binary_to_phone')) > 0;
        },
        15_000,
        'figures move',
      );
      assert.ok(Math.min(...seen) >= before);
      assert.equal(await page.textContent('#st-state'), 'live');
      await page.screenshot({ path: join(OUTPUT, 'status-page.png'), fullPage: true });
    } finally {
      await stop();
    }
    // Quiet again: every mirrored figure equals /metrics once the page has refreshed.
    await assertMatchesMetrics(page, port, false);
    assert.deepEqual(problems, [], 'console errors, CSP violations or failed requests');
    assert.deepEqual(external, [], 'requests to anywhere but the metrics listener');
    await context.close();
  });

  test('with JavaScript disabled the page still shows the current figures', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/status`);
    // Without a script it reloads itself now and then instead.
    assert.equal(await page.getAttribute('meta[http-equiv="refresh"]', 'content'), '10');
    await assertMatchesMetrics(page, port, true);
    // More traffic, a reload: the new totals are there without any script.
    const shown = await figure(page, 'v-frames-total-binary_to_phone');
    await load.roundTrip();
    await load.roundTrip();
    await assertMatchesMetrics(page, port, true);
    assert.equal(await figure(page, 'v-frames-total-binary_to_phone'), shown + 2 * load.pairs.length);
    await context.close();
  });

  test('no server-id, conn_id, token or client IP ever appears in the page or its JSON', async () => {
    const stop = load.pump(20);
    const bodies: string[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        bodies.push((await httpRequest(port, '/status')).body, (await httpRequest(port, '/status.json')).body);
      }
    } finally {
      await stop();
    }
    assert.ok(load.secrets.length >= 20, `${load.secrets.length} secrets`);
    for (const body of bodies) {
      for (const s of [...load.secrets, ...load.ips, 'opsload', '127.0.0.']) assert.ok(!body.includes(s), `leaked ${s}`);
    }
  });

  test('polling /status.json does not grow what the relay keeps', async () => {
    const first = JSON.parse((await httpRequest(port, '/status.json')).body) as StatusSnapshot;
    for (let i = 0; i < 300; i++) await httpRequest(port, '/status.json');
    const later = JSON.parse((await httpRequest(port, '/status.json')).body) as StatusSnapshot;
    // The history is the tracker's fixed ring (61 samples: 60 intervals, plus one up to now), not one entry per request.
    assert.ok(later.history.phones.length <= 61, `${later.history.phones.length} points`);
    assert.ok(later.history.phones.length <= first.history.phones.length + 2);
  });

  test('the page says "stale" when the relay stops answering', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/status`);
    const stamp = await page.textContent('#v-updated');
    await eventually(async () => (await page.textContent('#v-updated')) !== stamp, 6000, 'a refresh');
    // Last test: the relay drains and closes its metrics listener; the page's next fetch fails.
    await relay.stop();
    await eventually(async () => (await page.textContent('#st-state')) === 'stale', 8000, 'stale badge');
    assert.equal(await page.getAttribute('#st-state', 'class'), 'state stale');
    await context.close();
  });
});
