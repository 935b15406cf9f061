// The documented nginx setup, for real: Debian's nginx runs deploy/nginx.conf
// (rendered with test ports and a throwaway certificate) in front of a relay
// child process, and `pyrycode-relay probe` must pass through it over wss://.
// nginx and openssl are required: when they are missing this test fails, it does
// not skip (.ci/run installs them).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { freePort, runCli, spawnCli, waitForStderr } from '../helpers/process.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const TEMPLATE = readFileSync(join(ROOT, 'deploy/nginx.conf'), 'utf8');

function findNginx(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/sbin'])) {
    const p = join(dir, 'nginx');
    if (dir !== '' && existsSync(p)) return p;
  }
  assert.fail('nginx is not installed (apt-get install -y nginx); .ci/run installs it');
}

/** Replaces exactly one occurrence, so the test breaks loudly if the documented file drifts. */
function substitute(text: string, from: string, to: string): string {
  const n = text.split(from).length - 1;
  assert.equal(n, 1, `deploy/nginx.conf should contain ${JSON.stringify(from)} exactly once`);
  return text.replace(from, to);
}

function render(dir: string, tlsPort: number, relayPort: number): string {
  let conf = TEMPLATE;
  conf = substitute(conf, 'listen 443 ssl;', `listen 127.0.0.1:${tlsPort} ssl;`);
  conf = substitute(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${relayPort};`);
  conf = substitute(conf, '/etc/letsencrypt/live/relay.example.com/fullchain.pem', join(dir, 'cert.pem'));
  conf = substitute(conf, '/etc/letsencrypt/live/relay.example.com/privkey.pem', join(dir, 'key.pem'));
  conf = substitute(conf, 'worker_processes auto;', 'worker_processes 1;');
  // Run in the foreground with every writable path inside the temp dir.
  const head = [`daemon off;`, `pid ${join(dir, 'nginx.pid')};`, `error_log ${join(dir, 'error.log')} warn;`].join('\n');
  const httpPaths = ['access_log', 'client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path']
    .map((d) => `    ${d} ${join(dir, d === 'access_log' ? 'access.log' : d)};`)
    .join('\n');
  conf = substitute(conf, 'http {\n', `http {\n${httpPaths}\n`);
  return `${head}\n${conf}`;
}

function waitListening(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`nothing listening on ${port} after ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

describe('nginx in front of the relay (deploy/nginx.conf)', () => {
  let dir: string;
  let relay: ReturnType<typeof spawnCli>;
  let nginx: ChildProcess;
  let nginxErr = '';
  let tlsPort: number;

  before(async () => {
    const bin = findNginx();
    dir = mkdtempSync(join(tmpdir(), 'relay-nginx-'));
    const cert = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat(
        ['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      ),
      { encoding: 'utf8' },
    );
    assert.equal(cert.status, 0, `openssl is required to make the test certificate: ${cert.error?.message ?? cert.stderr}`);

    const relayPort = await freePort();
    tlsPort = await freePort();
    relay = spawnCli(['--insecure-listen', `127.0.0.1:${relayPort}`, '--trust-x-forwarded-for', '--metrics-listen='], {});
    await waitForStderr(relay, /relay_started/);

    writeFileSync(join(dir, 'nginx.conf'), render(dir, tlsPort, relayPort));
    const check = spawnSync(bin, ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
    assert.equal(check.status, 0, `nginx -t rejected the documented config: ${check.stderr}`);
    nginx = spawn(bin, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr?.on('data', (d: Buffer) => (nginxErr += d.toString()));
    await waitListening(tlsPort, 5000).catch((err: Error) => assert.fail(`${err.message}; nginx said: ${nginxErr}`));
  });

  after(async () => {
    // Our own children, by handle: nginx quits gracefully on SIGQUIT, the relay drains on SIGTERM.
    nginx?.kill('SIGQUIT');
    relay?.kill('SIGTERM');
    await Promise.all([nginx && exited(nginx), relay && exited(relay)]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('the probe passes through nginx over wss:// when it trusts the certificate', async () => {
    const r = await runCli(['probe', '--ca', join(dir, 'cert.pem'), `wss://localhost:${tlsPort}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^8\/8 checks passed/m);
  });

  test('without --ca the probe refuses the untrusted certificate and fails', async () => {
    const r = await runCli(['probe', '--timeout', '2s', `wss://localhost:${tlsPort}`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^FAIL binary_upgrade .*(self-signed|self signed)/m);
  });

  test('nginx overwrites a forged X-Forwarded-For, so the relay logs the real client IP', async () => {
    const ca = readFileSync(join(dir, 'cert.pem'));
    const serverId = 'nginx-xff-test-0000-000000000000';
    const ws = new WebSocket(`wss://localhost:${tlsPort}/v1/client`, {
      ca,
      headers: {
        'X-Pyrycode-Server': serverId,
        'X-Pyrycode-Token': 'b'.repeat(64),
        'User-Agent': 'pyrycode-mobile/1.4.0',
        'X-Forwarded-For': '203.0.113.9',
      },
    });
    const code = await new Promise<number>((resolve, reject) => {
      ws.once('close', (c: number) => resolve(c));
      ws.once('error', reject);
    });
    assert.equal(code, 4404);
    await waitForStderr(relay, new RegExp(`"server_id":"${serverId}"`));
    const line = relay.out.stderr.split('\n').find((l) => l.includes(serverId)) ?? '';
    const entry = JSON.parse(line) as { event: string; remote: string };
    assert.equal(entry.event, 'phone_register_no_server');
    assert.equal(entry.remote, '127.0.0.1');
  });

  test('/healthz answers through the proxy', async () => {
    const ca = readFileSync(join(dir, 'cert.pem'));
    const body = await new Promise<string>((resolve, reject) => {
      httpsGet(`https://localhost:${tlsPort}/healthz`, { ca }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    assert.match(body, /^\{"status":"ok","version":"[^"]+","connected_binaries":\d+,"connected_phones":\d+,"uptime_seconds":\d+\}$/);
  });

  test('the documented idle timeouts outlast the relay heartbeat window (60 s)', () => {
    for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const m = new RegExp(`${d} (\\d+)s;`).exec(TEMPLATE);
      assert.ok(m !== null, d);
      assert.ok(Number(m[1]) > 60, `${d} ${m[1]}s`);
    }
  });
});
