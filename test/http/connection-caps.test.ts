// Connection caps (operations.md §4), black-box: the global cap answers 503 on
// both endpoints while /healthz keeps answering, the per-IP cap answers 429, and
// a slot comes back on every exit path (4404, 4409, 4429, 400, phone close,
// grace expiry, shutdown). `pyrycode_relay_open_connections` shows the slots
// held; each release is also proven by a real connection getting in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectBinary, connectPhone, newServerId, type TestClient } from '../helpers/clients.js';
import { eventually, headerless, httpRequest, upgrade } from '../helpers/http.js';
import { metricValue } from '../helpers/metrics.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const open = (relay: TestRelay): Promise<number> => metricValue(relay.app.metrics, 'pyrycode_relay_open_connections');

async function expectOpen(relay: TestRelay, n: number): Promise<void> {
  await eventually(async () => (await open(relay)) === n, 3000, `open_connections == ${n}`);
}

/** At the cap: both endpoints answer 503, /healthz still 200. */
async function assertFull(relay: TestRelay): Promise<void> {
  const server = await upgrade(relay.port, '/v1/server', { headers: { 'X-Pyrycode-Server': newServerId() } });
  assert.equal(server.status, 503);
  const client = await headerless(relay.port, 'client');
  assert.equal(client.status, 503);
  assert.equal((await httpRequest(relay.port, '/healthz')).status, 200);
}

describe('global connection cap', () => {
  test('503 at the cap for both endpoints while /healthz answers; nothing reaches the registry', async () => {
    const relay = await startRelay({ maxConnections: 2 });
    try {
      const sid = newServerId();
      const binary = await connectBinary(relay.url, sid);
      const phone = await connectPhone(relay.url, sid);
      await assertFull(relay);
      await assert.rejects(connectPhone(relay.url, sid), /HTTP 503/);
      assert.deepEqual(relay.app.relay.counts(), { binaries: 1, phones: 1 });
      const capLines = relay.events().filter((e) => e.event === 'conn_cap_reached');
      assert.equal(capLines.length, 3);
      assert.equal(capLines[0]?.level, 'warn');
      phone.close();
      binary.close();
      await expectOpen(relay, 0);
    } finally {
      await relay.stop();
    }
  });

  test('slots come back after 4404, 4409, 4429, a 400 and a phone close', async () => {
    const relay = await startRelay({ maxConnections: 3, maxPhonesPerServer: 1 });
    try {
      // 4404: a phone for a server-id nobody holds.
      const orphan = await connectPhone(relay.url, newServerId());
      assert.equal((await orphan.waitClose()).code, 4404);
      await expectOpen(relay, 0);

      // 400 after admission: the header check frees the slot too.
      assert.equal((await headerless(relay.port, 'server')).status, 400);
      await expectOpen(relay, 0);

      const sid = newServerId();
      const binary = await connectBinary(relay.url, sid);
      // 4409: a live incumbent answers the probe, the newcomer is refused.
      const rival = await connectBinary(relay.url, sid);
      assert.equal((await rival.waitClose()).code, 4409);
      await expectOpen(relay, 1);

      // 4429: one phone per server-id.
      const phone = await connectPhone(relay.url, sid);
      const extra = await connectPhone(relay.url, sid);
      assert.equal((await extra.waitClose()).code, 4429);
      await expectOpen(relay, 2);

      // Phone close.
      phone.close();
      await expectOpen(relay, 1);

      // Exactly three slots are usable again.
      const a = await connectPhone(relay.url, sid);
      const b = await connectBinary(relay.url, newServerId());
      await expectOpen(relay, 3);
      await assertFull(relay);
      for (const c of [a, b, binary]) c.close();
      await expectOpen(relay, 0);
    } finally {
      await relay.stop();
    }
  });

  test('grace expiry frees the phones it closes; shutdown frees everything', async () => {
    const relay = await startRelay({ maxConnections: 3, gracePeriodMs: 300 });
    try {
      const sid = newServerId();
      const binary = await connectBinary(relay.url, sid);
      const phones: TestClient[] = [await connectPhone(relay.url, sid), await connectPhone(relay.url, sid)];
      await assertFull(relay);
      binary.close();
      await expectOpen(relay, 2); // the binary's own slot, at once
      for (const p of phones) assert.equal((await p.waitClose()).code, 1000); // grace expired
      await expectOpen(relay, 0);

      const sid2 = newServerId();
      const survivors = [await connectBinary(relay.url, sid2), await connectPhone(relay.url, sid2)];
      await expectOpen(relay, 2);
      await relay.stop();
      for (const c of survivors) assert.equal((await c.waitClose()).code, 1001);
      assert.equal(await open(relay), 0);
    } finally {
      await relay.stop();
    }
  });
});

describe('per-IP connection cap', () => {
  test('429 past the per-IP cap, other addresses unaffected, freed on close; 0 turns it off', async () => {
    const relay = await startRelay({ maxConnectionsPerIp: 2 });
    try {
      const sid = newServerId();
      const mine = { localAddress: '127.0.0.31' };
      const binary = await connectBinary(relay.url, sid, {}, mine);
      const phone = await connectPhone(relay.url, sid, {}, mine);
      const refused = await upgrade(relay.port, '/v1/client', mine);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['retry-after'], undefined);
      assert.ok(relay.events().some((e) => e.event === 'ip_conn_cap_reached' && e.remote === '127.0.0.31'));
      const other = await connectPhone(relay.url, sid, {}, { localAddress: '127.0.0.32' });
      phone.close();
      await expectOpen(relay, 2);
      const again = await connectPhone(relay.url, sid, {}, mine);
      for (const c of [binary, other, again]) c.close();
      await expectOpen(relay, 0);
    } finally {
      await relay.stop();
    }
    const off = await startRelay({ maxConnectionsPerIp: 0, maxConnections: 50 });
    try {
      const sid = newServerId();
      const clients = [await connectBinary(off.url, sid)];
      for (let i = 0; i < 5; i++) clients.push(await connectPhone(off.url, sid));
      await expectOpen(off, 6);
    } finally {
      await off.stop();
    }
  });
});
