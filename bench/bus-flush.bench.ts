// Measures the bus's flush policies (decision 0018) against a real redis-server:
//  - lone message: round-trip time of one message A → B → A at a time (the cost an
//    idle pair pays for the flush's place in the event loop);
//  - fan-in: K sockets become readable together and each 'data' callback sends one
//    message to the same node, as K phones of one binary read in one loop turn would;
//    reports PUBLISHes per round (1 = fully batched, K = one per callback).
// Policies run interleaved, round by round, so machine noise hits them alike.
import { createConnection, createServer, type Socket } from 'node:net';
import { FrameBus, type FlushPolicy } from '../src/cluster/bus.js';
import { clusterKeys, newIncarnation, nodeRef } from '../src/cluster/keys.js';
import { createRedis } from '../src/cluster/redis-client.js';
import type { BusMessage } from '../src/cluster/bus-codec.js';
import { RedisServer } from '../test/helpers/redis.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const LONE = 300;
const FAN = 32;
const FAN_ROUNDS = 100;
const POLICIES: FlushPolicy[] = ['tick', 'immediate', 'adaptive'];

const redis = await RedisServer.start();
const keys = clusterKeys('bench');
const target = { host: '127.0.0.1', port: redis.port, db: 0, tls: false };

async function bus(name: string, flush: FlushPolicy): Promise<FrameBus> {
  const pub = createRedis(target, 'bus-pub', () => undefined);
  const sub = createRedis(target, 'bus-sub', () => undefined);
  await Promise.all([pub.connect(), sub.connect()]);
  const b = new FrameBus({
    nodeRef: nodeRef(name, newIncarnation()),
    channelFor: (ref) => keys.busChannel(ref),
    publisher: pub,
    subscriber: sub,
    flush,
  });
  b.start();
  await new Promise<void>((r) => b.once('ready', r));
  return b;
}

const msg: BusMessage = { kind: 'frameToBinary', serverId: 'srv', epoch: 1, connId: 'client-srv-00000000', frame: Buffer.alloc(200, 0x61) };

async function loneRoundTripUs(a: FrameBus, b: FrameBus): Promise<number> {
  const times: number[] = [];
  const echo = (src: string, m: BusMessage): void => void b.send(src, m);
  b.on('message', echo);
  for (let i = 0; i < LONE; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      a.once('message', () => r());
      a.send(b.nodeRef, msg);
    });
    times.push((performance.now() - t0) * 1000);
  }
  b.off('message', echo);
  times.sort((x, y) => x - y);
  return times[times.length >> 1]!;
}

/** K connected socket pairs; writing to every writer makes the K readers readable in one turn. */
async function socketPairs(k: number): Promise<{ writers: Socket[]; readers: Socket[]; close(): void }> {
  const readers: Socket[] = [];
  const server = createServer((s) => readers.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const writers = await Promise.all(
    Array.from(
      { length: k },
      () =>
        new Promise<Socket>((r) => {
          const s = createConnection(port, '127.0.0.1', () => r(s));
        }),
    ),
  );
  while (readers.length < k) await new Promise((r) => setTimeout(r, 5));
  return {
    writers,
    readers,
    close: () => {
      for (const s of [...writers, ...readers]) s.destroy();
      server.close();
    },
  };
}

async function fanInPublishes(a: FrameBus, b: FrameBus): Promise<number> {
  const pairs = await socketPairs(FAN);
  for (const r of pairs.readers) r.on('data', () => void a.send(b.nodeRef, msg));
  const before = a.counters.batchesOut;
  let got = 0;
  const count = (): void => void got++;
  b.on('message', count);
  for (let round = 1; round <= FAN_ROUNDS; round++) {
    for (const w of pairs.writers) w.write('x');
    while (got < round * FAN) await new Promise((r) => setTimeout(r, 1));
  }
  b.off('message', count);
  pairs.close();
  return (a.counters.batchesOut - before) / FAN_ROUNDS;
}

const results = new Map<FlushPolicy, { lone: number[]; fan: number[] }>();
const nodes = new Map<FlushPolicy, [FrameBus, FrameBus]>();
for (const p of POLICIES) {
  nodes.set(p, [await bus(`a-${p}`, p), await bus(`b-${p}`, p)]);
  results.set(p, { lone: [], fan: [] });
}
for (let r = 0; r < ROUNDS; r++) {
  for (const p of POLICIES) {
    const [a, b] = nodes.get(p)!;
    results.get(p)!.lone.push(await loneRoundTripUs(a, b));
    results.get(p)!.fan.push(await fanInPublishes(a, b));
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
console.log(
  `node ${process.version}, ${ROUNDS} rounds, medians; lone = A→B→A round trip of one message; fan-in = PUBLISHes per ${FAN} sockets read in one turn`,
);
console.log('policy     lone RTT µs  fan-in PUBLISHes');
for (const p of POLICIES) {
  const r = results.get(p)!;
  console.log(`${p.padEnd(10)} ${median(r.lone).toFixed(0).padStart(11)}  ${median(r.fan).toFixed(1).padStart(16)}`);
}
for (const [a, b] of nodes.values()) for (const x of [a, b]) x.stop();
await redis.stop();
process.exit(0);
