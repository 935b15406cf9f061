// Cluster mode, black box (cluster.md §1–§2): two relay child processes on one
// real redis-server behave as one relay. A binary on node A and phones on node B
// pair and exchange frames byte-exact and in order both ways; close directives
// and close notices cross nodes; a same-node pair never touches the bus.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { busFrames, CLAIM_VISIBLE_MS, startNodes, type RelayNode } from '../helpers/cluster.js';
import { connectBinary, connectPhone, newServerId, sleep } from '../helpers/clients.js';
import { eventually, httpRequest } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';

describe('cluster routing across nodes', () => {
  let redis: RedisServer;
  let a: RelayNode;
  let b: RelayNode;

  before(async () => {
    redis = await RedisServer.start();
    const nodes = await startNodes(redis, ['node-a', 'node-b']);
    a = nodes[0]!;
    b = nodes[1]!;
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('/healthz adds node_id and cluster_nodes, keeping the five keys first', async () => {
    await eventually(async () => (await a.healthz()).body.cluster_nodes === 2, 5000, 'A sees two nodes');
    const h = await a.healthz();
    assert.equal(h.status, 200);
    assert.deepEqual(Object.keys(h.body), [
      'status',
      'version',
      'connected_binaries',
      'connected_phones',
      'uptime_seconds',
      'node_id',
      'cluster_nodes',
    ]);
    assert.equal(h.body.status, 'ok');
    assert.equal(h.body.node_id, 'node-a');
    // The status page lists every node, this one first.
    const status = JSON.parse((await httpRequest(a.metricsPort, '/status.json')).body) as { nodes?: { id: string; self: boolean }[] };
    assert.deepEqual(
      status.nodes?.map((n) => [n.id, n.self]),
      [
        ['node-a', true],
        ['node-b', false],
      ],
    );
    const raw = await httpRequest(b.port, '/healthz');
    assert.doesNotMatch(raw.body, /redis|127\.0\.0\.1:\d+/i);
  });

  test('binary on A, phones on B: frames byte-exact and ordered both ways', async () => {
    const sid = newServerId();
    const binary = await connectBinary(a.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const p1 = await connectPhone(b.base, sid);
    const p2 = await connectPhone(b.base, sid);
    // Phone → binary: wrapped with the phone's conn_id, inner bytes untouched.
    const inner = '{"k":"\\u00e9 \\"q\\"","n":[1,2.5e3,null,true],"s":"ü"}';
    p1.send(inner);
    const first = await binary.next(3000);
    const m = /^\{"conn_id":"(client-[^"]+)","frame":(.*)\}$/s.exec(first);
    assert.ok(m, first);
    const conn1 = m[1]!;
    assert.match(conn1, new RegExp(`^client-${sid}-[0-9a-f]{8}$`));
    assert.equal(m[2], inner);
    p2.send('{"from":2}');
    const second = JSON.parse(await binary.next(3000)) as { conn_id: string; frame: unknown };
    const conn2 = second.conn_id;
    assert.notEqual(conn2, conn1);
    // Order per phone, both ways, 200 frames each.
    for (let i = 0; i < 200; i++) p1.send(`{"seq":${i}}`);
    for (let i = 0; i < 200; i++) {
      const env = JSON.parse(await binary.next(3000)) as { conn_id: string; frame: { seq: number } };
      assert.equal(env.conn_id, conn1);
      assert.equal(env.frame.seq, i);
    }
    for (let i = 0; i < 200; i++) binary.send(`{"conn_id":"${conn2}","frame":{"seq":${i},"x":"\\u0000"}}`);
    for (let i = 0; i < 200; i++) assert.equal(await p2.next(3000), `{"seq":${i},"x":"\\u0000"}`);
    assert.ok(await p1.silentFor(200), 'p1 got nothing meant for p2');
    // Close directive from the binary: frame, then close with its code; no notice back.
    binary.send(`{"conn_id":"${conn2}","frame":{"bye":1},"close_code":4401}`);
    assert.equal(await p2.next(3000), '{"bye":1}');
    assert.equal((await p2.waitClose(3000)).code, 4401);
    // Close notice: the phone closes itself with 4000 → the binary on A hears it once.
    p1.close(4000);
    assert.deepEqual(JSON.parse(await binary.next(3000)), { conn_id: conn1, close_code: 4000 });
    assert.ok(await binary.silentFor(300), 'no notice for the directive-closed phone, none twice');
    assert.ok((await busFrames(a)) > 0 && (await busFrames(b)) > 0);
    binary.close();
  });

  test('a phone dropped without a close frame: the remote binary gets 1001', async () => {
    const sid = newServerId();
    const binary = await connectBinary(b.base, sid);
    await sleep(CLAIM_VISIBLE_MS);
    const phone = await connectPhone(a.base, sid);
    phone.send('{}');
    const env = JSON.parse(await binary.next(3000)) as { conn_id: string };
    phone.ws.terminate();
    assert.deepEqual(JSON.parse(await binary.next(3000)), { conn_id: env.conn_id, close_code: 1001 });
    binary.close();
  });

  test('a same-node pair never touches the bus', async () => {
    const sid = newServerId();
    await sleep(300); // earlier tests' last bus messages
    const msgs = async (): Promise<number[]> => [
      await a.metric('pyrycode_relay_cluster_bus_messages_total{direction="out"}'),
      await b.metric('pyrycode_relay_cluster_bus_messages_total{direction="out"}'),
    ];
    const before = [await busFrames(a), await busFrames(b)];
    const msgsBefore = await msgs();
    const binary = await connectBinary(a.base, sid);
    const phone = await connectPhone(a.base, sid);
    for (let i = 0; i < 50; i++) phone.send(`{"i":${i}}`);
    let conn = '';
    for (let i = 0; i < 50; i++) conn = (JSON.parse(await binary.next(3000)) as { conn_id: string }).conn_id;
    for (let i = 0; i < 50; i++) binary.send(`{"conn_id":"${conn}","frame":{"i":${i}}}`);
    for (let i = 0; i < 50; i++) assert.equal(await phone.next(3000), `{"i":${i}}`);
    phone.close(4000);
    assert.deepEqual(JSON.parse(await binary.next(3000)), { conn_id: conn, close_code: 4000 });
    assert.deepEqual([await busFrames(a), await busFrames(b)], before);
    assert.deepEqual(await msgs(), msgsBefore, 'not even a join or a notice crossed the bus');
    binary.close();
  });

  test('4404 when no node holds a binary for the server-id', async () => {
    const phone = await connectPhone(b.base, newServerId());
    const c = await phone.waitClose(3000);
    assert.deepEqual(c, { code: 4404, reason: 'no server with that id' });
  });
});
