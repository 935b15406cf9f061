// A connection closing while its registry step is still pending (decision
// 0013): a cluster registry answers across the network, so the relay must stay
// correct whichever comes first. Real relay and real sockets; the registry's
// answers are released by hand (test/helpers/deferred-registry.ts).
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { RegistryFactory } from '../../src/relay/registry.js';
import { connectBinary, connectPhone, newServerId, type TestClient } from '../helpers/clients.js';
import { DeferredRegistry, type LifecycleOp } from '../helpers/deferred-registry.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

async function relayWith(held: LifecycleOp[]): Promise<{ relay: TestRelay; registry: DeferredRegistry }> {
  let registry: DeferredRegistry | undefined;
  const factory: RegistryFactory = (hooks) => (registry = new DeferredRegistry(hooks, new Set(held)));
  const relay = await startRelay({}, { registry: factory });
  return { relay, registry: registry! };
}

/** Drops the TCP connection with a reset: the relay sees it even on a socket it is not reading. */
function reset(client: TestClient): void {
  (client.ws as unknown as { _socket: Socket })._socket.resetAndDestroy();
}

/** Waits for a condition the relay reaches on its own (no fixed sleep). */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface PendingPhone {
  relay: TestRelay;
  registry: DeferredRegistry;
  id: string;
  binary: TestClient;
  phone: TestClient;
}

/** Runs `body` with a registered binary and its phone's registration held pending; stops the relay after. */
async function withPendingPhone(body: (t: PendingPhone) => Promise<void>): Promise<void> {
  const { relay, registry } = await relayWith(['registerPhone']);
  try {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    await until(() => registry.holder(id) !== undefined);
    const phone = await connectPhone(relay.url, id);
    await registry.whenHeld('registerPhone');
    await body({ relay, registry, id, binary, phone });
  } finally {
    await relay.stop();
  }
}

const events = (relay: TestRelay, name: string): Array<Record<string, unknown>> => relay.events().filter((e) => e.event === name);

describe('lifecycle races', () => {
  test('a binary gone before its claim settles is released afterwards: the slot goes to grace', async () => {
    const { relay, registry } = await relayWith(['claim']);
    try {
      const id = newServerId();
      const binary = await connectBinary(relay.url, id);
      await registry.whenHeld('claim');
      reset(binary);
      await until(() => relay.app.relay.openConnections === 0);
      await registry.release('claim');
      await until(() => registry.calls.includes(`releaseBinary ${id}`));
      assert.equal(registry.holder(id), undefined);
      assert.deepEqual(relay.app.relay.counts(), { binaries: 0, phones: 0 });
      assert.equal(events(relay, 'server_released').length, 1);
      // The slot is in grace, not held: a new binary reclaims it at once.
      const again = await connectBinary(relay.url, id);
      await registry.whenHeld('claim');
      await registry.release('claim');
      await until(() => registry.holder(id) !== undefined);
      again.close();
    } finally {
      await relay.stop();
    }
  });

  test('a phone gone before its registration settles is unregistered afterwards, with no notice', async () => {
    await withPendingPhone(async ({ relay, registry, id, binary, phone }) => {
      reset(phone);
      await until(() => relay.app.relay.openConnections === 1);
      await registry.release('registerPhone');
      await until(() => registry.calls.includes(`unregisterPhone ${id}`));
      await until(() => relay.app.relay.counts().phones === 0);
      assert.equal(events(relay, 'phone_registered').length, 0);
      assert.equal(events(relay, 'phone_unregistered').length, 0);
      assert.ok(await binary.silentFor(150), 'the binary never heard of the phone');
      binary.close();
    });
  });

  test('a phone is not read before its registration settles; then its frames flow in order', async () => {
    await withPendingPhone(async ({ registry, binary, phone }) => {
      phone.send('{"n":1}');
      phone.send('{"n":2}');
      assert.ok(await binary.silentFor(100));
      await registry.release('registerPhone');
      assert.deepEqual((await binary.nextJson()).frame, { n: 1 });
      assert.deepEqual((await binary.nextJson()).frame, { n: 2 });
      binary.close();
      phone.close();
    });
  });

  test('shutdown during a pending claim closes the binary with 1001 and never activates it', async () => {
    const { relay, registry } = await relayWith(['claim']);
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    await registry.whenHeld('claim');
    const started = Date.now();
    await relay.stop();
    assert.ok(Date.now() - started < relay.config.drainTimeoutMs, 'the close handshake completed; no drain timeout');
    assert.equal((await binary.waitClose()).code, 1001);
    await registry.release('claim');
    await new Promise((r) => setImmediate(r));
    assert.equal(events(relay, 'server_claimed').length, 0);
    assert.ok(!registry.calls.some((c) => c.startsWith('releaseBinary')));
  });

  test('a store failure on claim closes the binary with 1011, logging no error text', async () => {
    const { relay, registry } = await relayWith(['claim']);
    try {
      const binary = await connectBinary(relay.url, newServerId());
      await registry.whenHeld('claim');
      registry.fail('claim');
      assert.deepEqual(await binary.waitClose(), { code: 1011, reason: 'registry unavailable' });
      const line = relay.logs.find((l) => l.includes('registry_failed'));
      assert.ok(line !== undefined && !line.includes('unreachable'));
    } finally {
      await relay.stop();
    }
  });

  test('a phone refused while its binary is gone gets 4404 once the answer arrives', async () => {
    const { relay, registry } = await relayWith(['registerPhone']);
    try {
      const phone = await connectPhone(relay.url, newServerId());
      await registry.whenHeld('registerPhone');
      assert.ok(!phone.isClosed);
      await registry.release('registerPhone');
      assert.equal((await phone.waitClose()).code, 4404);
    } finally {
      await relay.stop();
    }
  });
});
