// Shared by the load-balancer tests of cluster mode (test/deploy/*-cluster.test.ts):
// a real redis-server and three relay child processes in cluster mode, each with its
// own node id, listener and metrics listener; pairs dialled through the balancer with
// frames checked both ways; and which node each connection landed on, read from the
// nodes' own /healthz counts and bus series.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectBinary, connectPhone, newServerId, noiseFrame, sleep, type DialOptions, type TestClient } from './clients.js';
import { exited, ROOT } from './deploy.js';
import { cells, httpRequest, scrape } from './http.js';
import { freePort, spawnCli, waitForStderr } from './process.js';
import { RedisServer } from './redis.js';

export interface ClusterNode {
  readonly nodeId: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly child: ReturnType<typeof spawnCli>;
}

export interface LocalCluster {
  readonly redis: RedisServer;
  readonly nodes: ClusterNode[];
  stop(): Promise<void>;
}

/**
 * The rules of docs/cluster.md's `ACL SETUSER relay on >PASSWORD …` line, as
 * arguments, for `prefix` instead of the default one.
 */
export function documentedAcl(prefix: string): string[] {
  const line = /^ACL SETUSER relay on >PASSWORD (.*)$/m.exec(readFileSync(join(ROOT, 'docs/cluster.md'), 'utf8'))?.[1];
  assert.ok(line !== undefined, 'docs/cluster.md has the ACL SETUSER line');
  return line.split(' ').map((rule) => rule.replaceAll('pyrycode-relay:', `${prefix}:`));
}

/**
 * Redis plus `count` nodes on loopback, every one logged `relay_started`. The nodes
 * log in as a `relay` user holding exactly the documented ACL.
 */
export async function startLocalCluster(count = 3, prefix = 'deploy-test'): Promise<LocalCluster> {
  const redis = await RedisServer.start();
  const password = randomBytes(12).toString('hex');
  await redis.command('ACL', 'SETUSER', 'relay', 'on', `>${password}`, ...documentedAcl(prefix));
  const url = `redis://relay:${password}@127.0.0.1:${redis.port}`;
  const nodes: ClusterNode[] = [];
  const stop = async (): Promise<void> => {
    for (const n of nodes) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => exited(n.child, 15_000)));
    await redis.stop();
  };
  try {
    for (let i = 1; i <= count; i++) {
      const port = await freePort();
      const metricsPort = await freePort();
      const nodeId = `node-${i}`;
      const child = spawnCli(
        [
          '--insecure-listen',
          `127.0.0.1:${port}`,
          '--metrics-listen',
          `127.0.0.1:${metricsPort}`,
          '--trust-x-forwarded-for',
          '--node-id',
          nodeId,
          '--cluster-prefix',
          prefix,
          '--cluster-node-ttl',
          '5s',
          // Every test client dials from 127.0.0.1: room for all of them on one node.
          '--rate-limit-burst',
          '200',
          '--drain-timeout',
          '3s',
        ],
        { PYRYCODE_RELAY_REDIS_URL: url },
      );
      nodes.push({ nodeId, port, metricsPort, child });
    }
    await Promise.all(nodes.map((n) => waitForStderr(n.child, /"relay_started"/, 20_000)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { redis, nodes, stop };
}

/** A node's own /healthz, parsed. */
export async function health(node: ClusterNode): Promise<Record<string, unknown>> {
  const r = await httpRequest(node.port, '/healthz');
  return JSON.parse(r.body) as Record<string, unknown>;
}

export interface Pair {
  serverId: string;
  binary: TestClient;
  phones: Array<{ phone: TestClient; connId: string }>;
}

/**
 * Dials a phone and proves it is registered: its first frame reaches the binary,
 * wrapped with its conn_id. A phone that beat the claim's visibility (cluster.md §2:
 * within 1 s of the binary's 101) is closed 4404 and redialled, as a real phone would.
 */
async function registeredPhone(
  base: string,
  serverId: string,
  binary: TestClient,
  dial: DialOptions,
  n: number,
): Promise<{ phone: TestClient; connId: string }> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const phone = await connectPhone(base, serverId, {}, dial);
    const hello = noiseFrame(64, n);
    phone.send(hello);
    // Short waits, so no stale waiter is left on the binary to swallow a later message.
    const until = Date.now() + 3000;
    while (!phone.isClosed && Date.now() < until) {
      const got = await binary.next(200).catch(() => undefined);
      if (got === undefined) continue;
      const m = /^\{"conn_id":"(client-[^"]+)","frame":([\s\S]*)\}$/.exec(got);
      assert.ok(m !== null, got);
      assert.equal(m[2], hello, 'the phone frame arrives byte for byte');
      return { phone, connId: m[1] ?? '' };
    }
    const closed = await phone.waitClose(1000);
    assert.equal(closed.code, 4404, `phone of ${serverId} closed ${closed.code} ${closed.reason}`);
    if (Date.now() > deadline) assert.fail(`phone of ${serverId} still 4404 after 3 s`);
    await sleep(100);
  }
}

/**
 * For each server-id: a binary and `phonesEach` phones dial `base` (through the
 * balancer), every phone's frame reaches the binary and the binary's answer reaches
 * exactly that phone, byte for byte.
 */
export async function pairsThrough(base: string, serverIds: string[], phonesEach: number, dial: DialOptions = {}): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (const serverId of serverIds) {
    const binary = await connectBinary(base, serverId, {}, dial);
    const phones = [];
    for (let i = 0; i < phonesEach; i++) phones.push(await registeredPhone(base, serverId, binary, dial, i));
    for (const [i, { phone, connId }] of phones.entries()) {
      const down = noiseFrame(200, 1000 + i);
      binary.send(`{"conn_id":"${connId}","frame":${down}}`);
      assert.equal(await phone.next(3000), down, 'the binary frame arrives byte for byte');
    }
    pairs.push({ serverId, binary, phones });
  }
  for (const p of pairs) for (const { phone } of p.phones) assert.ok(await phone.silentFor(0), 'no phone got a frame meant for another');
  return pairs;
}

export function closeAll(pairs: Pair[]): void {
  for (const p of pairs) {
    for (const { phone } of p.phones) phone.close();
    p.binary.close();
  }
}

/** A node's metric cell (exact `name{labels}` as printed); a missing cell fails the test. */
export async function metric(node: ClusterNode, cell: string): Promise<number> {
  const v = cells(await scrape(node.metricsPort)).get(cell);
  assert.ok(v !== undefined, `${node.nodeId} exports no ${cell}`);
  return v;
}

export const BUS_FRAMES_OUT = 'pyrycode_relay_cluster_bus_frames_total{direction="out"}';
export const BUS_FRAMES_IN = 'pyrycode_relay_cluster_bus_frames_total{direction="in"}';

/** Frames the bus carried, summed over both directions and every node. */
export async function busFrames(nodes: ClusterNode[]): Promise<number> {
  let sum = 0;
  for (const n of nodes) sum += (await metric(n, BUS_FRAMES_OUT)) + (await metric(n, BUS_FRAMES_IN));
  return sum;
}

/**
 * Where the balancer put the pairs: per node, its own binaries and phones from
 * /healthz. Affinity holds when every node holds `phonesEach` phones per binary.
 */
export async function placement(nodes: ClusterNode[]): Promise<Array<{ nodeId: string; binaries: number; phones: number }>> {
  const out = [];
  for (const n of nodes) {
    const h = await health(n);
    out.push({ nodeId: n.nodeId, binaries: Number(h.connected_binaries), phones: Number(h.connected_phones) });
  }
  return out;
}

type Placement = Awaited<ReturnType<typeof placement>>;

/**
 * The affinity check the balancer tests share: pairs of `count` server-ids (2 phones each)
 * dialled through `base` all land on `nodes`, every phone on its binary's node. `also` runs
 * further checks on the placement while the pairs are still open.
 */
export async function assertPairsFollowBinary(
  base: string,
  nodes: ClusterNode[],
  ca: string,
  count: number,
  also: (where: Placement) => Promise<void> = async () => {},
): Promise<void> {
  const ids = Array.from({ length: count }, () => newServerId());
  const pairs = await pairsThrough(base, ids, 2, { ca });
  try {
    const where = await placement(nodes);
    assert.equal(
      where.reduce((s, n) => s + n.binaries, 0),
      ids.length,
      JSON.stringify(where),
    );
    for (const n of where) assert.equal(n.phones, 2 * n.binaries, `phones sit with their binary: ${JSON.stringify(where)}`);
    await also(where);
  } finally {
    closeAll(pairs);
  }
}

/** With affinity, 12 server-ids spread over at least two of `nodes` and the bus carries no frames. */
export async function assertAffinitySpread(base: string, nodes: ClusterNode[], ca: string): Promise<void> {
  await assertPairsFollowBinary(base, nodes, ca, 12, async (where) => {
    assert.ok(where.filter((n) => n.binaries > 0).length >= 2, `the hash spreads server-ids: ${JSON.stringify(where)}`);
    assert.equal(await busFrames(nodes), 0, 'no frame crossed the bus');
  });
}

/**
 * The control: a binary dialled straight at one node and its phone at another pair
 * over the bus, which then counts the frames. Proves the zero above is not vacuous.
 */
export async function crossNodePair(a: ClusterNode, b: ClusterNode, serverId: string): Promise<void> {
  const binary = await connectBinary(`ws://127.0.0.1:${a.port}`, serverId);
  const { phone, connId } = await registeredPhone(`ws://127.0.0.1:${b.port}`, serverId, binary, {}, 0);
  const down = noiseFrame(300, 7);
  binary.send(`{"conn_id":"${connId}","frame":${down}}`);
  assert.equal(await phone.next(3000), down);
  phone.close();
  binary.close();
  await Promise.all([phone.waitClose(), binary.waitClose()]);
}
