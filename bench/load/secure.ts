// TLS for the secure workloads: one ECDSA P-256 certificate made by openssl in a
// temp directory, served by both targets (the relay via --tls-cert/--tls-key,
// nginx via ssl_certificate), and the client options every benchmark process
// dials with: TLS 1.3 only, X25519 only, trusting that certificate. Children get
// the certificate path in BENCH_TLS_CA.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';

export interface BenchTls {
  dir: string;
  cert: string;
  key: string;
}

/**
 * A self-signed ECDSA P-256 certificate and key for `name` (and 127.0.0.1), valid
 * `days`, in a fresh temp directory (removeBenchCert deletes it). The ACME tests use
 * it too, for a certificate that only has to parse and carry a name and an expiry.
 */
export function makeBenchCert(name = 'localhost', days = 2): BenchTls {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=IP:127.0.0.1,DNS:${name}`,
    ],
    { stdio: 'ignore' },
  );
  return { dir, cert, key };
}

export function removeBenchCert(t: BenchTls): void {
  rmSync(t.dir, { recursive: true, force: true });
}

/** Client TLS options: TLS 1.3 with X25519, the bench certificate trusted (from BENCH_TLS_CA unless given). */
export function clientTls(caPath = process.env.BENCH_TLS_CA): ConnectionOptions {
  if (caPath === undefined) throw new Error('BENCH_TLS_CA is not set');
  return { ca: readFileSync(caPath, 'utf8'), minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ecdhCurve: 'X25519' };
}

/** Environment for a child that dials over TLS. */
export function tlsEnv(t: BenchTls, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, BENCH_TLS_CA: t.cert };
}
