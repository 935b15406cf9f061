// Runs Debian's pebble (a real ACME test server) on loopback for the TLS tests:
// its own HTTPS listener uses the fixture certificate in test/fixtures/pebble
// (signed by fixtures' ca.pem, which the relay trusts via NODE_EXTRA_CA_CERTS),
// it resolves names through a TestDns and validates HTTP-01 on `httpPort`.
// A missing pebble binary is a test failure, never a skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './process.js';

export const PEBBLE_BIN = '/usr/bin/pebble';
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/pebble/', import.meta.url));
/** The CA that signed pebble's own HTTPS certificate (not the CA that signs issued certificates). */
export const PEBBLE_LISTENER_CA = join(FIXTURES, 'ca.pem');

export interface Pebble {
  directoryUrl: string;
  managementUrl: string;
  /** Root of the certificates pebble issues; new on every pebble start. */
  rootPem: string;
  output(): string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  httpPort: number;
  dnsPort: number;
  /** Lifetime of issued certificates, in seconds (pebble's default is five years). */
  validitySeconds?: number;
}

function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca: readFileSync(PEBBLE_LISTENER_CA) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function waitUp(url: string, child: ChildProcess, out: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`pebble exited: ${out()}`);
    try {
      if ((await fetchText(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pebble did not come up: ${out()}`);
}

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  accessSync(PEBBLE_BIN, constants.X_OK); // throws (fails the test) when pebble is not installed
  const [acmePort, mgmtPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'pebble-'));
  const config = join(dir, 'pebble-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: join(FIXTURES, 'cert.pem'),
        privateKey: join(FIXTURES, 'key.pem'),
        httpPort: opts.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(opts.validitySeconds !== undefined ? { certificateValidityPeriod: opts.validitySeconds } : {}),
      },
    }),
  );
  let out = '';
  const child = spawn(PEBBLE_BIN, ['-config', config, '-dnsserver', `127.0.0.1:${opts.dnsPort}`, '-strict=false'], {
    env: { PATH: process.env.PATH, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const managementUrl = `https://127.0.0.1:${mgmtPort}`;
  try {
    await waitUp(directoryUrl, child, () => out);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const root = await fetchText(`${managementUrl}/roots/0`);
  return {
    directoryUrl,
    managementUrl,
    rootPem: root.body,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
