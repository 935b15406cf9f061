// Black-box: server-id claims, conflicts, takeover, grace, reclaim and expiry
// (relay-behaviour.md §1–§2) over real sockets against an in-process relay.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { wsSocket } from '../../src/lib/internals.js';
import { connectBinary, connectPhone, newServerId, sleep, type TestClient } from '../helpers/clients.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const GRACE_MS = 400;

/**
 * Waits out a grace window that must not evict `phone`: nothing can be observed
 * happening, so this stays a bounded wait, as short as --grace-period (400 ms
 * here) plus 100 ms for the relay to arm it; then a pong from the relay puts
 * anything it sent the phone meanwhile on the wire ahead of it.
 */
async function outlastGrace(phone: TestClient): Promise<void> {
  await sleep(GRACE_MS + 100);
  const pong = new Promise((r) => phone.ws.once('pong', r));
  phone.ws.ping();
  await pong;
}

async function health(relay: TestRelay): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${relay.port}/healthz`);
  return (await res.json()) as Record<string, unknown>;
}

/** A phone whose binary has just disconnected: its server-id is in grace. */
async function phoneOfBinaryInGrace(relay: TestRelay, id: string): Promise<TestClient> {
  const binary = await connectBinary(relay.url, id);
  const phone = await connectPhone(relay.url, id);
  binary.close();
  await relay.waitEvent('server_released', { server_id: id });
  return phone;
}

describe('claims and phones', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay({ gracePeriodMs: GRACE_MS, conflictProbeTimeoutMs: 300 });
  });
  after(() => relay.stop());

  test('a phone for an unclaimed server-id gets 4404 after the upgrade', async () => {
    const phone = await connectPhone(relay.url, newServerId());
    assert.deepEqual(await phone.waitClose(), { code: 4404, reason: 'no server with that id' });
  });

  test('first claim wins; a second claim against a live incumbent gets 4409', async () => {
    const id = newServerId();
    const first = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    const second = await connectBinary(relay.url, id);
    assert.deepEqual(await second.waitClose(), { code: 4409, reason: 'server-id already claimed' });
    // Incumbent and its phone untouched: a frame still flows.
    phone.send('{"v":2}');
    const env = await first.nextJson();
    assert.equal(env.frame && JSON.stringify(env.frame), '{"v":2}');
    assert.ok(!first.isClosed && !phone.isClosed);
    assert.ok(relay.events().some((e) => e.event === 'server_id_conflict'));
    first.close();
    phone.close();
  });

  test('a silent incumbent is taken over: its phones 4404, incumbent 1011', async () => {
    const id = newServerId();
    const first = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    // Stop answering pings: pause the socket so the pong is never read/written.
    wsSocket(first.ws).pause();
    first.ws.pause();
    const second = await connectBinary(relay.url, id);
    assert.deepEqual(await phone.waitClose(), { code: 4404, reason: 'binary reclaimed server-id' });
    // The new binary holds the slot: a new phone reaches it.
    const phone2 = await connectPhone(relay.url, id);
    phone2.send('{"hello":1}');
    const env = await second.nextJson();
    assert.deepEqual(env.frame, { hello: 1 });
    assert.ok(relay.events().some((e) => e.event === 'server_id_takeover'));
    first.ws.resume();
    wsSocket(first.ws).resume();
    assert.deepEqual(await first.waitClose(), { code: 1011, reason: 'heartbeat timeout' });
    second.close();
    phone2.close();
  });

  test('a displaced binary changes nothing that belongs to its successor', async () => {
    const id = newServerId();
    const first = await connectBinary(relay.url, id);
    first.ws.pause();
    const second = await connectBinary(relay.url, id);
    await relay.waitEvent('server_id_takeover', { server_id: id }); // the probe timed out
    const phone = await connectPhone(relay.url, id);
    phone.send('{"to":"second"}');
    const env = await second.nextJson();
    const connId = env.conn_id as string;
    // The displaced binary wakes up and tries to address the successor's phone.
    first.ws.resume();
    first.send(`{"conn_id":"${connId}","frame":{"from":"displaced"}}`);
    assert.equal((await first.waitClose()).code, 1011);
    // Its disconnect must not arm a grace window that would evict the successor's phones.
    await outlastGrace(phone);
    assert.ok(!phone.isClosed && !second.isClosed);
    assert.equal(phone.messages.length, 0);
    second.send(`{"conn_id":"${connId}","frame":{"from":"second"}}`);
    assert.equal(await phone.next(), '{"from":"second"}');
    second.close();
    phone.close();
  });

  test('phone cap: the 17th phone gets 4429 (cap 16)', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phones = [];
    for (let i = 0; i < 16; i++) phones.push(await connectPhone(relay.url, id));
    const extra = await connectPhone(relay.url, id);
    assert.deepEqual(await extra.waitClose(), { code: 4429, reason: 'too many phones for server-id' });
    for (const p of phones) assert.ok(!p.isClosed);
    binary.close();
    for (const p of phones) p.close();
  });

  test('grace: phones stay, new phones may join, expiry closes them with 1000', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    binary.close();
    await relay.waitEvent('server_released', { server_id: id });
    assert.ok(!phone.isClosed);
    const late = await connectPhone(relay.url, id);
    assert.deepEqual(await phone.waitClose(2000), { code: 1000, reason: '' });
    assert.deepEqual(await late.waitClose(2000), { code: 1000, reason: '' });
    // The slot is free again: a phone now gets 4404, a binary claims it.
    const after404 = await connectPhone(relay.url, id);
    assert.equal((await after404.waitClose()).code, 4404);
    const again = await connectBinary(relay.url, id);
    await relay.waitEvent('server_claimed', { server_id: id }, 2);
    assert.ok(!again.isClosed);
    again.close();
  });

  test('reclaim during grace is immediate and evicts every phone with 4404', async () => {
    const id = newServerId();
    const phone = await phoneOfBinaryInGrace(relay, id);
    const late = await connectPhone(relay.url, id);
    const restarted = await connectBinary(relay.url, id);
    assert.deepEqual(await phone.waitClose(), { code: 4404, reason: 'binary reclaimed server-id' });
    assert.deepEqual(await late.waitClose(), { code: 4404, reason: 'binary reclaimed server-id' });
    // The restarted binary gets no close notices for phones it never knew.
    assert.ok(await restarted.silentFor(150));
    // The cancelled grace timer does not evict anything later.
    const fresh = await connectPhone(relay.url, id);
    await outlastGrace(fresh);
    assert.ok(!fresh.isClosed && !restarted.isClosed);
    fresh.close();
    restarted.close();
  });

  test('a frame from a phone during grace closes that phone', async () => {
    const id = newServerId();
    const phone = await phoneOfBinaryInGrace(relay, id);
    phone.send('{"v":2}');
    assert.equal((await phone.waitClose()).code, 4404);
  });

  test('healthz counts exclude binaries in grace and include every phone', async () => {
    const base = await health(relay);
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const p1 = await connectPhone(relay.url, id);
    await connectPhone(relay.url, id);
    let h = await health(relay);
    assert.equal(h.connected_binaries, (base.connected_binaries as number) + 1);
    assert.equal(h.connected_phones, (base.connected_phones as number) + 2);
    binary.close();
    await relay.waitEvent('server_released', { server_id: id });
    h = await health(relay);
    assert.equal(h.connected_binaries, base.connected_binaries);
    assert.equal(h.connected_phones, (base.connected_phones as number) + 2);
    p1.close();
    await relay.waitEvent('phone_unregistered', { server_id: id });
    h = await health(relay);
    assert.equal(h.connected_phones, (base.connected_phones as number) + 1);
  });
});
