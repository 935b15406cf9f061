// PYRYCODE_RELAY_REDIS_URL's grammar (cluster.md §1): every accepted shape parses into
// the fields the Redis client takes; every refused one names a rule, never the text;
// and the parsed target never shows its password when serialised or printed.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { parseRedisUrl, type RedisTarget } from '../../src/ops/redis-url.js';

const SECRET = 'S3cret-MARKER';

function parsed(text: string): RedisTarget {
  const r = parseRedisUrl(text);
  assert.ok(r.ok, `${text}: ${r.ok ? '' : r.reason}`);
  return r.value;
}

const fields = (t: RedisTarget) => ({ host: t.host, port: t.port, username: t.username, password: t.password, db: t.db, tls: t.tls });

describe('accepted shapes', () => {
  const cases: Array<[string, ReturnType<typeof fields>]> = [
    ['redis://localhost', { host: 'localhost', port: 6379, username: undefined, password: undefined, db: 0, tls: false }],
    ['redis://10.0.0.5:6380', { host: '10.0.0.5', port: 6380, username: undefined, password: undefined, db: 0, tls: false }],
    ['redis://redis.internal:6379/3', { host: 'redis.internal', port: 6379, username: undefined, password: undefined, db: 3, tls: false }],
    ['redis://:pw@host', { host: 'host', port: 6379, username: undefined, password: 'pw', db: 0, tls: false }],
    ['redis://relay:pw@host:1/15', { host: 'host', port: 1, username: 'relay', password: 'pw', db: 15, tls: false }],
    [
      'rediss://default:pw@cache.example.com:6380/0',
      { host: 'cache.example.com', port: 6380, username: 'default', password: 'pw', db: 0, tls: true },
    ],
    ['redis://[::1]:7000/2', { host: '::1', port: 7000, username: undefined, password: undefined, db: 2, tls: false }],
    ['redis://[fd00::5]', { host: 'fd00::5', port: 6379, username: undefined, password: undefined, db: 0, tls: false }],
    ['redis://redis_1', { host: 'redis_1', port: 6379, username: undefined, password: undefined, db: 0, tls: false }],
    // Percent-encoding is decoded; an unencoded '@' or '/' in the password still works.
    ['redis://u%40x:p%3Aw%2F%23@h', { host: 'h', port: 6379, username: 'u@x', password: 'p:w/#', db: 0, tls: false }],
    ['redis://:a@b/c:d@h:6379', { host: 'h', port: 6379, username: undefined, password: 'a@b/c:d', db: 0, tls: false }],
    ['redis://:p:w@h', { host: 'h', port: 6379, username: undefined, password: 'p:w', db: 0, tls: false }],
  ];
  for (const [text, expected] of cases) test(text, () => assert.deepEqual(fields(parsed(text)), expected));
});

describe('refused shapes name the rule, never the value', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['localhost:6379', /redis:\/\/ or rediss:\/\//],
    ['http://h', /redis:\/\/ or rediss:\/\//],
    ['REDIS://h', /redis:\/\/ or rediss:\/\//],
    ['redis:/h', /redis:\/\/ or rediss:\/\//],
    ['redis://', /host is missing/],
    ['redis://:6379', /host is missing/],
    [`redis://:${SECRET}@`, /host is missing/],
    [`redis://user${SECRET}@h`, /password is required/],
    [`redis://user:@h`, /password must not be empty/],
    [`redis://:${SECRET}%zz@h`, /percent-encoding/],
    [`redis://:${SECRET}@h?db=1`, /query or fragment/],
    [`redis://:${SECRET}#x@h`, /query or fragment/],
    [`redis://:${SECRET} x@h`, /spaces or control/],
    [`redis://:${SECRET}@h\n`, /spaces or control/],
    [`redis://:${SECRET}@h:0`, /port must be 1-65535/],
    [`redis://:${SECRET}@h:65536`, /port must be 1-65535/],
    [`redis://:${SECRET}@h:`, /port must be a decimal/],
    [`redis://:${SECRET}@h:63a9`, /port must be a decimal/],
    [`redis://:${SECRET}@h/`, /database must be a decimal/],
    [`redis://:${SECRET}@h/x`, /database must be a decimal/],
    [`redis://:${SECRET}@h/-1`, /database must be a decimal/],
    [`redis://:${SECRET}@h/1/2`, /database must be a decimal/],
    [`redis://:${SECRET}@h/9999999999`, /at most 2147483647/],
    [`redis://:${SECRET}@::1:6379`, /IPv6 host must be written in brackets/],
    [`redis://:${SECRET}@[::1`, /missing '\]'/],
    [`redis://:${SECRET}@[1.2.3.4]:1`, /IPv6 address/],
    [`redis://:${SECRET}@[::1]x`, /followed by :port/],
    [`redis://:${SECRET}@bad..host`, /host name or an IP/],
    [`redis://:${SECRET}@-h`, /host name or an IP/],
    [`redis://:${SECRET}@1.2.3.999`, /host name or an IP/],
  ];
  for (const [text, rule] of cases) {
    test(JSON.stringify(text), () => {
      const r = parseRedisUrl(text);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.match(r.reason, rule);
      assert.ok(!r.reason.includes(SECRET) && !r.reason.includes('userS3'), r.reason);
    });
  }
});

test('the parsed target hides its password from JSON, inspect and string conversion', () => {
  const t = parsed(`rediss://relay:${SECRET}@cache.example.com:6380/1`);
  assert.equal(t.password, SECRET); // the client needs it
  // Interpolating the object itself is the point: a template literal must not leak the password.
  // eslint-disable-next-line @typescript-eslint/restrict-template-expressions
  const views = [JSON.stringify(t), JSON.stringify({ redis: t }), inspect(t), inspect({ nested: { t } }), String(t), `${t}`];
  for (const v of views) {
    assert.ok(!v.includes(SECRET), v);
    assert.ok(v.includes('cache.example.com'), v);
  }
  assert.match(JSON.stringify(t), /"password":"\[redacted\]"/);
  assert.ok(Object.isFrozen(t));
});
