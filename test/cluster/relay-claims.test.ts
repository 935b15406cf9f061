// Cluster mode, black box: every row of relay-behaviour §1–§2 holds across
// nodes (cluster.md §2). Three relay child processes on one redis-server; the
// binary on one node, its phones on the others.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { wsSocket } from '../../src/lib/internals.js';
import { CLAIM_VISIBLE_MS, splitPair, startNodes, type RelayNode } from '../helpers/cluster.js';
import { connectBinary, connectPhone, newServerId, phoneConnId, sleep, type TestClient } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';

const RECLAIMED = { code: 4404, reason: 'binary reclaimed server-id' };

/** Stops answering pings: neither the socket nor ws reads the ping. */
function silence(c: TestClient): void {
  wsSocket(c.ws).pause();
  c.ws.pause();
}

function unsilence(c: TestClient): void {
  c.ws.resume();
  wsSocket(c.ws).resume();
}

describe('claims, conflicts, grace and the cap across nodes', () => {
  let redis: RedisServer;
  let a: RelayNode;
  let b: RelayNode;
  let c: RelayNode;

  before(async () => {
    redis = await RedisServer.start();
    const nodes = await startNodes(redis, ['claims-a', 'claims-b', 'claims-c']);
    a = nodes[0]!;
    b = nodes[1]!;
    c = nodes[2]!;
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await redis?.stop();
  });

  test('a claim is visible on every node within 1 s of the 101', async () => {
    const sid = newServerId();
    const binary = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const pb = await connectPhone(b.base, sid);
    const pc = await connectPhone(c.base, sid);
    const ids = [await phoneConnId(pb, binary), await phoneConnId(pc, binary)];
    for (const id of ids) assert.match(id, new RegExp(`^client-${sid}-[0-9a-f]{8}$`));
    assert.notEqual(ids[0], ids[1]);
    binary.close();
  });

  test('a second claim on another node gets 4409 when the incumbent answers; nothing else changes', async () => {
    const sid = newServerId();
    const first = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const phone = await connectPhone(c.base, sid);
    const id = await phoneConnId(phone, first);
    const second = await connectBinary(b.base, sid);
    assert.deepEqual(await second.waitClose(3000), { code: 4409, reason: 'server-id already claimed' });
    phone.send('{"still":1}');
    assert.deepEqual(await first.nextJson(3000), { conn_id: id, frame: { still: 1 } });
    assert.ok(b.events('server_id_conflict').length > 0);
    first.close();
  });

  test('takeover across nodes: phones on every node 4404, the silent incumbent 1011', async () => {
    const sid = newServerId();
    const first = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const phones = [await connectPhone(a.base, sid), await connectPhone(b.base, sid), await connectPhone(c.base, sid)];
    for (const p of phones) await phoneConnId(p, first);
    silence(first);
    const second = await connectBinary(b.base, sid);
    for (const p of phones) assert.deepEqual(await p.waitClose(4000), RECLAIMED);
    const fresh = await connectPhone(c.base, sid);
    fresh.send('{"to":"second"}');
    assert.deepEqual(((await second.nextJson(3000)) as { frame: unknown }).frame, { to: 'second' });
    assert.ok(b.events('server_id_takeover').length > 0);
    unsilence(first);
    assert.deepEqual(await first.waitClose(3000), { code: 1011, reason: 'heartbeat timeout' });
    second.close();
  });

  test('a claim during grace on another node reclaims at once: phones everywhere 4404', async () => {
    const sid = newServerId();
    const first = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const phones = [await connectPhone(a.base, sid), await connectPhone(b.base, sid), await connectPhone(c.base, sid)];
    for (const p of phones) await phoneConnId(p, first);
    first.close();
    await eventually(() => a.events('server_released').some((e) => e.server_id === sid), 3000, 'server_released');
    // Phones stay through grace.
    await sleep(200);
    for (const p of phones) assert.ok(!p.isClosed);
    const t0 = Date.now();
    const second = await connectBinary(c.base, sid);
    for (const p of phones) assert.deepEqual(await p.waitClose(3000), RECLAIMED);
    // No probe wait (the probe timeout is 1 s).
    assert.ok(Date.now() - t0 < 900, `reclaimed after ${Date.now() - t0} ms`);
    const fresh = await connectPhone(b.base, sid);
    fresh.send('{"n":1}');
    assert.deepEqual(((await second.nextJson(3000)) as { frame: unknown }).frame, { n: 1 });
    second.close();
  });

  test('grace expiry closes phones on every node with 1000, counted once cluster-wide', async () => {
    const sid = newServerId();
    // Earlier tests' grace windows may expire meanwhile: count this server-id's
    // expiries by the grace_expired line, written where the metric is counted.
    const expiries = (): number =>
      [a, b, c].reduce((n, node) => n + node.events('grace_expired').filter((e) => e.server_id === sid).length, 0);
    const total = async (): Promise<number> =>
      (await a.metric('pyrycode_relay_grace_expiries_total')) +
      (await b.metric('pyrycode_relay_grace_expiries_total')) +
      (await c.metric('pyrycode_relay_grace_expiries_total'));
    const before = await total();
    const binary = await connectBinary(b.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const phones = [await connectPhone(a.base, sid), await connectPhone(b.base, sid), await connectPhone(c.base, sid)];
    for (const p of phones) await phoneConnId(p, binary);
    binary.close();
    for (const p of phones) assert.equal((await p.waitClose(6000)).code, 1000);
    await sleep(500);
    assert.equal(expiries(), 1);
    assert.ok((await total()) - before >= 1);
    // The slot is gone everywhere: a new phone gets 4404.
    const late = await connectPhone(c.base, sid);
    assert.deepEqual(await late.waitClose(3000), { code: 4404, reason: 'no server with that id' });
  });

  test('the phone cap (16) counts every node: the 17th gets 4429 wherever it lands', async () => {
    const sid = newServerId();
    const binary = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const phones: TestClient[] = [];
    for (let i = 0; i < 16; i++) phones.push(await connectPhone([a, b, c][i % 3]!.base, sid));
    for (const p of phones) await phoneConnId(p, binary);
    const extra = await connectPhone(b.base, sid);
    assert.deepEqual(await extra.waitClose(3000), { code: 4429, reason: 'too many phones for server-id' });
    // One leaves on C: a new one fits on B.
    phones[2]!.close(1000);
    await binary.nextJson(3000); // its close notice
    const again = await connectPhone(b.base, sid);
    await phoneConnId(again, binary);
    assert.ok(!again.isClosed);
    binary.close();
  });

  test('backpressure reaches phones on other nodes: they stop being read, then resume', async () => {
    const { binary, phone } = await splitPair(a, b);
    // The binary stops reading: the relay's writes to it back up past the high-water mark.
    silence(binary);
    const frame = `{"pad":"${'x'.repeat(60_000)}"}`;
    let sent = 0;
    await eventually(
      async () => {
        for (let i = 0; i < 20; i++, sent++) phone.send(frame);
        await sleep(20);
        // The phone's socket buffer grows once node B stops reading it.
        return phone.ws.bufferedAmount > 4 * 1024 * 1024;
      },
      20_000,
      'the phone is no longer read',
    );
    const queued = await b.metric('pyrycode_relay_queued_bytes');
    assert.ok(queued < 16 * 1024 * 1024, `node B buffers ${queued}`);
    // Reading again: everything arrives in order, nothing lost.
    unsilence(binary);
    for (let i = 0; i < sent; i++) {
      const env = await binary.next(10_000);
      assert.ok(env.endsWith(`"frame":${frame}}`), `frame ${i} of ${sent}: ${env.slice(0, 120)}`);
    }
    binary.close();
  });
});
