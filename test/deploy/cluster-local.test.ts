// `npm run cluster:local` (scripts/cluster-local.mjs) as a newcomer runs it: the
// script starts Redis, three nodes and nginx, prints where to point a client; a binary
// and phones dialled there exchange frames with the bus idle (affinity); Redis holds
// the relay to the documented ACL; SIGTERM drains the clients (1001) and leaves no
// process, port or temp dir behind. redis-server and nginx are required.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { connectBinary, connectPhone, newServerId, noiseFrame, type TestClient } from '../helpers/clients.js';
import { exited, ROOT } from '../helpers/deploy.js';
import { cells, eventually, httpRequest, scrape } from '../helpers/http.js';
import { reap } from '../helpers/process.js';

interface Printed {
  base: string;
  nodes: Array<{ nodeId: string; port: number; metricsPort: number }>;
  redisPort: number;
  dir: string;
  pids: number[];
}

function parse(out: string): Printed {
  const base = /binaries \(pyry\): +ws:\/\/(127\.0\.0\.1:\d+)\/v1\/server/.exec(out)?.[1];
  assert.ok(base !== undefined, out);
  assert.match(out, new RegExp(`phones: +ws://${base}/v1/client`));
  const nodes = [
    ...out.matchAll(
      /node (\S+): +ws:\/\/127\.0\.0\.1:(\d+) +metrics http:\/\/127\.0\.0\.1:(\d+)\/metrics +status http:\/\/127\.0\.0\.1:\d+\/status/g,
    ),
  ].map((m) => ({
    nodeId: m[1] ?? '',
    port: Number(m[2]),
    metricsPort: Number(m[3]),
  }));
  const redisPort = Number(/redis-cli -p (\d+)/.exec(out)?.[1]);
  const dir = /logs and state: +(\S+)/.exec(out)?.[1] ?? '';
  const pids = [...(/processes: +(.*)/.exec(out)?.[1] ?? '').matchAll(/ (\d+)/g)].map((m) => Number(m[1]));
  return { base: `ws://${base}`, nodes, redisPort, dir, pids };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Live processes in these process groups (each child leads its own: nginx's worker counts). */
function inGroups(groups: number[]): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may hold spaces, so split after the last ')'.
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (groups.includes(pgrp)) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

describe('npm run cluster:local (scripts/cluster-local.mjs)', () => {
  let child: ReturnType<typeof spawn>;
  let out = '';
  let printed: Printed;
  const clients: TestClient[] = [];

  before(async () => {
    child = spawn(process.execPath, [join(ROOT, 'scripts/cluster-local.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    reap(child);
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cluster:local did not come up: ${out}`)), 45_000);
      const check = (): void => {
        if (out.includes('Ctrl-C stops everything.')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', check);
      child.once('exit', (code) => reject(new Error(`cluster:local exited ${code}: ${out}`)));
    });
    printed = parse(out);
  });

  after(async () => {
    child.ref();
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited(child, 20_000);
  });

  test('prints the client URLs, three nodes, Redis and every process', () => {
    assert.equal(printed.nodes.length, 3, out);
    assert.equal(printed.pids.length, 5, out);
    assert.ok(printed.pids.every(alive));
    assert.ok(inGroups(printed.pids).length > printed.pids.length, 'nginx runs a worker in its group');
    assert.ok(existsSync(printed.dir));
  });

  test('a binary and its phones paired through it exchange frames; the bus stays idle', async () => {
    const sid = newServerId();
    const binary = await connectBinary(printed.base, sid);
    clients.push(binary);
    for (let i = 0; i < 2; i++) {
      const phone = await connectPhone(printed.base, sid);
      clients.push(phone);
      const up = noiseFrame(100, i);
      phone.send(up);
      const m = /^\{"conn_id":"([^"]+)","frame":([\s\S]*)\}$/.exec(await binary.next(3000));
      assert.ok(m !== null);
      assert.equal(m[2], up);
      const down = noiseFrame(120, 100 + i);
      binary.send(`{"conn_id":"${m[1]}","frame":${down}}`);
      assert.equal(await phone.next(3000), down);
    }
    // Through nginx, whichever node answers sees all three (from its next heartbeat, TTL/3).
    const port = Number(printed.base.split(':')[2]);
    await eventually(
      async () => (JSON.parse((await httpRequest(port, '/healthz')).body) as Record<string, unknown>).cluster_nodes === 3,
      10_000,
      'three nodes',
    );
    let busFrames = 0;
    for (const n of printed.nodes) {
      const c = cells(await scrape(n.metricsPort));
      for (const dir of ['in', 'out']) {
        const v = c.get(`pyrycode_relay_cluster_bus_frames_total{direction="${dir}"}`);
        assert.ok(v !== undefined, `${n.nodeId} exports the bus series`);
        busFrames += v;
      }
    }
    assert.equal(busFrames, 0);
  });

  test('Redis confines the relay user to its prefix with the ACL of docs/cluster.md', async () => {
    const conf = readFileSync(join(printed.dir, 'redis.conf'), 'utf8');
    const line = /^user relay on >(\S+) (.*)$/m.exec(conf);
    assert.ok(line !== null, conf);
    const documented = /^user relay on >PASSWORD (.*)$/m.exec(readFileSync(join(ROOT, 'docs/cluster.md'), 'utf8'))?.[1];
    assert.equal(line[2], documented, 'the script runs the documented ACL');
    const relay = new Redis({
      host: '127.0.0.1',
      port: printed.redisPort,
      username: 'relay',
      password: line[1],
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    try {
      await relay.connect();
      await assert.rejects(() => relay.get('elsewhere:key'), /NOPERM/);
      await assert.rejects(() => relay.publish('elsewhere', 'x'), /NOPERM/);
      await assert.rejects(() => relay.call('FLUSHALL'), /NOPERM/);
      assert.equal(await relay.set('pyrycode-relay:acl-test', '1'), 'OK');
      assert.equal(await relay.del('pyrycode-relay:acl-test'), 1);
      // Everything the cluster wrote is under the prefix.
      const admin = new Redis({ host: '127.0.0.1', port: printed.redisPort, lazyConnect: true });
      await admin.connect();
      const keys = await admin.keys('*');
      admin.disconnect();
      assert.ok(keys.length > 0);
      for (const k of keys) assert.ok(k.startsWith('pyrycode-relay:'), k);
    } finally {
      relay.disconnect();
    }
  });

  test('a killed node is reaped by the others; the script keeps the rest running', async () => {
    // A node holding none of the clients above (they must see the drain's 1001 later).
    let target: Printed['nodes'][number] | undefined;
    for (const n of printed.nodes) {
      const h = JSON.parse((await httpRequest(n.port, '/healthz')).body) as Record<string, unknown>;
      if (h.connected_binaries === 0 && h.connected_phones === 0) target = n;
    }
    assert.ok(target !== undefined);
    const survivor = printed.nodes.find((n) => n !== target)!;
    const victim = Number(new RegExp(`${target.nodeId} (\\d+)`).exec(out)?.[1]);
    assert.ok(printed.pids.includes(victim));
    const seen = async (): Promise<unknown> =>
      (JSON.parse((await httpRequest(survivor.port, '/healthz')).body) as Record<string, unknown>).cluster_nodes;
    await eventually(async () => (await seen()) === 3, 10_000, 'the survivor sees three nodes first');
    process.kill(victim, 'SIGKILL');
    // --cluster-node-ttl 10s: reaped within TTL + 2 s of its last heartbeat.
    await eventually(async () => (await seen()) === 2, 20_000, 'the survivor sees two nodes');
    const said = new RegExp(`${target.nodeId} exited \\(SIGKILL\\); the other nodes reap it`);
    await eventually(() => said.test(out), 2000, 'the script reports the exit');
    assert.equal(child.exitCode, null, 'the script still runs');
    printed.pids = printed.pids.filter((p) => p !== victim);
    assert.ok(printed.pids.every(alive));
  });

  test('SIGTERM drains the clients (1001) and leaves no process, port or temp dir', async () => {
    // The child is unref'd so a failed run never hangs the tests; hold a ref while we wait.
    child.ref();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (c) => resolve(c)),
    );
    assert.equal(code, 0, out);
    assert.match(out, /cluster:local: stopped/);
    for (const c of clients) assert.equal((await c.waitClose(1000)).code, 1001);
    for (const pid of printed.pids) assert.ok(!alive(pid), `process ${pid} is gone`);
    assert.deepEqual(inGroups(printed.pids), [], "no process left in the children's groups (nginx workers included)");
    const ports = [Number(printed.base.split(':')[2]), printed.redisPort, ...printed.nodes.flatMap((n) => [n.port, n.metricsPort])];
    for (const p of ports) assert.equal(await listening(p), false, `port ${p} is closed`);
    assert.equal(existsSync(printed.dir), false);
  });
});
