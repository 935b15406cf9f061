// Black-box, against a real ACME server (pebble) and the CLI as a child
// process: first start issues a certificate through HTTP-01 while the first
// handshake waits for it; wss:// binary and phone exchange frames through it,
// validated against pebble's root; Host mismatch → 421; the HTTP-01 port
// answers 404 without a body; the cache holds 0600 files; a restart with the
// ACME server gone reuses the cached certificate; TLS 1.1 is refused
// (operations.md §8).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { DOMAIN, httpGet, httpsGet, peerCertificate, startAcmeEnv, type AcmeEnv } from '../helpers/acme-env.js';
import { connectBinary, connectPhone, newServerId } from '../helpers/clients.js';
import { PEBBLE_LISTENER_CA } from '../helpers/pebble.js';
import { cells, scrape } from '../helpers/http.js';
import { freePort, spawnCli, waitExit, waitForStderr } from '../helpers/process.js';

/** Offers only TLS 1.0/1.1 (which this client could speak); returns the error code. */
function tls11Refusal(port: number, rootPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: DOMAIN,
      ca: rootPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    s.on('secureConnect', () => {
      s.destroy();
      reject(new Error(`handshake succeeded with ${s.getProtocol()}`));
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function handshakeWith(opts: ConnectionOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(opts, () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
}

/** Sends a plaintext request to a TLS port and returns whatever comes back as text. */
function plaintextAnswer(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = netConnect(port, '127.0.0.1', () => s.write(`GET /healthz HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`));
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got.startsWith('HTTP/') ? got : ''));
  });
}

/** Sends the first bytes of a ClientHello, then nothing; resolves when the relay closes. */
function stalledHello(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x50, 0x01])));
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

describe('TLS with ACME (pebble)', () => {
  let env: AcmeEnv;
  let firstRoot: string;
  let firstSerial: string;
  before(async () => {
    env = await startAcmeEnv();
    firstRoot = env.pebble.rootPem;
  });
  after(() => env.stop());

  test('first start: issues through HTTP-01; a connection opened at boot completes with the new certificate; wss:// frames flow', async () => {
    const child = spawnCli(env.args(), { NODE_EXTRA_CA_CERTS: PEBBLE_LISTENER_CA });
    try {
      await waitForStderr(child, /relay_started/);
      // Connect before the certificate exists: the handshake is held, not failed.
      const id = newServerId();
      const binaryP = connectBinary(env.base, id, {}, env.wsOptions());
      await waitForStderr(child, /cert_issued/, 20_000);
      const binary = await binaryP;
      const phone = await connectPhone(env.base, id, {}, env.wsOptions());
      phone.send('{"v":2,"type":"noise_init","data":"AAAA"}');
      const raw = await binary.next();
      const m = /^\{"conn_id":"([^"]+)","frame":\{"v":2,"type":"noise_init","data":"AAAA"\}\}$/.exec(raw);
      assert.ok(m, raw);
      binary.send(`{"conn_id":"${m[1]}","frame":{"v":2,"type":"noise_resp","data":"BBBB"}}`);
      assert.equal(await phone.next(), '{"v":2,"type":"noise_resp","data":"BBBB"}');

      const cert = await peerCertificate(env.httpsPort, firstRoot);
      assert.equal(cert.subjectaltname, `DNS:${DOMAIN}`);
      firstSerial = cert.serialNumber;

      const health = await httpsGet(env.httpsPort, '/healthz', firstRoot);
      assert.equal(health.status, 200);
      assert.match(health.body, /"connected_binaries":1,"connected_phones":1/);

      // Host, port stripped and case-insensitive, must be the domain.
      assert.equal((await httpsGet(env.httpsPort, '/healthz', firstRoot, `${DOMAIN.toUpperCase()}:443`)).status, 200);
      const foreign = await httpsGet(env.httpsPort, '/healthz', firstRoot, 'other.example');
      assert.equal(foreign.status, 421);
      await assert.rejects(connectPhone(env.base, id, { Host: 'other.example' }, env.wsOptions()), /HTTP 421/);

      // The HTTP-01 port: 404 with no body for anything that is not a live challenge.
      for (const path of ['/', '/healthz', '/v1/server', '/.well-known/acme-challenge/unknown-token']) {
        const r = await httpGet(env.httpPort, path);
        assert.equal(r.status, 404, path);
        assert.equal(r.body, '', path);
        assert.equal(r.headers.location, undefined, path);
      }

      binary.close();
      phone.close();
      child.kill('SIGTERM');
      const exit = await waitExit(child);
      assert.equal(exit.code, 0);
      assert.ok(!exit.stderr.includes('PRIVATE KEY'), 'no key material in logs');
      assert.ok(!exit.stderr.includes('acme_issue_failed'), exit.stderr);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('the cache directory is 0700 and every file in it 0600 (Go autocert layout)', () => {
    assert.equal(statSync(env.cacheDir).mode & 0o777, 0o700);
    const names = readdirSync(env.cacheDir).sort();
    assert.deepEqual(names, ['acme_account+key', DOMAIN]);
    for (const name of names) assert.equal(statSync(join(env.cacheDir, name)).mode & 0o777, 0o600, name);
    const bundle = readFileSync(join(env.cacheDir, DOMAIN), 'utf8');
    assert.match(bundle, /^-----BEGIN EC PRIVATE KEY-----[\s\S]*-----BEGIN CERTIFICATE-----/);
  });

  test('a restart reuses the cached certificate while the ACME server is down', async () => {
    await env.pebble.stop();
    const metricsPort = await freePort();
    const child = spawnCli(env.args(['--header-timeout', '1s', '--metrics-listen', `127.0.0.1:${metricsPort}`]), {
      NODE_EXTRA_CA_CERTS: PEBBLE_LISTENER_CA,
    });
    try {
      await waitForStderr(child, /cert_loaded/);
      const cert = await peerCertificate(env.httpsPort, firstRoot);
      assert.equal(cert.serialNumber, firstSerial);
      // The expiry series is the served certificate's notAfter.
      await waitForStderr(child, /metrics_listening/);
      const expiry = cells(await scrape(metricsPort)).get('pyrycode_relay_tls_cert_expiry_timestamp_seconds');
      assert.equal(expiry, Math.floor(Date.parse(cert.valid_to) / 1000));
      assert.equal(await tls11Refusal(env.httpsPort, firstRoot), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
      // No SNI, or another name: no certificate is offered (as with Go's autocert).
      await assert.rejects(handshakeWith({ host: '127.0.0.1', port: env.httpsPort, ca: firstRoot }));
      await assert.rejects(handshakeWith({ host: '127.0.0.1', port: env.httpsPort, ca: firstRoot, servername: 'other.example' }));
      // Plaintext HTTP on the TLS port is dropped; the relay carries on.
      assert.equal(await plaintextAnswer(env.httpsPort), '');
      const id = newServerId();
      const binary = await connectBinary(env.base, id, {}, env.wsOptions(firstRoot));
      const phone = await connectPhone(env.base, id, {}, env.wsOptions(firstRoot));
      // A stalled ClientHello is cut at the header timeout, counted from the TCP accept.
      const t0 = Date.now();
      await stalledHello(env.httpsPort);
      const cut = Date.now() - t0;
      assert.ok(cut >= 900 && cut < 2500, `stalled handshake closed after ${cut} ms`);
      // Connections that finished their handshake are not touched by that deadline.
      assert.equal(binary.isClosed || phone.isClosed, false);
      phone.send('{"v":2,"type":"noise_init","data":"CCCC"}');
      assert.match(await binary.next(), /"frame":\{"v":2,"type":"noise_init","data":"CCCC"\}/);
      binary.close();
      phone.close();
      child.kill('SIGTERM');
      const exit = await waitExit(child);
      assert.equal(exit.code, 0);
      assert.doesNotMatch(exit.stderr, /cert_issued|acme_issue_failed/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
