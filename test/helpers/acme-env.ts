// Shared setup for the ACME tests: a DNS responder resolving the test domain to
// loopback, pebble validating HTTP-01 on the relay's --http-listen port, and
// wss:// client options that resolve the domain to 127.0.0.1 and trust only
// pebble's root — so every certificate check in these tests is a real one.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LookupFunction } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import type { DialOptions } from './clients.js';
import { startDns, type TestDns } from './dns.js';
import { startPebble, type Pebble, type PebbleOptions } from './pebble.js';
import { freePort } from './process.js';

export const DOMAIN = 'relay.pyry.test';

export const loopbackLookup: LookupFunction = (_host, options, cb) => {
  if (typeof options === 'object' && options.all) {
    (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  } else cb(null, '127.0.0.1', 4);
};

export interface AcmeEnv {
  dns: TestDns;
  pebble: Pebble;
  httpPort: number;
  httpsPort: number;
  cacheDir: string;
  /** Flags pointing a relay at this environment. */
  args(extra?: string[]): string[];
  /** wss:// base URL for the domain on the TLS port. */
  base: string;
  wsOptions(rootPem?: string): DialOptions;
  stop(): Promise<void>;
}

export async function startAcmeEnv(opts: Partial<Pick<PebbleOptions, 'validitySeconds'>> & { resolve?: boolean } = {}): Promise<AcmeEnv> {
  const dns = await startDns(opts.resolve === false ? {} : { [DOMAIN]: '127.0.0.1' });
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const pebble = await startPebble({ httpPort, dnsPort: dns.port, validitySeconds: opts.validitySeconds });
  const cacheDir = join(mkdtempSync(join(tmpdir(), 'relay-certs-')), 'certs');
  return {
    dns,
    pebble,
    httpPort,
    httpsPort,
    cacheDir,
    base: `wss://${DOMAIN}:${httpsPort}`,
    args: (extra = []) => [
      '--domain',
      DOMAIN,
      '--https-listen',
      `127.0.0.1:${httpsPort}`,
      '--http-listen',
      `127.0.0.1:${httpPort}`,
      '--cert-cache',
      cacheDir,
      '--acme-directory',
      pebble.directoryUrl,
      '--metrics-listen=',
      ...extra,
    ],
    wsOptions: (rootPem = pebble.rootPem) => ({ ca: rootPem, lookup: loopbackLookup }),
    stop: async () => {
      await pebble.stop();
      await dns.stop();
    },
  };
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A request over TLS to the relay, with the given Host header. */
export function httpsGet(port: number, path: string, rootPem: string, host = DOMAIN): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, servername: DOMAIN, ca: rootPem, headers: { Host: host }, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export function httpGet(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { Host: DOMAIN }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The certificate the TLS port presents for the domain, verified against `rootPem`. */
export function peerCertificate(port: number, rootPem: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: DOMAIN, ca: rootPem }, () => {
      const cert = s.getPeerCertificate();
      s.destroy();
      resolve(cert);
    });
    s.on('error', reject);
  });
}
