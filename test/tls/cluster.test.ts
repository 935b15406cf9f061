// ACME mode in a cluster (issue #13, decision 0020), black-box against pebble
// and a real redis-server, with three relay nodes as child processes wired the
// way cluster mode wires them (test/helpers/acme-cluster-node.ts):
// - the cluster orders exactly one certificate, and the CA's HTTP-01
//   validation is answered by a node other than the one that ordered;
// - at renewal exactly one node renews and all three serve the new certificate;
// - a lock holder killed mid-order: another node orders once the lock expires.
// Served certificates are read over real TLS handshakes, verified against pebble's root.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { DOMAIN, peerCertificate, startAcmeEnv, type AcmeEnv } from '../helpers/acme-env.js';
import { spawnAcmeNode, type AcmeNodeChild, type AcmeNodeSpec } from '../helpers/acme-cluster-node.js';
import { PEBBLE_LISTENER_CA } from '../helpers/pebble.js';
import { freePort, spawnCli, waitExit, waitForStderr } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const PREFIX = 'acmetest';
const LOCK_KEY = `${PREFIX}:acme:lock:${DOMAIN}`;
const CERT_KEY = `${PREFIX}:acme:cert:${DOMAIN}`;

const issuedByPebble = (env: AcmeEnv): number => (env.pebble.output().match(/Issued certificate serial/g) ?? []).length;
const count = (text: string, event: string): number => (text.match(new RegExp(`"event":"${event}"`, 'g')) ?? []).length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Node {
  child: AcmeNodeChild;
  httpsPort: number;
  httpPort: number;
}

async function startNode(env: AcmeEnv, redis: RedisServer, nodeId: string, opts: Partial<AcmeNodeSpec> = {}): Promise<Node> {
  // freePort() only says a port was free a moment ago: a start that lost its port to
  // another process (EADDRINUSE) is retried on fresh ports, as test/helpers/cluster.ts does.
  for (let attempt = 1; ; attempt++) {
    const spec: AcmeNodeSpec = {
      redisPort: redis.port,
      prefix: PREFIX,
      nodeId,
      domain: DOMAIN,
      httpPort: await freePort(),
      httpsPort: await freePort(),
      cacheDir: join(mkdtempSync(join(tmpdir(), 'relay-certs-')), 'certs'),
      directoryUrl: env.pebble.directoryUrl,
      // Long enough that no load stall loses it mid-order; the kill test shortens it.
      lockTtlMs: 10_000,
      lockWaitMs: 200,
      syncIntervalMs: 60_000,
      ...opts,
    };
    const child = spawnAcmeNode(spec, PEBBLE_LISTENER_CA);
    await waitForStderr(child, /"event":"relay_started"|acme node failed/, 15_000);
    if (!child.out.stderr.includes('acme node failed')) return { child, httpsPort: spec.httpsPort, httpPort: spec.httpPort };
    await waitExit(child);
    if (attempt >= 3 || !child.out.stderr.includes('EADDRINUSE')) throw new Error(`node ${nodeId} did not start: ${child.out.stderr}`);
  }
}

async function stopNode(n: Node): Promise<string> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return n.child.out.stderr;
  n.child.kill('SIGTERM');
  const exit = await waitExit(n.child);
  assert.equal(exit.code, 0, exit.stderr);
  return exit.stderr;
}

interface Shared {
  env: AcmeEnv;
  redis: RedisServer;
  inspect: Redis;
}

/** What two suites share: pebble (and its DNS), a redis-server, and a client to look into it. */
async function startShared(envOpts: Parameters<typeof startAcmeEnv>[0] = {}): Promise<Shared> {
  const env = await startAcmeEnv(envOpts);
  const redis = await RedisServer.start();
  const inspect = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await inspect.connect();
  return { env, redis, inspect };
}

/** Kills the suite's nodes, then closes what startShared opened. */
async function stopShared(s: Shared, nodes: Node[]): Promise<void> {
  for (const n of nodes) n.child.kill('SIGKILL');
  s.inspect.disconnect();
  await s.redis.stop();
  await s.env.stop();
}

async function servedSerial(n: Node, env: AcmeEnv): Promise<string> {
  return (await peerCertificate(n.httpsPort, env.pebble.rootPem)).serialNumber;
}

/** Polls until every node serves `serial` (swaps are prompt, but asynchronous). */
async function allServe(nodes: Node[], env: AcmeEnv, serial: string, timeoutMs: number): Promise<void> {
  let served: string[] = [];
  await until(
    async () => (served = await Promise.all(nodes.map((n) => servedSerial(n, env)))).every((s) => s === serial),
    timeoutMs,
    `every node serving ${serial} (served ${served.join(', ')})`,
  );
}

describe('ACME in a cluster: one certificate, any node answers, one renews, all swap', () => {
  const LIFETIME_S = 30;
  let env: AcmeEnv;
  let redis: RedisServer;
  let inspect: Redis;
  const nodes: Node[] = [];
  before(async () => {
    // Pebble validates HTTP-01 on env.httpPort: node B's, never the orderer's.
    ({ env, redis, inspect } = await startShared({ validitySeconds: LIFETIME_S }));
  });
  after(() => stopShared({ env, redis, inspect }, nodes));

  test('three nodes order one certificate; node B answers the challenge node A placed', async () => {
    // Hold the lock so that B and C start, try once and wait; their own retry is a minute
    // away, so only the notification can tell them about A's certificate in time.
    await inspect.set(LOCK_KEY, 'test-holder', 'PX', 60_000);
    const b = await startNode(env, redis, 'node-b', { httpPort: env.httpPort, lockWaitMs: 60_000 });
    const c = await startNode(env, redis, 'node-c', { lockWaitMs: 60_000 });
    nodes.push(b, c);
    await waitForStderr(b.child, /"event":"cert_issuer_busy"/);
    await waitForStderr(c.child, /"event":"cert_issuer_busy"/);
    await inspect.del(LOCK_KEY);

    const a = await startNode(env, redis, 'node-a');
    nodes.unshift(a);
    await waitForStderr(a.child, /"event":"cert_issued"/, 20_000);
    const serial = await servedSerial(a, env);
    await waitForStderr(b.child, /"event":"cert_synced"/, 5_000);
    await waitForStderr(c.child, /"event":"cert_synced"/, 5_000);
    await allServe(nodes, env, serial, 5_000);

    // Pebble validated against B's port only: B answered from the token A stored in Redis.
    assert.match(
      env.pebble.output(),
      new RegExp(`Attempting to validate w/ HTTP: http://${DOMAIN.replace(/\./g, '\\.')}:${env.httpPort}/`),
    );
    assert.equal(issuedByPebble(env), 1);
    assert.equal(count(a.child.out.stderr, 'cert_issued'), 1);
    for (const n of [b, c]) assert.equal(count(n.child.out.stderr, 'cert_issued') + count(n.child.out.stderr, 'cert_renewed'), 0);
    // Nothing pending is left behind: no token, no lock; the certificate is stored once.
    assert.deepEqual(await inspect.keys(`${PREFIX}:acme:http01:*`), []);
    assert.equal(await inspect.exists(LOCK_KEY), 0);
    assert.equal(await inspect.exists(CERT_KEY), 1);
  });

  test('at renewal exactly one node orders and all three serve the renewed certificate', async () => {
    const before = await servedSerial(nodes[0]!, env);
    const issued = issuedByPebble(env);
    // All three reach the renewal time (a third of the lifetime left) together.
    await until(() => nodes.some((n) => count(n.child.out.stderr, 'cert_renewed') > 0), LIFETIME_S * 1000, 'a renewal');
    const renewer = nodes.find((n) => count(n.child.out.stderr, 'cert_renewed') === 1)!;
    const serial = await servedSerial(renewer, env);
    assert.notEqual(serial, before);
    await allServe(nodes, env, serial, 5_000);
    await sleep(500); // a second renewal would have been ordered by now
    assert.equal(issuedByPebble(env), issued + 1);
    assert.equal(
      nodes.reduce((sum, n) => sum + count(n.child.out.stderr, 'cert_renewed'), 0),
      1,
    );

    const logs = await Promise.all(nodes.splice(0).map(stopNode));
    for (const log of logs) {
      assert.doesNotMatch(log, /PRIVATE KEY|acme_issue_failed|cert_lock_lost/);
    }
  });
});

describe('ACME in a cluster: the lock holder is killed mid-order', () => {
  let env: AcmeEnv;
  let redis: RedisServer;
  let inspect: Redis;
  const nodes: Node[] = [];
  before(async () => {
    ({ env, redis, inspect } = await startShared());
  });
  after(() => stopShared({ env, redis, inspect }, nodes));

  test('another node takes over once the dead holder lock expires, and orders the one certificate', async () => {
    const LOCK_TTL_MS = 3000;
    // While the victim orders, pebble's validation request hangs on a port that accepts
    // and never answers: the victim dies with its order placed and its challenge pending.
    const held: Socket[] = [];
    const blackHole = createServer((sock) => {
      held.push(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackHole.listen(env.httpPort, '127.0.0.1', r));
    const victim = await startNode(env, redis, 'victim', { lockTtlMs: LOCK_TTL_MS });
    nodes.push(victim);
    await until(
      async () => held.length > 0 && (await inspect.keys(`${PREFIX}:acme:http01:*`)).length > 0,
      15_000,
      'the victim publishing its challenge',
    );
    assert.equal(await inspect.exists(LOCK_KEY), 1);
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitExit(victim.child);
    for (const sock of held) sock.destroy();
    await new Promise((r) => blackHole.close(r));
    assert.equal(await inspect.exists(CERT_KEY), 0, 'the victim stored a certificate before it died');
    assert.doesNotMatch(victim.child.out.stderr, /acme_issue_failed|cert_issued/);

    const b = await startNode(env, redis, 'node-b', { httpPort: env.httpPort, lockTtlMs: LOCK_TTL_MS });
    nodes.push(b);
    await waitForStderr(b.child, /"event":"cert_issuer_busy"/);
    await waitForStderr(b.child, /"event":"cert_issued"/, 20_000);
    // B could only order once the dead holder's lock ran out.
    assert.ok(Date.now() - killedAt >= LOCK_TTL_MS - 200, `B ordered ${Date.now() - killedAt} ms after the kill`);
    assert.equal(await inspect.exists(CERT_KEY), 1);
    assert.equal(issuedByPebble(env), 1);
    const c = await startNode(env, redis, 'node-c', { lockTtlMs: LOCK_TTL_MS });
    nodes.push(c);
    // A node started later loads the stored certificate instead of ordering.
    await waitForStderr(c.child, /"event":"cert_loaded"/);
    assert.equal(await servedSerial(c, env), await servedSerial(b, env));
    assert.equal(issuedByPebble(env), 1);
    for (const n of [b, c]) await stopNode(n);
  });
});

describe('ACME in a cluster: failed orders back off cluster-wide', () => {
  let env: AcmeEnv;
  let redis: RedisServer;
  const nodes: Node[] = [];
  before(async () => {
    // No node listens on the port pebble validates: every order fails (connection refused).
    env = await startAcmeEnv();
    redis = await RedisServer.start();
  });
  after(async () => {
    for (const n of nodes) n.child.kill('SIGKILL');
    await redis.stop();
    await env.stop();
  });

  test('three nodes make one attempt per backoff step between them, with one failure count', async () => {
    nodes.push(...(await Promise.all(['node-a', 'node-b', 'node-c'].map((id) => startNode(env, redis, id)))));
    // Retries back off from 0.5 s (the node fixture's retry base), doubling: the third
    // failure comes ~2 s after the first. Without a shared backoff each node would retry
    // on its own and the first failures would read 1,1,1.
    const failures = (): Array<{ time: string; count: number }> =>
      nodes
        .flatMap((n) => n.child.out.stderr.split('\n'))
        .filter((l) => l.includes('"event":"acme_issue_failed"'))
        .map((l) => JSON.parse(l) as { time: string; count: number })
        .sort((x, y) => Date.parse(x.time) - Date.parse(y.time));
    await until(() => failures().length >= 3, 15_000, 'three failed orders');
    const three = failures().slice(0, 3);
    assert.deepEqual(
      three.map((f) => f.count),
      [1, 2, 3],
      `failure counts ${failures()
        .map((f) => f.count)
        .join(',')}`,
    );
    // Each retry waited out the previous backoff (0.5 s, then 1 s, ±10 %), whichever node made it.
    assert.ok(Date.parse(three[1]!.time) - Date.parse(three[0]!.time) >= 450);
    assert.ok(Date.parse(three[2]!.time) - Date.parse(three[1]!.time) >= 900);
    assert.equal(issuedByPebble(env), 0);
    for (const n of nodes.splice(0)) await stopNode(n);
  });
});

describe('ACME in a cluster through the CLI (PYRYCODE_RELAY_REDIS_URL with --domain)', () => {
  let env: AcmeEnv;
  let redis: RedisServer;
  before(async () => {
    env = await startAcmeEnv();
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis.stop();
    await env.stop();
  });

  test('two CLI nodes: one order between them, both serve it', async () => {
    const cli = async (id: string, httpPort: number) => {
      const httpsPort = await freePort();
      const cacheDir = join(mkdtempSync(join(tmpdir(), 'relay-certs-')), 'certs');
      const args = [
        '--domain', DOMAIN, '--https-listen', `127.0.0.1:${httpsPort}`, '--http-listen', `127.0.0.1:${httpPort}`,
        '--cert-cache', cacheDir, '--acme-directory', env.pebble.directoryUrl, '--node-id', id, '--cluster-prefix', PREFIX,
      ]; // prettier-ignore
      const child = spawnCli(args, { NODE_EXTRA_CA_CERTS: PEBBLE_LISTENER_CA, PYRYCODE_RELAY_REDIS_URL: redis.url });
      return { child, httpsPort, httpPort };
    };
    // Pebble validates on B's port: B listens first (a failed validation would back off a
    // minute, the CLI's default), then A joins while the order may still run.
    const b = await cli('cli-b', env.httpPort);
    const nodes = [b];
    try {
      await waitForStderr(b.child, /"event":"relay_started"/, 15_000);
      const a = await cli('cli-a', await freePort());
      nodes.push(a);
      await waitForStderr(a.child, /"event":"relay_started"/, 15_000);
      await until(() => nodes.some((n) => /"event":"cert_issued"/.test(n.child.out.stderr)), 20_000, 'cert_issued on one node');
      const orderer = nodes.find((n) => /"event":"cert_issued"/.test(n.child.out.stderr))!;
      const serial = (await peerCertificate(orderer.httpsPort, env.pebble.rootPem)).serialNumber;
      await allServe(nodes, env, serial, 10_000);
      assert.equal(issuedByPebble(env), 1);
      for (const n of nodes) {
        n.child.kill('SIGTERM');
        const exit = await waitExit(n.child);
        assert.equal(exit.code, 0, exit.stderr);
        assert.equal(count(exit.stderr, 'cert_issued') + count(exit.stderr, 'cert_renewed'), n === orderer ? 1 : 0);
        assert.doesNotMatch(exit.stderr, /PRIVATE KEY|acme_issue_failed|redis:\/\//);
      }
    } finally {
      for (const n of nodes) n.child.kill('SIGKILL');
    }
  });
});
