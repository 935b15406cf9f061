// Issuance failure and recovery, in-process against pebble (the internal retry
// and handshake-wait tunables are not flags): while the CA cannot validate the
// domain, each attempt is logged with its ACME problem type and retried with
// backoff, nothing crashes, the HTTP-01 port keeps answering 404, and a
// handshake waits a bounded time; once validation can succeed the next retry
// issues and a waiting handshake completes with the new certificate.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { homedir } from 'node:os';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import acme from 'acme-client';
import { startApp, type RunningApp } from '../../src/app.js';
import { defaultConfig, parseListenAddress, type RelayConfig } from '../../src/ops/config.js';
import { createLogger } from '../../src/ops/logger.js';
import { DOMAIN, httpGet, startAcmeEnv, type AcmeEnv } from '../helpers/acme-env.js';
import { PEBBLE_LISTENER_CA } from '../helpers/pebble.js';
import { allLogLines, FAST } from '../helpers/relay.js';

const HANDSHAKE_WAIT_MS = 3000;

function handshake(port: number, rootPem: string, servername = DOMAIN): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca: rootPem }, () => {
      const cert = s.getPeerCertificate();
      s.destroy();
      resolve(cert);
    });
    s.on('error', reject);
  });
}

describe('issuance failure, backoff and recovery', () => {
  let env: AcmeEnv;
  let app: RunningApp;
  const logs: Array<Record<string, unknown>> = [];
  const lines: string[] = [];
  const waitLog = async (event: string, ms = 15_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const hit = logs.find((l) => l.event === event);
      if (hit !== undefined) return hit;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no ${event} within ${ms} ms: ${lines.join('')}`);
  };

  before(async () => {
    env = await startAcmeEnv({ resolve: false }); // the domain does not resolve yet
    // acme-client's shared axios instance must trust pebble's listener certificate.
    acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(PEBBLE_LISTENER_CA) });
    const config: RelayConfig = {
      ...defaultConfig(homedir()),
      ...FAST,
      domain: DOMAIN,
      httpsListen: parseListenAddress(`127.0.0.1:${env.httpsPort}`),
      httpListen: parseListenAddress(`127.0.0.1:${env.httpPort}`),
      certCache: env.cacheDir,
      acmeDirectory: env.pebble.directoryUrl,
    };
    const logger = createLogger('debug', {
      write(line: string) {
        lines.push(line);
        allLogLines.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    });
    app = await startApp(config, config.httpsListen, {
      logger,
      closeTimeoutMs: 500,
      tls: { handshakeWaitMs: HANDSHAKE_WAIT_MS, retryBaseMs: 200, retryMaxMs: 400, pollMinMs: 100 },
    });
  });
  after(async () => {
    await app.drain();
    await env.stop();
  });

  test('failures carry the ACME problem type, are retried, and nothing else breaks', async () => {
    const failed = await waitLog('acme_issue_failed');
    assert.match(String(failed.acme_error), /^urn:ietf:params:acme:error:[a-zA-Z]+$/);
    assert.equal(failed.level, 'error');
    assert.equal(failed.count, 1);
    assert.match(String(failed.duration), /^\d+ms$/);

    // A handshake for the domain waits, bounded, then fails; a foreign name fails at once.
    const t0 = Date.now();
    await assert.rejects(handshake(env.httpsPort, env.pebble.rootPem));
    const waited = Date.now() - t0;
    assert.ok(waited >= HANDSHAKE_WAIT_MS - 100 && waited < HANDSHAKE_WAIT_MS + 3000, `waited ${waited} ms`);
    const t1 = Date.now();
    await assert.rejects(handshake(env.httpsPort, env.pebble.rootPem, 'other.example'));
    assert.ok(Date.now() - t1 < 1000);

    // Retried with backoff meanwhile; the HTTP-01 port still answers.
    assert.ok(logs.filter((l) => l.event === 'acme_issue_failed').length >= 2, 'retried');
    const r = await httpGet(env.httpPort, '/');
    assert.equal(r.status, 404);
    assert.equal(r.body, '');
  });

  test('once the domain validates, the next retry issues and a waiting handshake completes', async () => {
    const pending = handshake(env.httpsPort, env.pebble.rootPem);
    env.dns.names.set(DOMAIN, '127.0.0.1');
    const cert = await pending;
    assert.equal(cert.subjectaltname, `DNS:${DOMAIN}`);
    const issued = await waitLog('cert_issued');
    assert.equal(issued.domain, DOMAIN);
    assert.ok(!lines.join('').includes('PRIVATE KEY'));
    assert.ok(app.tls?.certs.notAfter !== undefined && app.tls.certs.notAfter > Date.now());
  });
});
