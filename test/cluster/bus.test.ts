// Black-box tests of the frame bus against a real redis-server: two bus instances, each
// with its own publisher and subscriber connection, stand for two nodes. Faults are real:
// the server is restarted empty, pub/sub clients are killed, a subscription is dropped
// behind the bus's back, garbage and forged batches are PUBLISHed by a raw client.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { FrameBus, type FrameBusOptions, type LinkLostReason } from '../../src/cluster/bus.js';
import { clusterKeys, newIncarnation, nodeRef } from '../../src/cluster/keys.js';
import { createRedis, type RedisRole } from '../../src/cluster/redis-client.js';
import { decodeBatch, encodeBatch, headerBytes, LinkFlag, messageBytes, type Batch, type BusMessage } from '../../src/cluster/bus-codec.js';
import { RedisServer } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { Registry } from 'prom-client';
import { registerBusMetrics } from '../../src/cluster/bus-metrics.js';

const keys = clusterKeys('bustest');
const channelFor = (ref: string): string => keys.busChannel(ref);

interface Node {
  bus: FrameBus;
  pub: Redis;
  sub: Redis;
  got: { src: string; msg: BusMessage }[];
  lost: { peer: string; reason: LinkLostReason }[];
  readies: number;
  notReadies: number;
}

let redis: RedisServer;
const nodes: Node[] = [];

/** A connection configured exactly as a node's, for one role. */
function connect(role: RedisRole, port = redis.port): Redis {
  const r = createRedis({ host: '127.0.0.1', port, db: 0, tls: false }, role, () => undefined);
  r.connect().catch(() => undefined);
  return r;
}

async function startNode(name: string, opts: Partial<FrameBusOptions> = {}, subPort = redis.port, pubPort = redis.port): Promise<Node> {
  const pub = connect('bus-pub', pubPort);
  const sub = connect('bus-sub', subPort);
  const bus = new FrameBus({
    nodeRef: nodeRef(name, newIncarnation()),
    channelFor,
    publisher: pub,
    subscriber: sub,
    probeIntervalMs: 60_000,
    ...opts,
  });
  const n: Node = { bus, pub, sub, got: [], lost: [], readies: 0, notReadies: 0 };
  bus.on('message', (src, msg) => n.got.push({ src, msg }));
  bus.on('linkLost', (peer, reason) => n.lost.push({ peer, reason }));
  bus.on('ready', () => n.readies++);
  bus.on('notReady', () => n.notReadies++);
  nodes.push(n);
  bus.start();
  await waitFor(() => bus.isReady, 'bus ready');
  return n;
}

async function waitFor(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function assertOwnLossThenAtMostAReset(lost: Node['lost'], peer: string, reason: LinkLostReason): void {
  assert.deepEqual(lost[0], { peer, reason });
  assert.ok(lost.length <= 2, JSON.stringify(lost));
  for (const l of lost.slice(1)) assert.deepEqual(l, { peer, reason: 'reset' });
}

/**
 * After a loss both sides restart the link (request, answer); messages sent before that
 * settles may be dropped, and are declared. Sends markers until one gets through.
 */
async function linkUp(from: Node, to: Node): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const before = to.got.length;
    from.bus.send(to.bus.nodeRef, { kind: 'pause', serverId: 'marker', epoch: i });
    const deadline = Date.now() + 100;
    while (Date.now() < deadline && to.got.length === before) await new Promise((r) => setTimeout(r, 5));
    if (to.got.length > before) return;
  }
  throw new Error('link did not come back');
}

const frames = (n: Node): number[] => n.got.filter((g) => g.msg.kind === 'frameToBinary').map((g) => indexOf(g.msg));

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function frameMsg(i: number, size = 16): BusMessage {
  const frame = Buffer.alloc(size, 0x61);
  frame.writeUInt32BE(i, 0);
  return { kind: 'frameToBinary', serverId: 'srv one', epoch: 7, connId: 'client-srv one-0000abcd', frame };
}

const indexOf = (m: BusMessage): number => (m.kind === 'frameToBinary' ? m.frame.readUInt32BE(0) : -1);

async function publishCalls(): Promise<number> {
  const info = await redis.command('INFO', 'commandstats');
  const m = /cmdstat_publish:calls=(\d+)/.exec(info);
  return m === null ? 0 : Number(m[1]);
}

/** A raw batch as anyone who can PUBLISH could craft it. */
function crafted(src: string, dst: string, linkEpoch: number, s: number, messages: BusMessage[], flags = 0): Buffer {
  let size = headerBytes(src, dst);
  for (const m of messages) size += messageBytes(m);
  return encodeBatch({ src, dst, linkEpoch, seq: s, flags }, messages, 0, messages.length, size);
}

/** A raw subscriber on a fake peer's channel: every batch the bus sends it, decoded. */
async function fakePeer(ref: string): Promise<{ batches: Batch[]; close(): void }> {
  const sub = connect('bus-sub');
  const batches: Batch[] = [];
  sub.on('messageBuffer', (_ch: Buffer, payload: Buffer) => {
    const d = decodeBatch(payload);
    if (d.ok) batches.push(d.batch);
  });
  await sub.subscribe(channelFor(ref));
  return { batches, close: () => sub.disconnect() };
}

before(async () => {
  redis = await RedisServer.start();
});

afterEach(() => {
  for (const n of nodes.splice(0)) {
    n.bus.stop();
    n.pub.disconnect();
    n.sub.disconnect();
  }
});

after(async () => {
  await redis.stop();
});

describe('frame bus', () => {
  test('delivers many batches in order between two nodes, both ways', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const N = 3000;
    for (let i = 0; i < N; i++) {
      a.bus.send(b.bus.nodeRef, frameMsg(i, 16 + (i % 700)));
      b.bus.send(a.bus.nodeRef, frameMsg(i));
      if (i % 37 === 0) await turn();
    }
    await waitFor(() => b.got.length === N && a.got.length === N, 'all messages');
    assert.deepEqual(
      b.got.map((g) => indexOf(g.msg)),
      [...Array(N).keys()],
    );
    assert.deepEqual(
      a.got.map((g) => indexOf(g.msg)),
      [...Array(N).keys()],
    );
    assert.ok(b.got.every((g) => g.src === a.bus.nodeRef));
    assert.equal(b.got[5]!.msg.kind === 'frameToBinary' && b.got[5]!.msg.frame.length, 16 + 5);
    assert.deepEqual(a.lost, []);
    assert.deepEqual(b.lost, []);
    assert.equal(b.bus.counters.gaps, 0);
    assert.equal(b.bus.counters.messagesIn, N);
    assert.equal(b.bus.counters.framesIn, N);
    assert.ok(a.bus.counters.batchesOut < N / 10, `batched: ${a.bus.counters.batchesOut} publishes`);
    assert.equal(a.bus.counters.batchesOut, b.bus.counters.batchesIn);
    assert.ok(b.bus.counters.bytesIn > a.bus.counters.bytesOut && a.bus.counters.bytesOut > N * 16);
  });

  test('metrics: the counters are exported as pyrycode_relay_cluster_bus_* series at scrape time', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const reg = new Registry();
    registerBusMetrics(reg, b.bus);
    const zero = await reg.metrics();
    assert.match(zero, /^pyrycode_relay_cluster_bus_links_lost_total\{reason="probe_lost"\} 0$/m);
    assert.match(zero, /^pyrycode_relay_cluster_bus_ready 1$/m);
    for (let i = 0; i < 10; i++) a.bus.send(b.bus.nodeRef, frameMsg(i));
    a.bus.send('ghost:000000000000', frameMsg(0));
    await waitFor(() => b.got.length === 10, 'ten');
    const raw = connect('registry');
    await raw.publish(channelFor(b.bus.nodeRef), 'garbage');
    await raw.publish(channelFor(b.bus.nodeRef), crafted(a.bus.nodeRef, b.bus.nodeRef, 1, 5, [frameMsg(5)]));
    raw.disconnect();
    await waitFor(() => b.bus.counters.gaps === 1, 'gapped batch');
    // The gap makes b ask a for a new epoch, and a answers with an empty batch
    // (decision 0018, link rules): that answer is a second inbound batch, arriving
    // whenever the round trip ends. Wait for it so the count does not race it.
    await waitFor(() => b.bus.counters.batchesIn === 2, 'the answer to the restart request');
    const text = await reg.metrics();
    assert.match(text, /^pyrycode_relay_cluster_bus_messages_total\{direction="in"\} 10$/m);
    assert.match(text, /^pyrycode_relay_cluster_bus_frames_total\{direction="in"\} 10$/m);
    assert.match(text, /^pyrycode_relay_cluster_bus_batches_total\{direction="in"\} 2$/m, 'the ten frames, then the answer');
    assert.match(text, /^pyrycode_relay_cluster_bus_malformed_total 1$/m);
    assert.match(text, /^pyrycode_relay_cluster_bus_gaps_total 1$/m);
    assert.match(text, /^pyrycode_relay_cluster_bus_links_lost_total\{reason="gap"\} 1$/m);
    assert.deepEqual(
      a.lost.filter((l) => l.peer === b.bus.nodeRef),
      [{ peer: b.bus.nodeRef, reason: 'reset' }],
    );
    assert.equal(b.lost.length, 1, 'the answer is no reset');
    assert.match(await reg.metrics(), /^pyrycode_relay_cluster_bus_gaps_total 1$/m, 'a second scrape does not double count');
    for (const secret of ['ghost', a.bus.nodeRef, b.bus.nodeRef, 'srv one', 'client-'])
      assert.ok(!text.includes(secret), `series never name ${secret}`);
  });

  test('every message kind crosses the bus intact', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const slot = { serverId: '{weird} *id: 1', epoch: 2 ** 40 };
    const connId = 'client-{weird} *id: 1-89abcdef';
    const msgs: BusMessage[] = [
      { kind: 'phoneJoin', ...slot, connId },
      { kind: 'frameToBinary', ...slot, connId, frame: Buffer.from('{"a":1}') },
      { kind: 'frameToPhone', ...slot, connId, frame: Buffer.from('{"b":2}') },
      { kind: 'pause', ...slot },
      { kind: 'resume', ...slot },
      { kind: 'closeDirective', ...slot, connId, code: 4401, frame: Buffer.from('{"bye":1}') },
      { kind: 'closeDirective', ...slot, connId, code: 1000, frame: undefined },
      { kind: 'phoneLeave', ...slot, connId, code: 1001 },
      { kind: 'evict', ...slot, connId: undefined, code: 4404, reason: 1 },
      { kind: 'evict', ...slot, connId, code: 1012, reason: 4 },
      { kind: 'probeRequest', ...slot, requestId: 42 },
      { kind: 'probeAnswer', ...slot, requestId: 42, alive: true },
    ];
    for (const m of msgs) a.bus.send(b.bus.nodeRef, m);
    await waitFor(() => b.got.length === msgs.length, 'all kinds');
    assert.deepEqual(
      b.got.map((g) => g.msg),
      msgs,
    );
  });

  test('all messages for one destination in one turn leave in one PUBLISH; big ones are split in order', async () => {
    const a = await startNode('a', { maxBatchBytes: 128 * 1024 });
    const b = await startNode('b');
    const c = await startNode('c');
    await redis.command('CONFIG', 'RESETSTAT');
    for (let i = 0; i < 200; i++) {
      a.bus.send(b.bus.nodeRef, frameMsg(i, 100));
      a.bus.send(c.bus.nodeRef, frameMsg(i, 100));
    }
    await waitFor(() => b.got.length === 200 && c.got.length === 200, '200 messages each');
    assert.equal(await publishCalls(), 2, 'one PUBLISH per destination');

    await redis.command('CONFIG', 'RESETSTAT');
    const before = b.got.length;
    for (let i = 0; i < 10; i++) a.bus.send(b.bus.nodeRef, frameMsg(i, 50 * 1024));
    await waitFor(() => b.got.length === before + 10, '10 big messages');
    assert.equal(await publishCalls(), 5, 'two 50 KiB frames per 128 KiB batch');
    assert.deepEqual(
      b.got.slice(before).map((g) => indexOf(g.msg)),
      [...Array(10).keys()],
    );
    // A message larger than the batch bound goes alone, between its neighbours.
    await redis.command('CONFIG', 'RESETSTAT');
    a.bus.send(b.bus.nodeRef, frameMsg(1, 100));
    a.bus.send(b.bus.nodeRef, frameMsg(2, 256 * 1024));
    a.bus.send(b.bus.nodeRef, frameMsg(3, 100));
    await waitFor(() => b.got.length === before + 13, 'the big one');
    assert.equal(await publishCalls(), 3);
    assert.deepEqual(
      b.got.slice(before + 10).map((g) => indexOf(g.msg)),
      [1, 2, 3],
    );
    assert.deepEqual(b.lost, []);
  });

  test('a gap is declared; the rest of that epoch is dropped until the peer answers the restart request', async () => {
    const b = await startNode('b');
    const x = 'node-x:abc';
    const peer = await fakePeer(x);
    const raw = connect('registry');
    try {
      const ch = channelFor(b.bus.nodeRef);
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 1, [frameMsg(1)]));
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 1, [frameMsg(11)])); // duplicate
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 3, [frameMsg(3)])); // 2 is missing
      await waitFor(() => b.lost.length === 1, 'gap');
      assert.deepEqual(b.lost, [{ peer: x, reason: 'gap' }]);
      assert.equal(b.bus.counters.gaps, 1);
      // b asks x for a new epoch at once: an empty batch, new epoch, restart flag.
      await waitFor(() => peer.batches.length === 1, 'restart request');
      assert.deepEqual(peer.batches[0], { src: b.bus.nodeRef, dst: x, linkEpoch: 2, seq: 1, flags: LinkFlag.restart, messages: [] });
      // Nothing more of x's epoch 1 is trusted, in order or not.
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 4, [frameMsg(4)]));
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 2, [frameMsg(2)]));
      // x answers with epoch 2: accepted, and no new declaration (b already closed its side).
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 2, 1, [frameMsg(100)], LinkFlag.answer));
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 5, [frameMsg(5)])); // stale epoch
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 2, 2, [frameMsg(101)]));
      await waitFor(() => b.got.length === 3, 'the new epoch');
      assert.deepEqual(
        b.got.map((g) => indexOf(g.msg)),
        [1, 100, 101],
      );
      assert.equal(b.lost.length, 1);
      assert.equal(b.bus.counters.duplicates, 4);
      // x resets on its own (no answer flag): that is x's declaration, b closes its side.
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 3, 1, [frameMsg(200)]));
      await waitFor(() => b.got.length === 4, 'epoch 3');
      assert.deepEqual(b.lost[1], { peer: x, reason: 'reset' });
      // A first contact that does not start at 1 is a gap too.
      await raw.publish(ch, crafted('node-y:1', b.bus.nodeRef, 1, 9, [frameMsg(9)]));
      await waitFor(() => b.lost.some((l) => l.peer === 'node-y:1'), 'first-contact gap');
      assert.deepEqual(b.lost[2], { peer: 'node-y:1', reason: 'gap' });
      // node-y has no subscriber: its restart request is unheard, retried, never re-declared.
      await waitFor(() => b.bus.counters.publishUnheard >= 1, 'unheard announcement');
      assert.equal(b.lost.length, 3);
    } finally {
      raw.disconnect();
      peer.close();
    }
  });

  test('crossing restart requests: the answer does not ask again, so nothing ping-pongs into a second reset', async () => {
    const b = await startNode('b');
    const x = 'node-x:cross';
    const raw = connect('registry');
    let peer: Awaited<ReturnType<typeof fakePeer>> | undefined;
    try {
      const ch = channelFor(b.bus.nodeRef);
      // b loses inbound from x while x's channel has no subscriber: b's restart request
      // (epoch 2) goes unheard and waits to be announced again.
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 1, [frameMsg(1)]));
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 1, 3, [frameMsg(3)]));
      await waitFor(() => b.bus.counters.publishUnheard === 1, 'unheard restart request');
      peer = await fakePeer(x);
      // x lost b's messages too and restarts with its own request: the requests cross.
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 2, 1, [frameMsg(20)], LinkFlag.restart));
      await waitFor(() => peer!.batches.length === 1, "b's answer");
      // x's new epoch is all b asked for: the answer carries no request of its own.
      assert.deepEqual(peer.batches[0], { src: b.bus.nodeRef, dst: x, linkEpoch: 3, seq: 1, flags: LinkFlag.answer, messages: [] });
      // x answers b's earlier request all the same: an answer, not a reset.
      await raw.publish(ch, crafted(x, b.bus.nodeRef, 3, 1, [frameMsg(30)], LinkFlag.answer));
      await waitFor(() => b.got.length === 3, 'the answer epoch');
      assert.deepEqual(
        b.got.map((g) => indexOf(g.msg)),
        [1, 20, 30],
      );
      assert.deepEqual(b.lost, [
        { peer: x, reason: 'gap' },
        { peer: x, reason: 'reset' },
      ]);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(peer.batches.length, 1, 'b does not restart again');
    } finally {
      raw.disconnect();
      peer?.close();
    }
  });

  test('a gap between two nodes: both sides declare once, then the link carries traffic again', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const raw = connect('registry');
    try {
      a.bus.send(b.bus.nodeRef, frameMsg(1));
      await waitFor(() => b.got.length === 1, 'first');
      // A batch far ahead on the a→b link: b declares a gap and asks a to restart.
      await raw.publish(channelFor(b.bus.nodeRef), crafted(a.bus.nodeRef, b.bus.nodeRef, 1, 50, [frameMsg(50)]));
      await waitFor(() => b.lost.length === 1 && a.lost.length === 1, 'gap at b, reset at a');
      assert.deepEqual(b.lost, [{ peer: a.bus.nodeRef, reason: 'gap' }]);
      assert.deepEqual(a.lost, [{ peer: b.bus.nodeRef, reason: 'reset' }]);
      a.bus.send(b.bus.nodeRef, frameMsg(2));
      b.bus.send(a.bus.nodeRef, frameMsg(3));
      await waitFor(() => b.got.length === 2 && a.got.length === 1, 'traffic both ways');
      assert.equal(indexOf(b.got[1]!.msg), 2);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(b.lost.length, 1, 'the answer is not a reset');
      assert.equal(a.lost.length, 1, 'nothing ping-pongs');
    } finally {
      raw.disconnect();
    }
  });

  test('link state is bounded: sources past maxPeers are foreign; forget() drops a peer', async () => {
    const b = await startNode('b', { maxPeers: 2 });
    const raw = connect('registry');
    try {
      const ch = channelFor(b.bus.nodeRef);
      for (const src of ['p1:1', 'p2:1', 'p3:1']) await raw.publish(ch, crafted(src, b.bus.nodeRef, 1, 1, [frameMsg(1)]));
      await waitFor(() => b.got.length === 2 && b.bus.counters.foreign === 1, 'two peers kept, one refused');
      assert.deepEqual(
        b.got.map((g) => g.src),
        ['p1:1', 'p2:1'],
      );
      b.bus.forget('p1:1');
      await raw.publish(ch, crafted('p3:1', b.bus.nodeRef, 1, 1, [frameMsg(1)]));
      await waitFor(() => b.got.length === 3, 'room after forget');
      assert.deepEqual(b.lost, []);
    } finally {
      raw.disconnect();
    }
  });

  test('publishing to a node that is not subscribed declares the link lost', async () => {
    const a = await startNode('a');
    a.bus.send('ghost:dead', frameMsg(1));
    a.bus.send('ghost:dead', frameMsg(2));
    await waitFor(() => a.lost.length === 1, 'link lost');
    assert.deepEqual(a.lost, [{ peer: 'ghost:dead', reason: 'not_subscribed' }]);
    assert.equal(a.bus.counters.publishUnheard, 1);
  });

  test('a PUBLISH that fails (publisher connection dropped) declares the link lost; the link recovers', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    a.bus.send(b.bus.nodeRef, frameMsg(1));
    await waitFor(() => b.got.length === 1, 'first');
    const id = String(await a.pub.client('ID'));
    await redis.command('CLIENT', 'KILL', 'ID', id);
    await waitFor(() => a.pub.status !== 'ready', 'publisher dropped');
    a.bus.send(b.bus.nodeRef, frameMsg(2)); // no offline queue: fails at once, never sent late
    await waitFor(() => a.lost.length === 1, 'publish failure declared');
    assert.deepEqual(a.lost, [{ peer: b.bus.nodeRef, reason: 'publish_failed' }]);
    assert.equal(a.bus.counters.publishFailures, 1);
    await waitFor(() => a.pub.status === 'ready', 'publisher back');
    a.bus.send(b.bus.nodeRef, frameMsg(3));
    await waitFor(() => b.got.length === 2, 'after');
    assert.deepEqual(
      b.got.map((g) => indexOf(g.msg)),
      [1, 3],
    );
    assert.deepEqual(b.lost, [{ peer: a.bus.nodeRef, reason: 'reset' }], 'b learns of the loss from the new epoch');
  });

  test('garbage and foreign batches on the channel are dropped and counted; the real link is untouched', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const raw = connect('registry');
    try {
      const ch = channelFor(b.bus.nodeRef);
      a.bus.send(b.bus.nodeRef, frameMsg(0));
      await waitFor(() => b.got.length === 1, 'first');
      await raw.publish(ch, Buffer.from('{"conn_id":"client-x-00000000","frame":{}}'));
      await raw.publish(ch, Buffer.from([0x50, 0x42, 1, 0, 0xff, 0xff]));
      await raw.publish(ch, 'hello');
      // Valid-looking, but addressed to another node.
      await raw.publish(ch, crafted(a.bus.nodeRef, 'other:1', 1, 2, [frameMsg(666)]));
      // A self-probe claiming to come from someone else.
      const probe = crafted('evil:1', 'evil:1', 0, 0, [{ kind: 'selfProbe', nonce: 1 }]);
      await raw.publish(ch, probe);
      // A self-probe naming another node as its source.
      await raw.publish(ch, crafted('evil:1', b.bus.nodeRef, 0, 0, [{ kind: 'selfProbe', nonce: 1 }]));
      await waitFor(() => b.bus.counters.malformed === 4 && b.bus.counters.foreign === 2, 'counted');
      assert.equal(b.got.length, 1);
      for (let i = 1; i <= 5; i++) a.bus.send(b.bus.nodeRef, frameMsg(i));
      await waitFor(() => b.got.length === 6, 'traffic continues');
      assert.deepEqual(
        b.got.map((g) => indexOf(g.msg)),
        [0, 1, 2, 3, 4, 5],
      );
      assert.deepEqual(b.lost, []);
      // A well-formed batch from an unknown node naming some server-id/epoch reaches the
      // relay tagged with its source; the relay drops it (no such slot or a stale epoch).
      await raw.publish(ch, crafted('intruder:1', b.bus.nodeRef, 1, 1, [{ kind: 'pause', serverId: 'not-mine', epoch: 1 }]));
      await waitFor(() => b.got.length === 7, 'forged message surfaced');
      assert.deepEqual(b.got[6], { src: 'intruder:1', msg: { kind: 'pause', serverId: 'not-mine', epoch: 1 } });
    } finally {
      raw.disconnect();
    }
  });

  test('queued bytes per destination are bounded: within a turn and while Redis does not answer', async () => {
    const a = await startNode('a', { maxQueuedBytes: 64 * 1024 });
    const b = await startNode('b');
    // 1078 bytes a message: the 61st passes 64 KiB, so the 60 queued are dropped with
    // the link, and the 39 after it start the link's next epoch.
    const refused: number[] = [];
    for (let i = 0; i < 100; i++) if (!a.bus.send(b.bus.nodeRef, frameMsg(i, 1024))) refused.push(i);
    assert.deepEqual(refused, [60]);
    assert.equal(a.bus.counters.overflows, 1);
    assert.equal(a.lost.length, 0, 'declared on the next tick, not inside send()');
    await waitFor(() => a.lost.length === 1, 'overflow declared');
    assert.deepEqual(a.lost[0], { peer: b.bus.nodeRef, reason: 'overflow' });
    await waitFor(() => b.got.length === 39, 'the messages after the overflow');
    assert.deepEqual(
      b.got.map((g) => indexOf(g.msg)),
      [...Array(39).keys()].map((i) => i + 61),
    );
    assert.deepEqual(b.lost, [{ peer: a.bus.nodeRef, reason: 'reset' }], 'b learns its side of the link is gone');
    // Redis frozen: PUBLISHes stay in flight and count against the bound across turns.
    const lostBefore = a.lost.length;
    redis.pause();
    try {
      let refused = -1;
      for (let i = 0; i < 200 && refused < 0; i++) {
        if (!a.bus.send(b.bus.nodeRef, frameMsg(i, 1024))) refused = i;
        await turn();
      }
      assert.ok(refused > 50 && refused < 70, `refused at ${refused}`);
      await waitFor(() => a.lost.length > lostBefore, 'overflow while frozen');
      assert.equal(a.lost[lostBefore]?.reason, 'overflow');
      // Still frozen: further sends are refused, without a new declaration each.
      for (let i = 0; i < 5; i++) assert.equal(a.bus.send(b.bus.nodeRef, frameMsg(i, 1024)), false);
      await turn();
      assert.equal(a.lost.length, lostBefore + 1);
    } finally {
      redis.resume();
    }
  });

  test('a link past its high-water mark is congested until half of it is left, well before the loss bound', async () => {
    const a = await startNode('a', { maxQueuedBytes: 64 * 1024, highWaterBytes: 16 * 1024 });
    const b = await startNode('b');
    const events: string[] = [];
    a.bus.on('congested', (peer) => events.push(`congested ${peer === b.bus.nodeRef}`));
    a.bus.on('drained', (peer) => events.push(`drained ${peer === b.bus.nodeRef}`));
    // Redis frozen: the PUBLISHes stay in flight, so the bytes add up across turns.
    redis.pause();
    try {
      for (let i = 0; i < 20; i++) {
        assert.equal(a.bus.send(b.bus.nodeRef, frameMsg(i, 1024)), true);
        await turn();
      }
      assert.deepEqual(events, ['congested true'], 'once, past 16 KiB');
      assert.equal(a.bus.isCongested(b.bus.nodeRef), true);
    } finally {
      redis.resume();
    }
    await waitFor(() => events.length === 2, 'drained');
    assert.deepEqual(events, ['congested true', 'drained true']);
    assert.equal(a.bus.isCongested(b.bus.nodeRef), false);
    await waitFor(() => b.got.length === 20, 'every message');
    assert.deepEqual(frames(b), [...Array(20).keys()]);
    assert.deepEqual(a.lost, []);
  });

  test('Redis restart: the bus re-subscribes, proves it, declares its links lost, and traffic resumes', async () => {
    const a = await startNode('a', { probeIntervalMs: 200, probeTimeoutMs: 500 });
    const b = await startNode('b', { probeIntervalMs: 200, probeTimeoutMs: 500 });
    a.bus.send(b.bus.nodeRef, frameMsg(1));
    b.bus.send(a.bus.nodeRef, frameMsg(1));
    await waitFor(() => b.got.length === 1 && a.got.length === 1, 'before');
    const subsBefore = b.bus.counters.subscribes;
    await redis.restart(200);
    await waitFor(() => a.notReadies === 1 && b.notReadies === 1, 'not ready');
    await waitFor(() => a.bus.isReady && b.bus.isReady, 'ready again');
    assert.equal(b.readies, 2);
    assert.ok(b.bus.counters.subscribes > subsBefore);
    // The proof: Redis (a new, empty server) has the channel subscribed again.
    const numsub = await redis.command('PUBSUB', 'NUMSUB', channelFor(b.bus.nodeRef));
    assert.match(numsub, /:1\r\n$/);
    await linkUp(a, b);
    for (let i = 2; i <= 50; i++) a.bus.send(b.bus.nodeRef, frameMsg(i));
    await waitFor(() => frames(b).length === 50, 'traffic resumed');
    assert.deepEqual(
      frames(b),
      [...Array(50).keys()].map((i) => i + 1),
    );
    // Each side declared its own loss, and may also see the other's restart request as a
    // reset (both lost messages at once); never more, and nothing is a gap.
    assertOwnLossThenAtMostAReset(a.lost, b.bus.nodeRef, 'subscriber_lost');
    assertOwnLossThenAtMostAReset(b.lost, a.bus.nodeRef, 'subscriber_lost');
    assert.equal(b.bus.counters.gaps, 0);
  });

  test('CLIENT KILL TYPE pubsub: detected, re-subscribed, links lost, traffic resumes', async () => {
    const a = await startNode('a', { probeIntervalMs: 200, probeTimeoutMs: 500 });
    const b = await startNode('b', { probeIntervalMs: 200, probeTimeoutMs: 500 });
    a.bus.send(b.bus.nodeRef, frameMsg(1));
    await waitFor(() => b.got.length === 1, 'before');
    const killed = await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    assert.match(killed, /^:2\r\n/);
    await waitFor(() => b.notReadies === 1, 'b not ready');
    await waitFor(() => a.bus.isReady && b.bus.isReady, 'ready again');
    await linkUp(a, b);
    for (let i = 2; i <= 20; i++) a.bus.send(b.bus.nodeRef, frameMsg(i));
    await waitFor(() => frames(b).length === 20, 'traffic resumed');
    assert.deepEqual(
      frames(b),
      [...Array(20).keys()].map((i) => i + 1),
    );
    assertOwnLossThenAtMostAReset(a.lost, b.bus.nodeRef, 'subscriber_lost');
    assertOwnLossThenAtMostAReset(b.lost, a.bus.nodeRef, 'subscriber_lost');
    // A second kill after the reconnect is a second loss, declared again.
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await waitFor(() => b.notReadies === 2 && b.bus.isReady, 'b back after the second kill');
    assert.deepEqual(b.lost.filter((l) => l.reason === 'subscriber_lost').length, 2);
    await linkUp(a, b);
    a.bus.send(b.bus.nodeRef, frameMsg(21));
    await waitFor(() => frames(b).length === 21, 'traffic after the second kill');
  });

  test('a subscription lost on a live connection is caught by the idle probe and restored', async () => {
    const a = await startNode('a');
    const b = await startNode('b', { probeIntervalMs: 100, probeTimeoutMs: 300 });
    a.bus.send(b.bus.nodeRef, frameMsg(1));
    await waitFor(() => b.got.length === 1, 'before');
    // The connection stays up and answers pings, but no longer gets publishes.
    await b.sub.unsubscribe(channelFor(b.bus.nodeRef));
    await waitFor(() => b.bus.counters.probesLost === 1, 'probe lost');
    assert.deepEqual(b.lost, [{ peer: a.bus.nodeRef, reason: 'probe_lost' }]);
    await waitFor(() => b.bus.isReady, 'ready again');
    assert.equal(b.readies, 2);
    // b's restart request reaches a (a reset on a's side), a answers; then traffic flows.
    await waitFor(() => a.lost.length === 1, 'reset at a');
    assert.deepEqual(a.lost, [{ peer: b.bus.nodeRef, reason: 'reset' }]);
    await linkUp(a, b);
    a.bus.send(b.bus.nodeRef, frameMsg(2));
    await waitFor(() => frames(b).length === 2, 'traffic resumed');
    assert.deepEqual(b.lost, [{ peer: a.bus.nodeRef, reason: 'probe_lost' }]);
  });

  test('a probe whose reply waits in the socket through an event-loop stall is not lost', async () => {
    const b = await startNode('b', { probeIntervalMs: 60, probeTimeoutMs: 100 });
    for (let i = 0; i < 5; i++) {
      const sent = b.bus.counters.probesSent;
      await waitFor(() => b.bus.counters.probesSent > sent, 'an idle probe');
      // Stall past the probe timeout while the reply arrives: when the loop runs
      // again, the timeout's timer is due before the socket is read.
      const until = performance.now() + 250;
      while (performance.now() < until);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(b.bus.counters.probesLost, 0);
    assert.deepEqual(b.lost, []);
    assert.equal(b.notReadies, 0);
  });

  test('a subscriber link that goes silent (no error, no close) is caught by the probe and replaced', async () => {
    const proxy = await TcpProxy.start(redis.port);
    try {
      const a = await startNode('a');
      const b = await startNode('b', { probeIntervalMs: 100, probeTimeoutMs: 300 }, proxy.port);
      a.bus.send(b.bus.nodeRef, frameMsg(1));
      await waitFor(() => b.got.length === 1, 'before');
      proxy.cut({ silent: true }); // bytes vanish both ways; the socket stays open
      await waitFor(() => b.bus.counters.probesLost >= 1 && !b.bus.isReady, 'probe lost');
      assert.deepEqual(b.lost[0], { peer: a.bus.nodeRef, reason: 'probe_lost' });
      proxy.restore();
      await waitFor(() => b.bus.isReady, 'ready through a new connection', 15_000);
      await linkUp(a, b);
      a.bus.send(b.bus.nodeRef, frameMsg(2));
      await waitFor(() => frames(b).length === 2, 'traffic resumed');
      assert.deepEqual(frames(b), [1, 2]);
    } finally {
      await proxy.close();
    }
  });
  test('a publisher link that goes silent is caught by the probe too: both connections are replaced', async () => {
    const proxy = await TcpProxy.start(redis.port);
    try {
      const a = await startNode('a');
      const b = await startNode('b', { probeIntervalMs: 100, probeTimeoutMs: 300 }, redis.port, proxy.port);
      b.bus.send(a.bus.nodeRef, frameMsg(1));
      await waitFor(() => a.got.length === 1, 'before');
      proxy.cut({ silent: true }); // b's PUBLISHes vanish; its subscriber is fine
      await waitFor(() => b.bus.counters.probesLost >= 1 && !b.bus.isReady, 'probe lost');
      proxy.restore();
      // Without restarting the publisher, the probe could never come back.
      await waitFor(() => b.bus.isReady, 'ready through a new publisher', 15_000);
      await linkUp(b, a);
      b.bus.send(a.bus.nodeRef, frameMsg(2));
      await waitFor(() => frames(a).includes(2), 'traffic resumed');
      assert.deepEqual(frames(a).slice(0, 1), [1]);
    } finally {
      await proxy.close();
    }
  });
});
