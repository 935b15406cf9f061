// Black-box: the probe against the relay's own TLS (--domain, certificates from a
// real ACME server, Debian's pebble), over wss:// with --ca for pebble's root and
// --resolve pointing the test domain at loopback — the way an operator checks a
// new server before moving DNS to it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAcmeEnv, type AcmeEnv } from '../helpers/acme-env.js';
import { exited } from '../helpers/deploy.js';
import { PEBBLE_LISTENER_CA } from '../helpers/pebble.js';
import { runCli, spawnCli, waitForStderr } from '../helpers/process.js';

describe('probe against a relay terminating TLS itself (--domain)', () => {
  let env: AcmeEnv;
  let relay: ReturnType<typeof spawnCli> | undefined;
  let dir: string;
  let rootFile: string;

  before(async () => {
    env = await startAcmeEnv();
    dir = mkdtempSync(join(tmpdir(), 'relay-probe-tls-'));
    rootFile = join(dir, 'pebble-root.pem');
    writeFileSync(rootFile, env.pebble.rootPem);
    relay = spawnCli(env.args(), { NODE_EXTRA_CA_CERTS: PEBBLE_LISTENER_CA });
    await waitForStderr(relay, /relay_started/, 15_000);
  });

  after(async () => {
    relay?.kill('SIGTERM');
    await exited(relay);
    await env?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('passes over wss:// with --ca and --resolve (the first upgrade waits for issuance)', async () => {
    const r = await runCli(['probe', '--ca', rootFile, '--resolve', '127.0.0.1', '--timeout', '20s', env.base], {}, 60_000);
    assert.equal(r.code, 0, r.stdout + r.stderr + (relay?.out.stderr ?? ''));
    assert.match(r.stdout, /^PASS binary_upgrade +\d+ ms {2}wss:\/\/relay\.pyry\.test:\d+\/v1\/server → 101$/m);
    assert.match(r.stdout, /^8\/8 checks passed/m);
  });

  test('a CA that did not sign the certificate fails the upgrade', async () => {
    const r = await runCli(['probe', '--ca', PEBBLE_LISTENER_CA, '--resolve', '127.0.0.1', '--timeout', '5s', env.base], {}, 30_000);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^FAIL binary_upgrade .*(certificate|issuer)/m);
  });
});
