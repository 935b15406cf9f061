// Per-IP token bucket (operations.md §4): unit tests on the limiter with an
// injected clock, then black-box against a real relay with distinct loopback
// source addresses and X-Forwarded-For.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { RateLimiter } from '../../src/http/rate-limit.js';
import { connectBinary, newServerId } from '../helpers/clients.js';
import { headerless, httpRequest, upgrade } from '../helpers/http.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { until } from '../helpers/wait.js';

function limiter(burst: number, refillMs: number, maxBuckets?: number): { rl: RateLimiter; clock: { t: number } } {
  const clock = { t: 1000 };
  const rl = new RateLimiter({ burst, refillMs, maxBuckets, now: () => clock.t });
  return { rl, clock };
}

describe('RateLimiter', () => {
  test('a new bucket starts full and the first request spends one', () => {
    const { rl } = limiter(3, 6000);
    for (let i = 0; i < 3; i++) assert.deepEqual(rl.take('a'), { ok: true });
    assert.deepEqual(rl.take('a'), { ok: false, retryAfterSeconds: 6 });
    rl.close();
  });

  test('fractions carry over and Retry-After is the wait for the next whole token, rounded up, at least 1', () => {
    const { rl, clock } = limiter(1, 6000);
    assert.ok(rl.take('a').ok);
    clock.t += 2500; // 0.4166 token
    assert.deepEqual(rl.take('a'), { ok: false, retryAfterSeconds: 4 }); // 3.5 s left
    clock.t += 3400; // 0.983 token: still short
    assert.deepEqual(rl.take('a'), { ok: false, retryAfterSeconds: 1 }); // 0.1 s left → 1
    clock.t += 100;
    assert.ok(rl.take('a').ok);
    rl.close();
  });

  test('denials do not spend, refill is capped at the burst', () => {
    const { rl, clock } = limiter(2, 1000);
    assert.ok(rl.take('a').ok);
    assert.ok(rl.take('a').ok);
    for (let i = 0; i < 5; i++) assert.equal(rl.take('a').ok, false);
    clock.t += 1000;
    assert.ok(rl.take('a').ok);
    clock.t += 60_000;
    assert.ok(rl.take('a').ok);
    assert.ok(rl.take('a').ok);
    assert.equal(rl.take('a').ok, false);
    rl.close();
  });

  test('sweep drops buckets idle for at least burst x refill and keeps the rest', () => {
    const { rl, clock } = limiter(2, 1000);
    rl.take('old');
    clock.t += 1500;
    rl.take('recent');
    clock.t += 500; // old idle 2000 ms (= burst x refill), recent 500 ms
    rl.sweep();
    assert.equal(rl.size, 1);
    // The swept IP starts over with a full bucket, which it would have had anyway.
    assert.ok(rl.take('old').ok);
    assert.ok(rl.take('old').ok);
    assert.equal(rl.take('old').ok, false);
    rl.close();
  });

  test('the bucket count is capped: the least recently used bucket is forgotten', () => {
    const { rl, clock } = limiter(1, 60_000, 3);
    for (const ip of ['a', 'b', 'c']) rl.take(ip);
    clock.t += 1;
    rl.take('a'); // a is now the most recent
    rl.take('d'); // evicts b
    assert.equal(rl.size, 3);
    assert.equal(rl.take('a').ok, false);
    assert.equal(rl.take('c').ok, false);
    assert.equal(rl.take('b').ok, true, 'b was forgotten and starts full');
    for (let i = 0; i < 10_000; i++) rl.take(`ip${i}`);
    assert.equal(rl.size, 3);
    rl.close();
  });
});

describe('RateLimiter properties', () => {
  test('never admits more than burst + elapsed/refill per IP, and Retry-After is honest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 3000 })), { maxLength: 200 }),
        (burst, refillMs, steps) => {
          const { rl, clock } = limiter(burst, refillMs);
          const start = clock.t;
          const admitted = new Map<string, number>();
          for (const [ip, dt] of steps) {
            clock.t += dt;
            const r = rl.take(ip);
            if (r.ok) admitted.set(ip, (admitted.get(ip) ?? 0) + 1);
            else {
              assert.ok(r.retryAfterSeconds >= 1);
              assert.ok(r.retryAfterSeconds <= Math.ceil(refillMs / 1000));
            }
            const bound = burst + (clock.t - start) / refillMs;
            assert.ok((admitted.get(ip) ?? 0) <= bound + 1e-9);
          }
          rl.close();
        },
      ),
    );
  });

  test('the sweep runs on its own interval', async () => {
    const clock = { t: 0 };
    const rl = new RateLimiter({ burst: 1, refillMs: 10, sweepIntervalMs: 20, now: () => clock.t });
    rl.take('a');
    clock.t += 10;
    // Only the sweep timer (20 ms, real) can empty it: nothing else runs.
    await until(() => rl.size === 0, 2000, 'sweep');
    rl.close();
  });
});

describe('rate limit, black-box', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay({ rateLimitBurst: 3, rateLimitRefillMs: 60_000 });
  });
  after(() => relay.stop());

  test('burst then 429 with Retry-After; requests failing the header check count; both endpoints share the bucket', async () => {
    const ip = '127.0.0.11';
    assert.equal((await headerless(relay.port, 'server', ip)).status, 400);
    assert.equal((await headerless(relay.port, 'client', ip)).status, 400);
    assert.equal((await httpRequest(relay.port, '/v1/server', { localAddress: ip })).status, 400); // plain GET counts too
    const denied = await headerless(relay.port, 'client', ip);
    assert.equal(denied.status, 429);
    assert.equal(denied.headers['retry-after'], '60');
    assert.ok(denied.body.length > 0 && denied.body.length < 64);
    const denied2 = await headerless(relay.port, 'server', ip);
    assert.equal(denied2.status, 429);
    const lines = relay.events().filter((e) => e.event === 'rate_limited' && e.remote === ip);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]?.level, 'warn');
  });

  test('a rate-limited request never starts a WebSocket nor touches the registry', async () => {
    const ip = '127.0.0.12';
    for (let i = 0; i < 3; i++) assert.equal((await headerless(relay.port, 'server', ip)).status, 400);
    const sid = newServerId();
    await assert.rejects(connectBinary(relay.url, sid, {}, { localAddress: ip }), /HTTP 429/);
    assert.equal(relay.app.relay.counts().binaries, 0);
    assert.ok(!relay.events().some((e) => e.server_id === sid));
  });

  test('per-IP isolation: another address has its own bucket', async () => {
    for (let i = 0; i < 3; i++) await headerless(relay.port, 'server', '127.0.0.13');
    assert.equal((await headerless(relay.port, 'server', '127.0.0.13')).status, 429);
    assert.equal((await headerless(relay.port, 'server', '127.0.0.14')).status, 400);
  });

  test('/healthz and unknown paths are never limited', async () => {
    const ip = '127.0.0.15';
    for (let i = 0; i < 3; i++) await headerless(relay.port, 'server', ip);
    assert.equal((await headerless(relay.port, 'server', ip)).status, 429);
    for (let i = 0; i < 10; i++) {
      assert.equal((await httpRequest(relay.port, '/healthz', { localAddress: ip })).status, 200);
      assert.equal((await httpRequest(relay.port, '/nope', { localAddress: ip })).status, 404);
    }
  });

  test('X-Forwarded-For is ignored without --trust-x-forwarded-for', async () => {
    const ip = '127.0.0.16';
    for (let i = 0; i < 3; i++) {
      await upgrade(relay.port, '/v1/server', { localAddress: ip, headers: { 'X-Forwarded-For': `203.0.113.${i}` } });
    }
    const r = await upgrade(relay.port, '/v1/server', { localAddress: ip, headers: { 'X-Forwarded-For': '203.0.113.99' } });
    assert.equal(r.status, 429);
  });
});

describe('rate limit refill', () => {
  test('a token comes back after the refill period; Retry-After is at least 1 for sub-second refills', async () => {
    const relay = await startRelay({ rateLimitBurst: 1, rateLimitRefillMs: 300 });
    try {
      const t0 = performance.now();
      assert.equal((await headerless(relay.port, 'server')).status, 400);
      const denied = await headerless(relay.port, 'server');
      assert.equal(denied.status, 429);
      assert.equal(denied.headers['retry-after'], '1');
      // Denied requests cost nothing: ask until the token is back, then check it was not early.
      let status = 429;
      await until(async () => (status = (await headerless(relay.port, 'server')).status) !== 429, 3000, 'refill');
      assert.equal(status, 400);
      assert.ok(performance.now() - t0 >= 300 - 1, 'token back before the refill period');
    } finally {
      await relay.stop();
    }
  });

  test('Retry-After rounds the wait up to whole seconds', async () => {
    const relay = await startRelay({ rateLimitBurst: 1, rateLimitRefillMs: 2500 });
    try {
      await headerless(relay.port, 'client');
      assert.equal((await headerless(relay.port, 'client')).headers['retry-after'], '3');
    } finally {
      await relay.stop();
    }
  });
});

describe('rate limit with --trust-x-forwarded-for', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay({ rateLimitBurst: 1, rateLimitRefillMs: 60_000, trustXForwardedFor: true });
  });
  after(() => relay.stop());
  const viaXff = (xff: string | undefined, localAddress = '127.0.0.21') =>
    upgrade(relay.port, '/v1/server', { localAddress, headers: xff === undefined ? {} : { 'X-Forwarded-For': xff } });

  test('the left-most entry, trimmed, is the client IP', async () => {
    assert.equal((await viaXff('203.0.113.1')).status, 400);
    assert.equal((await viaXff('  203.0.113.1  , 10.0.0.1')).status, 429);
    assert.equal((await viaXff('203.0.113.2, 203.0.113.1')).status, 400);
    assert.ok(relay.events().some((e) => e.event === 'rate_limited' && e.remote === '203.0.113.1'));
  });

  test('IPv6 spellings of one address share a bucket', async () => {
    assert.equal((await viaXff('2001:DB8:0:0::7')).status, 400);
    assert.equal((await viaXff('2001:db8::7')).status, 429);
    assert.equal((await viaXff('::ffff:198.51.100.7')).status, 400);
    assert.equal((await viaXff('198.51.100.7')).status, 429);
  });

  test('absent or blank header falls back to the socket peer', async () => {
    assert.equal((await viaXff(undefined, '127.0.0.22')).status, 400);
    assert.equal((await viaXff('   ', '127.0.0.22')).status, 429);
    assert.equal((await viaXff('', '127.0.0.22')).status, 429);
  });

  test('an unparseable client IP is denied', async () => {
    for (const bad of ['not-an-ip', '300.1.1.1', '203.0.113.1:8080', 'unknown, 203.0.113.50', ' , 203.0.113.51']) {
      const r = await viaXff(bad, '127.0.0.23');
      assert.equal(r.status, 429, bad);
      assert.equal(r.headers['retry-after'], '1');
    }
  });
});
