// The documented nginx setup, for real: Debian's nginx runs deploy/nginx.conf
// (rendered with test ports and a throwaway certificate) in front of a relay
// child process, and `pyrycode-relay probe` must pass through it over wss://.
// nginx and openssl are required: when they are missing this test fails, it does
// not skip (.ci/run installs them).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  exited,
  findBinary,
  HEALTHZ_BODY,
  httpsBody,
  loggedRemoteForForgedXff,
  localNginxConf,
  makeCert,
  ROOT,
  startNginx,
  substitute,
} from '../helpers/deploy.js';
import { freePort, runCli, spawnCli, waitForStderr } from '../helpers/process.js';

const FILE = 'deploy/nginx.conf';
const TEMPLATE = readFileSync(join(ROOT, FILE), 'utf8');

function render(dir: string, tlsPort: number, relayPort: number, cert: { cert: string; key: string }): string {
  const conf = substitute(TEMPLATE, 'server 127.0.0.1:8080;', `server 127.0.0.1:${relayPort};`, FILE);
  return localNginxConf(conf, FILE, dir, tlsPort, cert);
}

describe('nginx in front of the relay (deploy/nginx.conf)', () => {
  let dir: string;
  let cert: { cert: string; key: string };
  let relay: ReturnType<typeof spawnCli> | undefined;
  let nginx: ChildProcess | undefined;
  let tlsPort: number;

  before(async () => {
    const bin = findBinary('nginx', 'apt-get install -y nginx');
    dir = mkdtempSync(join(tmpdir(), 'relay-nginx-'));
    cert = makeCert(dir);
    const relayPort = await freePort();
    tlsPort = await freePort();
    relay = spawnCli(['--insecure-listen', `127.0.0.1:${relayPort}`, '--trust-x-forwarded-for', '--metrics-listen='], {});
    await waitForStderr(relay, /relay_started/, 15_000);

    const confFile = join(dir, 'nginx.conf');
    writeFileSync(confFile, render(dir, tlsPort, relayPort, cert));
    nginx = await startNginx(bin, dir, confFile, tlsPort);
  });

  after(async () => {
    // Our own children, by handle: nginx quits gracefully on SIGQUIT, the relay drains on SIGTERM.
    nginx?.kill('SIGQUIT');
    relay?.kill('SIGTERM');
    await Promise.all([exited(nginx), exited(relay)]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('the probe passes through nginx over wss:// when it trusts the certificate', async () => {
    const r = await runCli(['probe', '--ca', cert.cert, `wss://localhost:${tlsPort}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^8\/8 checks passed/m);
  });

  test('without --ca the probe refuses the untrusted certificate and fails', async () => {
    const r = await runCli(['probe', '--timeout', '2s', `wss://localhost:${tlsPort}`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^FAIL binary_upgrade .*self[- ]signed/m);
  });

  test('nginx overwrites a forged X-Forwarded-For, so the relay logs the real client IP', async () => {
    const seen = await loggedRemoteForForgedXff(`wss://localhost:${tlsPort}`, cert.cert, relay!, 'nginx-xff-test');
    assert.equal(seen.closeCode, 4404);
    assert.equal(seen.event, 'phone_register_no_server');
    assert.equal(seen.remote, '127.0.0.1');
  });

  test('/healthz answers through the proxy', async () => {
    assert.match(await httpsBody(`https://localhost:${tlsPort}/healthz`, cert.cert), HEALTHZ_BODY);
  });

  test('the documented idle timeouts outlast the relay heartbeat window (60 s)', () => {
    for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const m = new RegExp(`${d} (\\d+)s;`).exec(TEMPLATE);
      assert.ok(m !== null, d);
      assert.ok(Number(m[1]) > 60, `${d} ${m[1]}s`);
    }
  });
});
