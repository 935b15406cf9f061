// Shared by the reverse-proxy tests (test/deploy/*): a throwaway TLS certificate,
// finding a system binary, waiting for a port, and the forged-X-Forwarded-For check.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { get } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { waitForStderr, type spawnCli } from './process.js';

export const ROOT = new URL('../../../', import.meta.url).pathname;

/** Path of a system binary; fails the test (never skips) when it is not installed. */
export function findBinary(name: string, hint: string): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/sbin'])) {
    const p = join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  assert.fail(`${name} is not installed (${hint}); .ci/run installs it`);
}

/** A self-signed certificate for localhost/127.0.0.1 as cert.pem and key.pem in `dir`. */
export function makeCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync(
    findBinary('openssl', 'apt-get install -y openssl'),
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]),
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `openssl could not make the test certificate: ${r.error?.message ?? r.stderr}`);
  return { cert, key };
}

/** Replaces exactly one occurrence, so a test breaks loudly if the documented file drifts. */
export function substitute(text: string, from: string, to: string, file: string): string {
  const n = text.split(from).length - 1;
  assert.equal(n, 1, `${file} should contain ${JSON.stringify(from)} exactly once`);
  return text.replace(from, to);
}

/**
 * Renders a documented nginx config to run unprivileged in `dir`: TLS on 127.0.0.1:`tlsPort`
 * with the test certificate, one worker, in the foreground, every writable path in `dir`.
 * Each replaced text must stand in the config exactly once (named `file` on failure).
 */
export function localNginxConf(conf: string, file: string, dir: string, tlsPort: number, cert: { cert: string; key: string }): string {
  const sub = (text: string, from: string, to: string): string => substitute(text, from, to, file);
  conf = sub(conf, 'listen 443 ssl;', `listen 127.0.0.1:${tlsPort} ssl;`);
  conf = sub(conf, '/etc/letsencrypt/live/relay.example.com/fullchain.pem', cert.cert);
  conf = sub(conf, '/etc/letsencrypt/live/relay.example.com/privkey.pem', cert.key);
  conf = sub(conf, 'worker_processes auto;', 'worker_processes 1;');
  const head = [`daemon off;`, `pid ${join(dir, 'nginx.pid')};`, `error_log ${join(dir, 'error.log')} warn;`].join('\n');
  const httpPaths = ['access_log', 'client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path']
    .map((d) => `    ${d} ${join(dir, d === 'access_log' ? 'access.log' : d)};`)
    .join('\n');
  conf = sub(conf, 'http {\n', `http {\n${httpPaths}\n`);
  return `${head}\n${conf}`;
}

export function waitListening(port: number, ms: number): Promise<void> {
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

/** Resolves when the child has exited; SIGKILLs it after `ms` if it has not. */
/**
 * Starts Debian's nginx on a config rendered by localNginxConf, after `nginx -t` accepts it,
 * and waits for its TLS port. If it never listens it is stopped again and the test fails
 * with what nginx said.
 */
export async function startNginx(bin: string, dir: string, confFile: string, tlsPort: number): Promise<ChildProcess> {
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', confFile];
  const check = spawnSync(bin, ['-t', '-q', ...args], { encoding: 'utf8' });
  assert.equal(check.status, 0, `nginx -t rejected the documented config: ${check.stderr}`);
  const nginx = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  nginx.stderr?.on('data', (d: Buffer) => (said += d.toString()));
  try {
    await waitListening(tlsPort, 15_000);
  } catch (err) {
    nginx.kill('SIGQUIT');
    await exited(nginx);
    assert.fail(`${(err as Error).message}; nginx said: ${said}`);
  }
  return nginx;
}

export function exited(child: ChildProcess | undefined, ms = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Connects a phone through the proxy with a forged X-Forwarded-For and returns the
 * client address the relay logged for it (the relay runs with --trust-x-forwarded-for).
 */
export async function loggedRemoteForForgedXff(
  proxyUrl: string,
  caFile: string,
  relay: ReturnType<typeof spawnCli>,
  serverId: string,
): Promise<{ closeCode: number; remote: unknown; event: unknown }> {
  const ws = new WebSocket(`${proxyUrl}/v1/client`, {
    ca: readFileSync(caFile),
    headers: {
      'X-Pyrycode-Server': serverId,
      'X-Pyrycode-Token': 'b'.repeat(64),
      'User-Agent': 'pyrycode-mobile/1.4.0',
      'X-Forwarded-For': '203.0.113.9',
    },
  });
  const closeCode = await new Promise<number>((resolve, reject) => {
    ws.once('close', (c: number) => resolve(c));
    ws.once('error', reject);
  });
  await waitForStderr(relay, new RegExp(`"server_id":"${serverId}"`));
  const line = relay.out.stderr.split('\n').find((l) => l.includes(serverId)) ?? '{}';
  const entry = JSON.parse(line) as { event?: unknown; remote?: unknown };
  return { closeCode, remote: entry.remote, event: entry.event };
}

/** GET over https trusting `caFile`; resolves with the body. */
export function httpsBody(url: string, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { ca: readFileSync(caFile) }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
}

export const HEALTHZ_BODY = /^\{"status":"ok","version":"[^"]+","connected_binaries":\d+,"connected_phones":\d+,"uptime_seconds":\d+\}$/;
