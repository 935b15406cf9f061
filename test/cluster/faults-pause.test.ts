// Cluster faults, black box (cluster.md §3): Redis frozen with SIGSTOP, then
// thawed with SIGCONT. Shorter than TTL/3 nothing happens: no node fences and no
// frame is lost. Longer than TTL every node fences itself within TTL (every
// connection closed 1012 "relay route lost", /healthz and upgrades 503
// `"status":"unavailable"`), and all rejoin when Redis answers again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { NumberedBinary, every, nodeRefs } from '../helpers/cluster-traffic.js';
import { connectBinary, connectPhone, newServerId, sleep } from '../helpers/clients.js';
import { eventually, upgrade } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';

const TTL_MS = 3000;

describe('cluster faults: Redis paused', () => {
  let redis: RedisServer;
  let a: RelayNode;
  let b: RelayNode;

  before(async () => {
    redis = await RedisServer.start();
    [a, b] = (await startNodes(redis, ['pz-a', 'pz-b'])) as [RelayNode, RelayNode];
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  async function pairs(): Promise<NumberedBinary[]> {
    const cross = await NumberedBinary.dial(a.base, newServerId());
    const sameA = await NumberedBinary.dial(a.base, newServerId());
    const sameB = await NumberedBinary.dial(b.base, newServerId());
    await sleep(CLAIM_VISIBLE_MS);
    await cross.addPhone(b.base);
    await sameA.addPhone(a.base);
    await sameB.addPhone(b.base);
    const all = [cross, sameA, sameB];
    await eventually(() => all.every((x) => x.phones[0]!.connId !== undefined), 3000, 'phones known');
    return all;
  }

  test('frozen for less than TTL/3: no fence, nothing closed, nothing lost', async () => {
    const all = await pairs();
    const stop = every(20, () => all.forEach((x) => x.pump()));
    const statuses = new Set<number>();
    const poll = every(100, () => {
      for (const n of [a, b])
        void n.healthz().then(
          (h) => statuses.add(h.status),
          () => statuses.add(0),
        );
    });
    try {
      await sleep(300);
      redis.pause();
      await sleep(700);
      redis.resume();
      await sleep(TTL_MS);
    } finally {
      stop();
      poll();
    }
    await eventually(() => all.every((x) => x.phones[0]!.settled), 5000, 'every pair settled');
    for (const x of all) {
      assert.ok(x.open && x.phones[0]!.open, 'still open');
      assert.ok(x.phones[0]!.gotAtPhone > 50);
    }
    assert.deepEqual(
      all.flatMap((x) => x.violations),
      [],
    );
    assert.deepEqual([...statuses], [200], '/healthz never left 200');
    assert.equal(a.events('cluster_fenced').length + b.events('cluster_fenced').length, 0);
    for (const x of all) {
      x.phones[0]!.client.close();
      x.client.close();
    }
  });

  test('frozen past the command timeout (TTL/3) during a claim and a registration: no ghost slot or phone stays in Redis', async () => {
    const held = await NumberedBinary.dial(b.base, newServerId());
    await sleep(CLAIM_VISIBLE_MS);
    const sidNew = newServerId();
    redis.pause();
    let resumed = false;
    const thaw = sleep(TTL_MS / 3 + 300).then(() => {
      redis.resume();
      resumed = true;
    });
    try {
      // Both are sent to a frozen Redis; their replies come too late (or never) for the node.
      const phone = await connectPhone(a.base, held.serverId);
      const binary = await connectBinary(a.base, sidNew);
      const [pc, bc] = await Promise.all([phone.waitClose(TTL_MS + 1000), binary.waitClose(TTL_MS + 1000)]);
      for (const c of [pc, bc]) assert.ok([1011, 1012, 1013].includes(c.code), `${c.code} ${c.reason}`);
    } finally {
      await thaw;
    }
    assert.ok(resumed);
    // Once Redis has run them, the node must not leave them behind: the phone does not
    // count towards the cap, the slot of a binary that is gone does not stay held.
    const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');
    await eventually(async () => /^:0/.test(await redis.command('HLEN', `rt:p:${hex(held.serverId)}`)), TTL_MS + 2000, 'no ghost phone');
    await eventually(async () => /^:0/.test(await redis.command('EXISTS', `rt:s:${hex(sidNew)}`)), 2000 + TTL_MS + 2000, 'no ghost slot');
    await eventually(async () => (await a.healthz()).status === 200 && (await b.healthz()).status === 200, 10_000, 'both serving');
    held.client.close();
  });

  test('frozen for longer than TTL: every node fences within TTL (1012, 503), all rejoin when it thaws', async () => {
    const all = await pairs();
    const refsBefore = await nodeRefs(redis, 'rt');
    const stop = every(20, () => all.forEach((x) => x.pump()));
    const t0 = Date.now();
    redis.pause();
    try {
      const clients = all.flatMap((x) => [x.client, x.phones[0]!.client]);
      const closes = await Promise.all(clients.map((c) => c.waitClose(TTL_MS + 1000)));
      assert.ok(Date.now() - t0 <= TTL_MS + 250, `all closed ${Date.now() - t0} ms after the freeze`);
      for (const cl of closes) assert.deepEqual(cl, { code: 1012, reason: 'relay route lost' });
      for (const n of [a, b]) {
        const h = await n.healthz();
        assert.equal(h.status, 503);
        assert.equal(h.body.status, 'unavailable');
        const up = await upgrade(n.port, '/v1/client', {
          headers: { 'X-Pyrycode-Server': newServerId(), 'X-Pyrycode-Token': 'a'.repeat(64), 'User-Agent': 'pyrycode-mobile/1.4.0' },
        });
        assert.deepEqual([up.status, up.body.trim()], [503, 'unavailable']);
      }
      await sleep(1500);
    } finally {
      redis.resume();
      stop();
    }
    assert.deepEqual(
      all.flatMap((x) => x.violations),
      [],
    );
    await eventually(async () => (await a.healthz()).status === 200 && (await b.healthz()).status === 200, 10_000, 'both rejoined');
    await eventually(
      async () => (await a.healthz()).body.cluster_nodes === 2 && (await b.healthz()).body.cluster_nodes === 2,
      5000,
      'both see two',
    );
    const refsAfter = await nodeRefs(redis, 'rt');
    assert.equal(refsAfter.length, 2);
    assert.ok(
      refsAfter.every((r) => !refsBefore.includes(r)),
      'new incarnations',
    );
    // Serving again, across nodes.
    const again = await pairs();
    for (let i = 0; i < 30; i++) again.forEach((x) => x.pump());
    await eventually(() => again.every((x) => x.phones[0]!.settled && x.phones[0]!.gotAtPhone === 30), 5000, 'pairs after the thaw');
    assert.deepEqual(
      again.flatMap((x) => x.violations),
      [],
    );
    for (const x of again) {
      x.phones[0]!.client.close();
      x.client.close();
    }
  });
});
