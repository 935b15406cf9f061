// The Redis side of ACME in a cluster, against a real redis-server: the issuer
// lock (exclusive, renewed while held, released only by its holder), fenced
// certificate writes that notify every node, pending tokens with a TTL served by
// the HTTP-01 listener (503 when Redis is gone), one account key for all nodes,
// the notification surviving a Redis restart, and the periodic backstop that
// swaps certificates when notifications are lost.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { acmeKeys, openClusterAcme, RedisCertStore, RedisChallenges, RedisIssuerLock } from '../../src/cluster/acme-redis.js';
import { clusterKeys, newIncarnation, nodeRef } from '../../src/cluster/keys.js';
import { connectBy, createRedis } from '../../src/cluster/redis-client.js';
import { createLogger } from '../../src/ops/logger.js';
import { CertManager } from '../../src/tls/cert-manager.js';
import { StaleFenceError } from '../../src/tls/cert-store.js';
import { createHttp01Server } from '../../src/tls/http01.js';
import { makeBenchCert, removeBenchCert } from '../../bench/load/secure.js';
import { documentedAcl } from '../helpers/balanced-cluster.js';
import { RedisServer } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';
import { PREFIX, sleep, target } from './nodes.js';

const DOMAIN = 'node.pyry.test';
const keys = acmeKeys(clusterKeys(PREFIX));
const TOKEN = 'tok_ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abc';

let redis: RedisServer;
const clients: Redis[] = [];
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await redis.stop();
});

async function client(): Promise<Redis> {
  const c = createRedis(target(redis.port), 'registry', () => undefined, { reconnectCapMs: 50, commandTimeoutMs: 1000 });
  await connectBy(c, performance.now() + 5000);
  clients.push(c);
  return c;
}

/** A self-signed certificate for `domain` valid `days`, with its key, made by openssl. */
function selfSigned(domain: string, days: number): { keyPem: string; chainPem: string } {
  const t = makeBenchCert(domain, days);
  try {
    return { keyPem: readFileSync(t.key, 'utf8'), chainPem: readFileSync(t.cert, 'utf8') };
  } finally {
    removeBenchCert(t);
  }
}

test('the issuer lock is exclusive, renewed while held, and released only by its holder', async () => {
  const r = await client();
  // A TTL loaded machines cannot outstall between two renewals (every TTL/3).
  const TTL = 1500;
  const lockA = new RedisIssuerLock(r, keys.lock('a.test'), keys.failures('a.test'), TTL);
  const lockB = new RedisIssuerLock(await client(), keys.lock('a.test'), keys.failures('a.test'), TTL);
  const lease = await lockA.acquire();
  assert.ok(lease !== undefined);
  assert.equal(await lockB.acquire(), undefined);
  // Renewed every TTL/3: still ours well past one TTL.
  await sleep(2.5 * TTL);
  assert.equal(lease.held, true);
  assert.equal(await r.get(keys.lock('a.test')), lease.fence);
  assert.equal(await lockB.acquire(), undefined);
  await lease.release();
  assert.equal(await r.exists(keys.lock('a.test')), 0);

  // A lease whose lock expired and went to another node: it notices, and its release leaves the new holder alone.
  const stale = await lockA.acquire();
  assert.ok(stale !== undefined);
  await r.set(keys.lock('a.test'), 'someone-else', 'PX', 10_000);
  await until(() => !stale.held, 3000, 'the lease noticing the lock moved');
  await stale.release();
  assert.equal(await r.get(keys.lock('a.test')), 'someone-else');
});

test('a failed order keeps every node out for the backoff, counted cluster-wide until a certificate is stored', async () => {
  const r = await client();
  const lockA = new RedisIssuerLock(r, keys.lock('b.test'), keys.failures('b.test'), 10_000);
  const lockB = new RedisIssuerLock(await client(), keys.lock('b.test'), keys.failures('b.test'), 10_000);
  const first = await lockA.acquire();
  assert.ok(first !== undefined);
  const asked: number[] = [];
  assert.deepEqual(await first.backOff((n) => (asked.push(n), 400)), { count: 1, delayMs: 400 });
  assert.equal(first.held, false);
  await first.release(); // the holder's finally: must not cut the backoff short
  const pttl = await r.pttl(keys.lock('b.test'));
  assert.ok(pttl > 0 && pttl <= 400, `lock PTTL ${pttl}`);
  assert.equal(await lockB.acquire(), undefined);
  // Free again once the backoff ends; another node's failure continues the same count.
  let second: Awaited<ReturnType<typeof lockB.acquire>>;
  await until(async () => (second = await lockB.acquire()) !== undefined, 3000, 'the lock free after the backoff');
  assert.ok(second !== undefined);
  assert.equal((await second.backOff((n) => (asked.push(n), 1))).count, 2);
  assert.deepEqual(asked, [1, 2]);
  // A stored certificate ends the run of failures.
  let third: Awaited<ReturnType<typeof lockA.acquire>>;
  await until(async () => (third = await lockA.acquire()) !== undefined, 3000, 'the lock free after the backoff');
  assert.ok(third !== undefined);
  const cert = selfSigned('b.test', 2);
  await new RedisCertStore(r, keys, 'b.test').saveCert(cert.keyPem, cert.chainPem, third.fence);
  assert.equal(await r.exists(keys.failures('b.test')), 0);
  assert.equal((await third.backOff(() => 1)).count, 1);
});

test('a fenced save stores and notifies while the lock is ours, and is refused once it moved', async () => {
  const r = await client();
  const store = new RedisCertStore(r, keys, 'localhost');
  const sub = await client();
  const heard: string[] = [];
  sub.on('message', (_ch: string, msg: string) => heard.push(msg));
  await sub.subscribe(keys.channel);

  const lease = await new RedisIssuerLock(r, keys.lock('localhost'), keys.failures('localhost'), 5000).acquire();
  assert.ok(lease !== undefined);
  const first = selfSigned('localhost', 2);
  await store.saveCert(first.keyPem, first.chainPem, lease.fence);
  const loaded = await store.loadCert();
  assert.ok(loaded !== undefined);
  assert.equal(loaded.chainPem.trim(), first.chainPem.trim());
  await lease.release();
  await r.set(keys.lock('localhost'), 'another-node', 'PX', 5000);
  const second = selfSigned('localhost', 3);
  await assert.rejects(store.saveCert(second.keyPem, second.chainPem, lease.fence), StaleFenceError);
  assert.equal((await store.loadCert())?.leaf.serialNumber, loaded.leaf.serialNumber);
  await until(() => heard.length > 0, 3000, 'the notification');
  assert.deepEqual(heard, ['localhost']);
  // Not left subscribed through the Redis restarts of later tests.
  sub.disconnect();
  // A stored entry for another name is refused on load, never served.
  await r.set(keys.cert('other.test'), first.keyPem + first.chainPem);
  await assert.rejects(new RedisCertStore(r, keys, 'other.test').loadCert(), /not for other\.test/);
});

test('nodes share one ACME account key, even when they create it at once', async () => {
  const stores = await Promise.all([1, 2, 3].map(async () => new RedisCertStore(await client(), keys, DOMAIN)));
  const pems = await Promise.all(stores.map((s) => s.accountKey()));
  assert.match(pems[0]!, /PRIVATE KEY/);
  assert.equal(new Set(pems).size, 1);
});

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test("a token stored by one node is answered by another node's HTTP-01 listener; it expires; Redis down → 503", async () => {
  const ordering = new RedisChallenges(await client(), keys, 1000);
  const answering = new RedisChallenges(await client(), keys, 1000);
  const server = createHttp01Server(answering, 1000);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    await ordering.put(TOKEN, `${TOKEN}.thumbprint`);
    assert.deepEqual(await get(port, `/.well-known/acme-challenge/${TOKEN}`), { status: 200, body: `${TOKEN}.thumbprint` });
    // Only base64url tokens are looked up; a glob or a key separator is 404 like any unknown token.
    for (const bad of ['*', 'tok:en', '%2A', `${TOKEN}/x`]) {
      assert.equal((await get(port, `/.well-known/acme-challenge/${bad}`)).status, 404);
    }
    const pttl = Number(/^:(-?\d+)/.exec(await redis.command('PTTL', keys.challenge(TOKEN)))?.[1]);
    assert.ok(pttl > 0 && pttl <= 1000, `PTTL ${pttl}`);
    // The TTL: a dead orderer leaves nothing behind.
    await until(async () => (await get(port, `/.well-known/acme-challenge/${TOKEN}`)).status === 404, 3000, 'the token expiring');

    await ordering.put(TOKEN, 'again');
    await ordering.remove(TOKEN);
    assert.equal((await get(port, `/.well-known/acme-challenge/${TOKEN}`)).status, 404);

    await redis.kill();
    const down = await get(port, `/.well-known/acme-challenge/${TOKEN}`);
    assert.deepEqual(down, { status: 503, body: '' });
  } finally {
    await redis.restart();
    server.close();
  }
});

test('a stored certificate reaches every node: notified at once, re-checked after a Redis restart', async () => {
  const node = async (id: string) => ({
    keys: clusterKeys(PREFIX),
    ref: nodeRef(id, newIncarnation()),
    connections: { registry: await client() },
  });
  const a = await openClusterAcme(await node('a'), { lockTtlMs: 2000 });
  const b = await openClusterAcme(await node('b'), { lockTtlMs: 2000 });
  try {
    let heard = 0;
    const stop = b.peers(DOMAIN).onStored(() => (heard += 1));
    const lease = await a.peers(DOMAIN).lock.acquire();
    assert.ok(lease !== undefined);
    const cert = selfSigned(DOMAIN, 2);
    await a.certStore(DOMAIN).saveCert(cert.keyPem, cert.chainPem, lease.fence);
    await lease.release();
    await until(() => heard > 0, 5000, 'the notification');
    assert.equal(heard, 1);
    assert.equal(
      await b
        .peers(DOMAIN)
        .lock.acquire()
        .then((l) => l?.release().then(() => true)),
      true,
    );

    // Whatever was published while the link was down is covered: a reconnect re-checks.
    await redis.restart(100);
    await until(() => heard > 1, 5000, 'the re-check after the reconnect');
    assert.equal(heard, 2);
    stop();
  } finally {
    a.close();
    b.close();
  }
});

test('the periodic check swaps to a newer stored certificate when notifications are lost', async () => {
  const r = await client();
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (l: string) => void lines.push(l) });
  // Another node holds the lock throughout; this node never hears a notification.
  await r.set(keys.lock(DOMAIN), 'another-node', 'PX', 60_000);
  const manager = new CertManager({
    domain: DOMAIN,
    store: new RedisCertStore(r, keys, DOMAIN),
    directoryUrl: 'https://127.0.0.1:1/never-used',
    challenges: new RedisChallenges(r, keys, 1000),
    logger,
    peers: { lock: new RedisIssuerLock(r, keys.lock(DOMAIN), keys.failures(DOMAIN), 60_000), onStored: () => () => undefined },
    lockWaitMs: 60_000,
    syncIntervalMs: 100,
  });
  await r.del(keys.cert(DOMAIN));
  await manager.start();
  const busy = (): boolean => lines.some((l) => l.includes('"event":"cert_issuer_busy"'));
  try {
    await until(busy, 5000, 'cert_issuer_busy');
    assert.ok(busy(), 'the node did not find the lock taken');
    assert.equal(manager.notAfter, undefined);
    const one = selfSigned(DOMAIN, 2);
    await r.set(keys.cert(DOMAIN), one.keyPem + one.chainPem);
    await until(() => manager.notAfter !== undefined, 5000, 'the first stored certificate');
    const first = manager.notAfter;
    assert.ok(first !== undefined);
    const two = selfSigned(DOMAIN, 5);
    await r.set(keys.cert(DOMAIN), two.keyPem + two.chainPem);
    await until(() => manager.notAfter !== first, 5000, 'the newer stored certificate');
    assert.ok(manager.notAfter! > first);
    // An older certificate written back (a slow node) is not a downgrade.
    await r.set(keys.cert(DOMAIN), one.keyPem + one.chainPem);
    await sleep(300);
    assert.ok((manager.notAfter ?? 0) > first);
    // Redis gone: the check fails loudly, and the certificate in use stays.
    const served = manager.notAfter;
    await redis.kill();
    const failed = (): boolean => lines.some((l) => l.includes('"event":"cert_sync_failed"'));
    await until(failed, 5000, 'cert_sync_failed');
    assert.ok(failed(), 'no cert_sync_failed while Redis was down');
    assert.equal(manager.notAfter, served);
    await redis.restart();
    const events = lines.map((l) => (JSON.parse(l) as { event: string }).event);
    assert.equal(events.filter((e) => e === 'cert_synced').length, 2);
    assert.ok(!events.includes('acme_issue_failed'));
    assert.ok(!lines.some((l) => l.includes('PRIVATE KEY')));
  } finally {
    manager.stop();
  }
});

test('an unusable stored entry does not block ordering: the node goes for the lock', async () => {
  const r = await client();
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (l: string) => void lines.push(l) });
  await r.set(keys.cert('junk.test'), 'not a certificate');
  await r.set(keys.lock('junk.test'), 'another-node', 'PX', 60_000);
  const manager = new CertManager({
    domain: 'junk.test',
    store: new RedisCertStore(r, keys, 'junk.test'),
    directoryUrl: 'https://127.0.0.1:1/never-used',
    challenges: new RedisChallenges(r, keys, 1000),
    logger,
    peers: { lock: new RedisIssuerLock(r, keys.lock('junk.test'), keys.failures('junk.test'), 60_000), onStored: () => () => undefined },
    lockWaitMs: 60_000,
  });
  await manager.start();
  try {
    const busy = (): boolean => lines.some((l) => l.includes('"event":"cert_issuer_busy"'));
    await until(busy, 5000, 'cert_issuer_busy');
    assert.ok(busy(), lines.join(''));
    assert.ok(lines.some((l) => l.includes('"event":"cert_cache_unusable"')));
    assert.ok(!lines.some((l) => l.includes('acme_issue_failed')));
    assert.equal(manager.notAfter, undefined);
  } finally {
    manager.stop();
  }
});

test('the documented least-privilege ACL (prefix keys and channels only) is enough for ACME', async () => {
  await redis.command('ACL', 'SETUSER', 'acme', 'on', '>acme-pw', ...documentedAcl(PREFIX));
  const registry = createRedis({ ...target(redis.port), username: 'acme', password: 'acme-pw' }, 'registry', () => undefined);
  await connectBy(registry, performance.now() + 5000);
  clients.push(registry);
  const acme = await openClusterAcme({ keys: clusterKeys(PREFIX), ref: nodeRef('acl', newIncarnation()), connections: { registry } });
  try {
    const lease = await acme.peers('acl.test').lock.acquire();
    assert.ok(lease !== undefined);
    const cert = selfSigned('acl.test', 2);
    const store = acme.certStore('acl.test');
    await store.saveCert(cert.keyPem, cert.chainPem, lease.fence);
    assert.ok((await store.loadCert()) !== undefined);
    assert.match(await store.accountKey(), /PRIVATE KEY/);
    await acme.challenges.put(TOKEN, 'x');
    assert.equal(await acme.challenges.get(TOKEN), 'x');
    await acme.challenges.remove(TOKEN);
    await lease.release();
  } finally {
    acme.close();
  }
});
