// Black-box: push wake set up by the CLI from its environment (operations.md §2,
// §9) — bad values refuse boot without echoing them; good ones send a wake to a
// loopback fake of Google; unset is push off, logged once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectBinary, newServerId } from '../helpers/clients.js';
import { FakeGoogle, PROJECT, testKeyPem } from '../helpers/fake-google.js';
import { freePort, runCli, spawnCli, waitExit, waitForStderr } from '../helpers/process.js';

const CREDS = 'PYRYCODE_RELAY_FCM_CREDENTIALS';
const URL_VAR = 'PYRYCODE_RELAY_FCM_URL';

describe('cli push setup', () => {
  test('bad credentials or a bad FCM URL refuse boot (exit 2) naming the variable, never the value', async () => {
    const fake = await FakeGoogle.start();
    const secret = 'SECRET-NOT-A-PEM-KEY';
    const cases: Array<[Record<string, string>, string]> = [
      [{ [CREDS]: JSON.stringify({ type: 'service_account', client_email: 'a@b', private_key: secret }) }, CREDS],
      [{ [CREDS]: `{"broken ${secret}` }, CREDS],
      [{ [CREDS]: '' }, CREDS],
      [{ [CREDS]: fake.serviceAccountJson(), [URL_VAR]: `http://example.com/${secret}` }, URL_VAR],
      [{ [URL_VAR]: `ftp://127.0.0.1/${secret}` }, URL_VAR],
    ];
    for (const [env, name] of cases) {
      const r = await runCli(['--insecure-listen', '127.0.0.1:1'], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /boot_refused/);
      assert.ok(r.stderr.includes(name), r.stderr);
      assert.ok(!r.stderr.includes(secret), r.stderr);
      assert.ok(!r.stderr.includes('PRIVATE KEY'), r.stderr);
    }
    await fake.close();
  });

  test('credentials set: a binary wake goes out through FCM_URL with the key token_uri; SIGTERM exits 0', async () => {
    const fake = await FakeGoogle.start();
    const port = await freePort();
    const child = spawnCli(['--insecure-listen', `127.0.0.1:${port}`, '--fcm-project', PROJECT, '--drain-timeout', '1s'], {
      [CREDS]: fake.serviceAccountJson(),
      [URL_VAR]: fake.sendUrl,
    });
    await waitForStderr(child, /relay_started/);
    assert.match(child.out.stderr, /"event":"push_enabled"/);
    const binary = await connectBinary(`ws://127.0.0.1:${port}`, newServerId());
    binary.send('{"push_wake":{"platform":"fcm","token":"cli-device-token-123"}}');
    await waitForStderr(child, /push_wake_sent/);
    assert.equal(fake.tokenRequests.length, 1);
    assert.equal(fake.sendRequests[0]?.body, '{"message":{"token":"cli-device-token-123","android":{"priority":"HIGH"}}}');
    child.kill('SIGTERM');
    const r = await waitExit(child);
    assert.equal(r.code, 0);
    for (const s of ['cli-device-token-123', 'ya29.', testKeyPem().split('\n')[3] ?? '?']) assert.ok(!r.stderr.includes(s), s);
    await fake.close();
  });

  test('credentials unset: push off, logged once at boot', async () => {
    const port = await freePort();
    const child = spawnCli(['--insecure-listen', `127.0.0.1:${port}`]);
    await waitForStderr(child, /relay_started/);
    child.kill('SIGTERM');
    const r = await waitExit(child);
    assert.equal(r.code, 0);
    assert.equal(r.stderr.match(/"event":"push_disabled"/g)?.length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /push_enabled/);
  });
});
