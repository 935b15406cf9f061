// /metrics (operations.md §6), black-box: scraped over HTTP from the relay's
// metrics listener after each kind of event, asserting the exact value of every
// reference cell (all present at 0 from boot), the admission series, and that
// no server-id, conn_id, token, IP or header value ever appears in the body.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectBinary, connectPhone, newServerId, type TestClient } from '../helpers/clients.js';
import { cells, eventually, headerless, httpRequest, scrape, upgrade } from '../helpers/http.js';
import { EPHEMERAL_METRICS, startRelay, type TestRelay } from '../helpers/relay.js';

const ENDPOINTS = ['server', 'client'];
const OUTCOMES = ['accept', 'reject_headers', 'reject_409', 'reject_404', 'reject_429', 'reject_rate_limit'];
const KINDS = ['no_server', 'server_in_use', 'phones_at_cap', 'ratelimit'];
const REASONS = ['rate_limit', 'conn_cap', 'ip_conn_cap'];

/**
 * Every reference cell (plus admission rejects) as printed, at 0. This relay has
 * push off, so pyrycode_relay_push_wakes_total is absent (test/push covers it on).
 */
function referenceCells(): Map<string, number> {
  const m = new Map<string, number>();
  m.set('pyrycode_relay_connected_binaries', 0);
  m.set('pyrycode_relay_connected_phones', 0);
  for (const d of ['phone_to_binary', 'binary_to_phone']) m.set(`pyrycode_relay_frames_forwarded_total{direction="${d}"}`, 0);
  m.set('pyrycode_relay_grace_expiries_total', 0);
  for (const e of ENDPOINTS) {
    for (const o of OUTCOMES) m.set(`pyrycode_relay_ws_upgrade_attempts_total{endpoint="${e}",outcome="${o}"}`, 0);
  }
  for (const k of KINDS) m.set(`pyrycode_relay_register_failures_total{kind="${k}"}`, 0);
  for (const r of REASONS) m.set(`pyrycode_relay_admission_rejects_total{reason="${r}"}`, 0);
  return m;
}

const up = (endpoint: string, outcome: string): string =>
  `pyrycode_relay_ws_upgrade_attempts_total{endpoint="${endpoint}",outcome="${outcome}"}`;

describe('/metrics', () => {
  let relay: TestRelay;
  let port: number;
  const expected = referenceCells();
  const bump = (key: string, by = 1): void => {
    expected.set(key, (expected.get(key) ?? Number.NaN) + by);
  };
  const set = (key: string, v: number): void => {
    expected.set(key, v);
  };
  const bodies: string[] = [];

  /** Scrapes until every reference cell has its expected value (counters can trail the client by a tick). */
  async function assertCells(): Promise<void> {
    let last = new Map<string, number>();
    try {
      await eventually(async () => {
        const text = await scrape(port);
        bodies.push(text);
        last = cells(text);
        return [...expected].every(([k, v]) => last.get(k) === v);
      }, 2000);
    } catch {
      const diff = [...expected].filter(([k, v]) => last.get(k) !== v).map(([k, v]) => `${k}: want ${v}, got ${last.get(k)}`);
      assert.fail(`cells differ:\n${diff.join('\n')}`);
    }
  }

  before(async () => {
    relay = await startRelay({
      metricsListen: EPHEMERAL_METRICS,
      maxConnections: 3,
      maxConnectionsPerIp: 1,
      maxPhonesPerServer: 1,
      rateLimitBurst: 4,
      rateLimitRefillMs: 60_000,
      gracePeriodMs: 300,
    });
    assert.ok(relay.app.metricsAddress);
    port = relay.app.metricsAddress.port;
  });
  after(() => relay.stop());

  test('the listener: GET /metrics only, Prometheus text format; not served on the public port', async () => {
    const r = await httpRequest(port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.equal((await httpRequest(port, '/metrics', { method: 'POST' })).status, 404);
    assert.equal((await httpRequest(port, '/healthz')).status, 404);
    assert.equal((await httpRequest(port, '/')).status, 404);
    assert.equal((await httpRequest(relay.port, '/metrics')).status, 404);
  });

  test('every reference cell is present at 0 from boot, plus our own series', async () => {
    await assertCells();
    const c = cells(await scrape(port));
    for (const k of ['pyrycode_relay_open_connections', 'pyrycode_relay_rate_limit_buckets', 'pyrycode_relay_queued_bytes']) {
      assert.equal(c.get(k), 0, k);
    }
    for (const d of ['phone_to_binary', 'binary_to_phone']) {
      assert.equal(c.get(`pyrycode_relay_bytes_forwarded_total{direction="${d}"}`), 0);
    }
    assert.ok(c.has('pyrycode_relay_nodejs_eventloop_lag_seconds'));
    assert.ok(c.has('pyrycode_relay_process_resident_memory_bytes'));
    for (const key of c.keys()) assert.match(key, /^pyrycode_relay_/);
    assert.ok(![...c.keys()].some((k) => k.startsWith('pyrycode_relay_push_wakes_total')), 'push off: no push series');
  });

  let binary: TestClient;
  let phone: TestClient;
  let connId = '';
  const sid = newServerId();

  test('accepts, frames in both directions', async () => {
    binary = await connectBinary(relay.url, sid, {}, { localAddress: '127.0.0.41' });
    bump(up('server', 'accept'));
    set('pyrycode_relay_connected_binaries', 1);
    await assertCells();
    phone = await connectPhone(relay.url, sid, {}, { localAddress: '127.0.0.42' });
    bump(up('client', 'accept'));
    set('pyrycode_relay_connected_phones', 1);
    await assertCells();

    phone.send('{"v":2,"type":"noise_init","data":"AAAA"}');
    const raw = await binary.next();
    connId = (JSON.parse(raw) as { conn_id: string }).conn_id;
    bump('pyrycode_relay_frames_forwarded_total{direction="phone_to_binary"}');
    await assertCells();
    const inner = '{"v":2,"type":"noise_resp","data":"BBBB"}';
    binary.send(`{"conn_id":"${connId}","frame":${inner}}`);
    await phone.next();
    bump('pyrycode_relay_frames_forwarded_total{direction="binary_to_phone"}');
    await assertCells();
    const c = cells(await scrape(port));
    assert.equal(c.get('pyrycode_relay_bytes_forwarded_total{direction="binary_to_phone"}'), inner.length);
    assert.equal(c.get('pyrycode_relay_open_connections'), 2);
  });

  test('registry rejections: headers, 404, 409, 429', async () => {
    await headerless(relay.port, 'server', '127.0.0.43');
    bump(up('server', 'reject_headers'));
    await assertCells();

    const orphan = await connectPhone(relay.url, newServerId(), {}, { localAddress: '127.0.0.44' });
    await orphan.waitClose();
    bump(up('client', 'reject_404'));
    bump('pyrycode_relay_register_failures_total{kind="no_server"}');
    await assertCells();

    const rival = await connectBinary(relay.url, sid, {}, { localAddress: '127.0.0.45' });
    await rival.waitClose();
    bump(up('server', 'reject_409'));
    bump('pyrycode_relay_register_failures_total{kind="server_in_use"}');
    await assertCells();

    const extra = await connectPhone(relay.url, sid, {}, { localAddress: '127.0.0.46' });
    await extra.waitClose();
    bump(up('client', 'reject_429'));
    bump('pyrycode_relay_register_failures_total{kind="phones_at_cap"}');
    await assertCells();
  });

  test('admission rejections: rate limit, per-IP cap, global cap', async () => {
    for (let i = 0; i < 4; i++) await headerless(relay.port, 'client', '127.0.0.49');
    bump(up('client', 'reject_headers'), 4);
    const limited = await headerless(relay.port, 'client', '127.0.0.49');
    assert.equal(limited.status, 429);
    bump(up('client', 'reject_rate_limit'));
    bump('pyrycode_relay_register_failures_total{kind="ratelimit"}');
    bump('pyrycode_relay_admission_rejects_total{reason="rate_limit"}');
    await assertCells();

    // The binary's address already holds its one connection.
    assert.equal((await upgrade(relay.port, '/v1/client', { localAddress: '127.0.0.41' })).status, 429);
    bump('pyrycode_relay_admission_rejects_total{reason="ip_conn_cap"}');
    await assertCells();

    const third = await connectBinary(relay.url, newServerId(), {}, { localAddress: '127.0.0.47' });
    bump(up('server', 'accept'));
    set('pyrycode_relay_connected_binaries', 2);
    assert.equal((await upgrade(relay.port, '/v1/server', { localAddress: '127.0.0.48' })).status, 503);
    bump('pyrycode_relay_admission_rejects_total{reason="conn_cap"}');
    await assertCells();
    third.close();
    set('pyrycode_relay_connected_binaries', 1);
    bump('pyrycode_relay_grace_expiries_total'); // its server-id had no phones, but the grace still expires
    await assertCells();
  });

  test('grace expiry', async () => {
    binary.close();
    set('pyrycode_relay_connected_binaries', 0);
    assert.equal((await phone.waitClose()).code, 1000);
    set('pyrycode_relay_connected_phones', 0);
    bump('pyrycode_relay_grace_expiries_total');
    await assertCells();
  });

  test('no server-id, conn_id, token, IP or header value in any scrape', () => {
    assert.ok(bodies.length > 5);
    const secrets = [sid, connId, 'a'.repeat(64), '127.0.0.4', 'pyry/0.23.0', 'pyrycode-mobile', '0.23.0'];
    for (const body of bodies) for (const s of secrets) assert.ok(!body.includes(s), s);
  });
});

describe('/metrics listener lifecycle', () => {
  test('off when metricsListen is unset; closed by drain', async () => {
    const off = await startRelay();
    assert.equal(off.app.metricsAddress, undefined);
    assert.equal(off.app.listeners.length, 1);
    await off.stop();
    const on = await startRelay({ metricsListen: EPHEMERAL_METRICS });
    const p = on.app.metricsAddress?.port ?? 0;
    assert.equal((await httpRequest(p, '/metrics')).status, 200);
    await on.stop();
    await assert.rejects(httpRequest(p, '/metrics'), /ECONNREFUSED/);
  });
});
