// The documented Caddy setup, for real: Debian's Caddy runs deploy/Caddyfile
// (site address swapped for a test port with a throwaway certificate instead of
// ACME) in front of a relay child process; the probe must pass through it.
// Caddy is required: when it is missing this test fails (.ci/run installs it).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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
  makeCert,
  ROOT,
  substitute,
  waitListening,
} from '../helpers/deploy.js';
import { freePort, runCli, spawnCli, waitForStderr } from '../helpers/process.js';

const FILE = 'deploy/Caddyfile';
const TEMPLATE = readFileSync(join(ROOT, FILE), 'utf8');

function render(dir: string, tlsPort: number, httpPort: number, relayPort: number, cert: { cert: string; key: string }): string {
  // Test-only global options: no admin API, state in the temp dir, no ACME, no port 80.
  const globals = [
    '{',
    '\tadmin off',
    `\tstorage file_system ${join(dir, 'data')}`,
    `\thttp_port ${httpPort}`,
    '\tauto_https disable_redirects',
    '}',
    '',
  ].join('\n');
  let conf = substitute(TEMPLATE, 'relay.example.com {', `https://localhost:${tlsPort} {\n\ttls ${cert.cert} ${cert.key}`, FILE);
  conf = substitute(conf, 'reverse_proxy 127.0.0.1:8080 {', `reverse_proxy 127.0.0.1:${relayPort} {`, FILE);
  return globals + conf;
}

describe('Caddy in front of the relay (deploy/Caddyfile)', () => {
  let dir: string;
  let cert: { cert: string; key: string };
  let relay: ReturnType<typeof spawnCli> | undefined;
  let caddy: ChildProcess | undefined;
  let caddyErr = '';
  let tlsPort: number;

  before(async () => {
    const bin = findBinary('caddy', 'apt-get install -y caddy');
    dir = mkdtempSync(join(tmpdir(), 'relay-caddy-'));
    cert = makeCert(dir);
    const relayPort = await freePort();
    tlsPort = await freePort();
    relay = spawnCli(['--insecure-listen', `127.0.0.1:${relayPort}`, '--trust-x-forwarded-for', '--metrics-listen='], {});
    await waitForStderr(relay, /relay_started/, 15_000);

    const file = join(dir, 'Caddyfile');
    writeFileSync(file, render(dir, tlsPort, await freePort(), relayPort, cert));
    // Keep Caddy's own files (autosave, data) out of the real home directory.
    const env = { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: join(dir, 'xdg-data'), XDG_CONFIG_HOME: join(dir, 'xdg-config') };
    const valid = spawnSync(bin, ['validate', '--config', file, '--adapter', 'caddyfile'], { encoding: 'utf8', env });
    assert.equal(valid.status, 0, `caddy validate rejected the documented Caddyfile: ${valid.stderr}`);
    caddy = spawn(bin, ['run', '--config', file, '--adapter', 'caddyfile'], { stdio: ['ignore', 'ignore', 'pipe'], env });
    caddy.stderr?.on('data', (d: Buffer) => (caddyErr += d.toString()));
    await waitListening(tlsPort, 15_000).catch((err: Error) => assert.fail(`${err.message}; caddy said: ${caddyErr}`));
  });

  after(async () => {
    caddy?.kill('SIGTERM');
    relay?.kill('SIGTERM');
    await Promise.all([exited(caddy), exited(relay)]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('the probe passes through Caddy over wss://', async () => {
    const r = await runCli(['probe', '--ca', cert.cert, `wss://localhost:${tlsPort}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr + caddyErr);
    assert.match(r.stdout, /^8\/8 checks passed/m);
  });

  test('Caddy replaces a forged X-Forwarded-For, so the relay logs the real client IP', async () => {
    const seen = await loggedRemoteForForgedXff(`wss://localhost:${tlsPort}`, cert.cert, relay!, 'caddy-xff-test');
    assert.equal(seen.closeCode, 4404);
    assert.equal(seen.event, 'phone_register_no_server');
    assert.equal(seen.remote, '127.0.0.1');
  });

  test('/healthz answers through the proxy', async () => {
    assert.match(await httpsBody(`https://localhost:${tlsPort}/healthz`, cert.cert), HEALTHZ_BODY);
  });

  test('the example sets no stream timeout and no compression', () => {
    assert.doesNotMatch(TEMPLATE, /^\s*stream_timeout\b/m);
    assert.doesNotMatch(TEMPLATE, /^\s*encode\b/m);
  });
});
