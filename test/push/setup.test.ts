// Push settings from the validated environment (operations.md §2, §9): the
// default send URL follows --fcm-project, the override replaces it, and unset
// credentials mean push off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEnvironment } from '../../src/ops/env.js';
import { pushSettings } from '../../src/push/setup.js';
import { FakeGoogle } from '../helpers/fake-google.js';

function settings(env: Record<string, string>, project: string): ReturnType<typeof pushSettings> {
  const r = readEnvironment(env);
  assert.ok(r.ok);
  return pushSettings(r.value, project);
}

test('send URL: https://fcm.googleapis.com/v1/projects/<--fcm-project>/messages:send unless overridden', async () => {
  const fake = await FakeGoogle.start();
  const creds = fake.serviceAccountJson();
  await fake.close();
  const def = settings({ PYRYCODE_RELAY_FCM_CREDENTIALS: creds }, 'pyrycode-mobile');
  assert.equal(def?.sendUrl, 'https://fcm.googleapis.com/v1/projects/pyrycode-mobile/messages:send');
  assert.equal(def?.account.tokenUri, fake.tokenUri);
  const over = settings({ PYRYCODE_RELAY_FCM_CREDENTIALS: creds, PYRYCODE_RELAY_FCM_URL: 'https://proxy.example/fcm' }, 'x');
  assert.equal(over?.sendUrl, 'https://proxy.example/fcm');
  assert.equal(settings({}, 'x'), undefined);
  assert.equal(settings({ PYRYCODE_RELAY_FCM_URL: 'https://proxy.example/fcm' }, 'x'), undefined, 'a URL alone does not turn push on');
});
