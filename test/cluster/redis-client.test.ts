// The Redis client factory against a real redis-server: per-role settings, the
// version check, fast failure on refused credentials, a deadline on an unreachable
// server, and error reasons that never carry the password.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  checkServer,
  classifyRedisError,
  connectBy,
  createRedis,
  reconnectDelay,
  redisOptions,
  RedisUnavailableError,
  versionAtLeast,
  type ClusterRedisError,
  type RedisTarget,
} from '../../src/cluster/redis-client.js';
import { freePort } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis.js';
import { runEveryScript } from '../helpers/store-scripts.js';

let redis: RedisServer;
let secured: RedisServer;
const PASSWORD = 'hunter2-secret-value';

before(async () => {
  redis = await RedisServer.start();
  // The helper's readiness PING needs no password, so the password is set after start.
  secured = await RedisServer.start();
  await secured.command('CONFIG', 'SET', 'requirepass', PASSWORD);
});
after(async () => {
  await redis.stop();
  await secured.stop();
});

const target = (port: number, extra: Partial<RedisTarget> = {}): RedisTarget => ({
  host: '127.0.0.1',
  port,
  db: 0,
  tls: false,
  ...extra,
});

test('per-role options: offline queue, retries and resend are chosen per connection', () => {
  const t = target(1, { password: PASSWORD });
  const reg = redisOptions(t, 'registry');
  const pub = redisOptions(t, 'bus-pub');
  const sub = redisOptions(t, 'bus-sub');
  for (const o of [reg, pub, sub]) {
    assert.equal(o.lazyConnect, true);
    assert.ok((o.keepAlive ?? 0) > 0);
    assert.equal(o.tls, undefined);
  }
  assert.equal(reg.enableOfflineQueue, true);
  assert.equal(reg.maxRetriesPerRequest, 1);
  assert.equal(pub.enableOfflineQueue, false);
  assert.equal(pub.autoResendUnfulfilledCommands, false);
  assert.equal(sub.autoResubscribe, true);
  assert.equal(sub.maxRetriesPerRequest, null);
  assert.deepEqual(redisOptions(target(1, { tls: true, host: 'redis.example' }), 'registry').tls, {
    servername: 'redis.example',
  });
});

test('reconnect back-off grows, is capped, and carries jitter', () => {
  assert.equal(
    reconnectDelay(1, 1000, () => 0),
    50,
  );
  assert.equal(
    reconnectDelay(3, 1000, () => 0),
    200,
  );
  assert.equal(
    reconnectDelay(30, 1000, () => 0),
    1000,
  );
  assert.equal(
    reconnectDelay(30, 1000, () => 0.999),
    1199,
  );
  // A short TTL's small cap keeps the jitter proportionate.
  assert.equal(
    reconnectDelay(30, 150, () => 0.999),
    224,
  );
  assert.equal(
    reconnectDelay(1, 20, () => 0),
    20,
  );
});

test('connects, reads the version, and accepts 6.2 and later only', async () => {
  const errors: ClusterRedisError[] = [];
  const c = createRedis(target(redis.port), 'registry', (e) => errors.push(e));
  try {
    await connectBy(c, performance.now() + 5000);
    const facts = await checkServer(c);
    assert.ok(versionAtLeast(facts.version, 6, 2));
    assert.equal(facts.maxmemoryPolicy, 'noeviction');
  } finally {
    c.disconnect();
  }
  assert.equal(versionAtLeast('6.2.0', 6, 2), true);
  assert.equal(versionAtLeast('7.0.15', 6, 2), true);
  assert.equal(versionAtLeast('6.0.16', 6, 2), false);
  assert.equal(versionAtLeast('5.9.9', 6, 2), false);
  assert.equal(versionAtLeast('garbage', 6, 2), false);
});

test('refused credentials fail at once with auth_failed, never naming the password', async () => {
  for (const password of [undefined, 'wrong-password-value']) {
    const seen: string[] = [];
    const c = createRedis(target(secured.port, { password }), 'registry', (e) => seen.push(e.message));
    const t0 = performance.now();
    // With no password the first command fails NOAUTH; the ready check surfaces it.
    const err = await connectBy(c, performance.now() + 10_000).then(
      () =>
        c.ping().then(
          () => undefined,
          (e: unknown) => e,
        ),
      (e: unknown) => e,
    );
    c.disconnect();
    assert.ok(performance.now() - t0 < 5000, 'failed fast');
    const reason = err instanceof RedisUnavailableError ? err.reason : classifyRedisError(err);
    assert.equal(reason, 'auth_failed');
    for (const text of [...seen, String(err), JSON.stringify(err)]) assert.ok(!text.includes(PASSWORD));
    if (password !== undefined) for (const text of [...seen, String(err)]) assert.ok(!text.includes(password));
  }
  const ok = createRedis(target(secured.port, { password: PASSWORD }), 'registry', () => undefined);
  await connectBy(ok, performance.now() + 5000);
  assert.equal(await ok.ping(), 'PONG');
  ok.disconnect();
});

test('an unreachable server fails at the deadline with redis_unavailable: unreachable', async () => {
  const port = await freePort();
  let errors = 0;
  const c = createRedis(target(port, { password: PASSWORD }), 'registry', () => errors++);
  const t0 = performance.now();
  const err = await connectBy(c, performance.now() + 700).then(
    () => undefined,
    (e: unknown) => e,
  );
  const took = performance.now() - t0;
  assert.ok(err instanceof RedisUnavailableError);
  assert.equal(err.event, 'redis_unavailable');
  assert.equal(err.reason, 'unreachable');
  assert.equal(err.code, 'ECONNREFUSED');
  assert.ok(took >= 650 && took < 3000, `took ${took}`);
  assert.ok(!err.message.includes(PASSWORD) && !err.message.includes(String(port)));
  // Given up: no further reconnect attempts after the deadline.
  const seen = errors;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(errors, seen);
});

test('keys and channels under the prefix are all a node needs (an ACL confined to them)', async () => {
  const { bootCluster } = await import('../../src/cluster/boot.js');
  await redis.command(
    'ACL',
    'SETUSER',
    'relay',
    'on',
    '>relay-pw',
    'resetkeys',
    '~acl:*',
    'resetchannels',
    '&acl:*',
    '-@all',
    '+@read',
    '+@write',
    '+@scripting',
    '+@pubsub',
    '+@connection',
    '+info',
    '+time',
  );
  const node = await bootCluster(
    { redis: target(redis.port, { username: 'relay', password: 'relay-pw' }), prefix: 'acl', nodeId: 'acl-node', nodeTtlMs: 3000 },
    { graceMs: 1 },
  );
  try {
    await runEveryScript(node.store);
    assert.equal(await node.connections.busPub.publish(node.keys.busChannel(node.ref), 'x'), 0);
    await node.connections.busSub.subscribe(node.keys.busChannel(node.ref));
    // Outside the prefix nothing is allowed.
    await assert.rejects(() => node.connections.registry.get('other:key'), /NOPERM/);
  } finally {
    await node.close();
  }
});
