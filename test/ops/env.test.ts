// Environment validation (operations.md §2): the exact-"1" rule, the FCM key
// shape and URL rule; refusals name the variable and the rule, never the value.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { readEnvironment } from '../../src/ops/env.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const pkcs1 = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const key = (over: Record<string, unknown> = {}): string =>
  JSON.stringify({ type: 'service_account', client_email: 'relay@p.iam.gserviceaccount.com', private_key: pkcs8, ...over });

function refusal(env: Record<string, string>): { envVar: string; reason: string } {
  const r = readEnvironment(env);
  assert.equal(r.ok, false);
  return r.refusal;
}

describe('readEnvironment', () => {
  test('defaults: nothing set', () => {
    assert.deepEqual(readEnvironment({ UNRELATED: 'x' }), {
      ok: true,
      value: {
        production: false,
        singleInstanceBypass: false,
        fcmCredentials: undefined,
        fcmUrl: undefined,
        flyAppName: undefined,
        redis: undefined,
        flyMachineId: undefined,
      },
    });
  });

  test('PYRYCODE_RELAY_PRODUCTION and _SINGLE_INSTANCE: unset or exactly 1', () => {
    for (const name of ['PYRYCODE_RELAY_PRODUCTION', 'PYRYCODE_RELAY_SINGLE_INSTANCE']) {
      for (const bad of ['', 'true', '0', ' 1', '1 ', '01', 'yes']) {
        const r = refusal({ [name]: bad });
        assert.equal(r.envVar, name);
        assert.match(r.reason, /exactly 1/);
      }
    }
    const ok = readEnvironment({ PYRYCODE_RELAY_PRODUCTION: '1', PYRYCODE_RELAY_SINGLE_INSTANCE: '1', FLY_APP_NAME: 'relay' });
    assert.ok(ok.ok);
    assert.equal(ok.value.production, true);
    assert.equal(ok.value.singleInstanceBypass, true);
    assert.equal(ok.value.flyAppName, 'relay');
    const empty = readEnvironment({ FLY_APP_NAME: '' });
    assert.ok(empty.ok);
    assert.equal(empty.value.flyAppName, undefined);
  });

  test('FCM credentials: a whole service-account key, PKCS#8 or PKCS#1, token_uri default', () => {
    for (const pem of [pkcs8, pkcs1]) {
      const r = readEnvironment({ PYRYCODE_RELAY_FCM_CREDENTIALS: key({ private_key: pem }) });
      assert.ok(r.ok);
      assert.equal(r.value.fcmCredentials?.clientEmail, 'relay@p.iam.gserviceaccount.com');
      assert.equal(r.value.fcmCredentials?.tokenUri, 'https://oauth2.googleapis.com/token');
    }
  });

  test('FCM credentials: every bad shape is refused without echoing the value', () => {
    const bad = [
      '',
      'not json SECRET-MARKER',
      '[1]',
      key({ type: 'user' }),
      key({ client_email: '' }),
      key({ private_key: 'SECRET-MARKER' }),
      key({ private_key: ecKey }),
      key({ token_uri: 'http://evil.example/SECRET-MARKER' }),
    ];
    for (const value of bad) {
      const r = refusal({ PYRYCODE_RELAY_FCM_CREDENTIALS: value });
      assert.equal(r.envVar, 'PYRYCODE_RELAY_FCM_CREDENTIALS');
      assert.ok(!r.reason.includes('SECRET-MARKER'));
      assert.ok(!r.reason.includes('BEGIN'));
      assert.ok(!r.reason.includes('relay@p'));
    }
  });

  test('PYRYCODE_RELAY_FCM_URL: https, or http to loopback', () => {
    for (const good of ['https://fcm.example/v1/send', 'http://127.0.0.1:9999/send', 'http://[::1]:1/x', 'http://localhost/x']) {
      const r = readEnvironment({ PYRYCODE_RELAY_FCM_URL: good });
      assert.ok(r.ok, good);
      assert.equal(r.value.fcmUrl, good);
    }
    for (const bad of ['http://fcm.example/SECRET', 'ftp://127.0.0.1/', 'https://user:SECRET@fcm.example/', 'nope', '']) {
      const r = refusal({ PYRYCODE_RELAY_FCM_URL: bad });
      assert.equal(r.envVar, 'PYRYCODE_RELAY_FCM_URL');
      assert.ok(!r.reason.includes('SECRET'));
    }
  });

  test('PYRYCODE_RELAY_REDIS_URL: set = cluster mode, parsed; the string itself is kept nowhere', () => {
    const r = readEnvironment({ PYRYCODE_RELAY_REDIS_URL: 'rediss://relay:SECRET-MARKER@cache.internal:6380/2', FLY_MACHINE_ID: 'e286' });
    assert.ok(r.ok);
    assert.deepEqual(
      { ...r.value.redis },
      { host: 'cache.internal', port: 6380, username: 'relay', password: 'SECRET-MARKER', db: 2, tls: true },
    );
    assert.equal(r.value.flyMachineId, 'e286');
    assert.ok(!JSON.stringify(r.value).includes('SECRET-MARKER'), 'a logged environment shows no password');
    const empty = readEnvironment({ FLY_MACHINE_ID: '' });
    assert.ok(empty.ok);
    assert.equal(empty.value.redis, undefined);
    assert.equal(empty.value.flyMachineId, undefined);
  });

  test('PYRYCODE_RELAY_REDIS_URL: empty or malformed is refused naming the rule, not the value', () => {
    for (const bad of [
      '',
      'redis://:SECRET-MARKER@',
      'http://user:SECRET-MARKER@h',
      'redis://:SECRET-MARKER@h:99999',
      'redis://u:SECRET-MARKER@h/db',
    ]) {
      const r = refusal({ PYRYCODE_RELAY_REDIS_URL: bad });
      assert.equal(r.envVar, 'PYRYCODE_RELAY_REDIS_URL');
      assert.match(r.reason, /^must be redis:\/\/\[\[user\]:password@\]host\[:port\]\[\/db\] or rediss:\/\/…: /);
      assert.ok(!r.reason.includes('SECRET'), r.reason);
    }
  });
});
