// Black-box, a real relay in certificate-file mode (--tls-cert, --tls-key) with
// certificates openssl makes at test time: wss:// through ECDSA and RSA pairs and
// an intermediate chain, the TLS 1.2 floor, the handshake deadline, the Host gate
// (the certificate's names), reload on a file change without dropping open
// connections, a bad new pair keeping the old one serving, and the expiry series.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connectBinary, connectPhone, newServerId, type TestClient } from '../helpers/clients.js';
import { cells, eventually, scrape } from '../helpers/http.js';
import { replaceFile, TestPki, type Leaf } from '../helpers/pki.js';
import { EPHEMERAL_METRICS, startRelay, type TestRelay } from '../helpers/relay.js';
import { handshake, httpsStatus, servedSerial } from '../helpers/tls-files.js';

const NAME = 'relay.pyry.test';
const EXPIRY = 'pyrycode_relay_tls_cert_expiry_timestamp_seconds';

/** A binary and a phone paired over wss://, trusting `ca`. */
async function pair(relay: TestRelay, ca: string): Promise<{ binary: TestClient; phone: TestClient }> {
  const base = `wss://127.0.0.1:${relay.port}`;
  const sid = newServerId();
  const binary = await connectBinary(base, sid, {}, { ca });
  const phone = await connectPhone(base, sid, {}, { ca });
  return { binary, phone };
}

/** A frame each way through the pair. */
async function roundTrip(p: { binary: TestClient; phone: TestClient }, tag: string): Promise<void> {
  p.phone.send(`{"hello":"${tag}"}`);
  const env = await p.binary.nextJson();
  assert.equal(typeof env.conn_id, 'string');
  assert.deepEqual(env.frame, { hello: tag });
  p.binary.send(JSON.stringify({ conn_id: env.conn_id, frame: { back: tag } }));
  assert.deepEqual(JSON.parse(await p.phone.next()), { back: tag });
}

describe('certificate-file mode', () => {
  let pki: TestPki;
  let leaf: Leaf;
  let relay: TestRelay;
  before(async () => {
    pki = await TestPki.create();
    // The relay serves files it knows by path; each test replaces their contents.
    leaf = await pki.leaf({ key: 'ec', dns: [NAME], ips: ['127.0.0.1'], viaIntermediate: true });
    relay = await startRelay({ tlsCert: leaf.cert, tlsKey: leaf.key, metricsListen: EPHEMERAL_METRICS }, { tlsFilesDebounceMs: 50 });
  });
  after(async () => {
    await relay.stop();
    await pki.cleanup();
  });

  const current = (): string => relay.app.tlsFiles!.reloader.pair.serial;

  test('wss:// through an ECDSA chain with an intermediate: frames flow; TLS 1.3 offered, 1.2 accepted, 1.1 refused', async () => {
    const p = await pair(relay, pki.root.pem);
    assert.equal(servedSerial(p.binary), leaf.serial);
    await roundTrip(p, 'ecdsa');
    assert.equal((await handshake(relay.port, { ca: pki.root.pem, servername: NAME })).protocol, 'TLSv1.3');
    assert.equal((await handshake(relay.port, { ca: pki.root.pem, servername: NAME, maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
    await assert.rejects(
      handshake(relay.port, {
        ca: pki.root.pem,
        servername: NAME,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0',
      }),
    );
    p.binary.close();
    p.phone.close();
  });

  test('Host gate: names and addresses the certificate covers, else 421; no SNI is fine', async () => {
    const ca = pki.root.pem;
    assert.equal(await httpsStatus(relay.port, '/healthz', { ca, servername: NAME, host: `${NAME}:443` }), 200);
    assert.equal(await httpsStatus(relay.port, '/healthz', { ca, host: '127.0.0.1' }), 200);
    assert.equal(await httpsStatus(relay.port, '/healthz', { ca, servername: NAME, host: 'other.pyry.test' }), 421);
    assert.equal(await httpsStatus(relay.port, '/v1/client', { ca, servername: NAME, host: 'other.pyry.test' }), 421);
  });

  test('a connection that never completes its handshake is closed at the header timeout', async () => {
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const s = netConnect(relay.port, '127.0.0.1');
      s.on('close', () => resolve());
      s.on('error', () => {});
    });
    const took = Date.now() - started;
    assert.ok(took >= relay.config.headerTimeoutMs - 50 && took < relay.config.headerTimeoutMs + 2000, `${took} ms`);
  });

  test("the expiry series is the serving certificate's notAfter", async () => {
    const text = await scrape(relay.app.metricsAddress!.port);
    assert.equal(cells(text).get(EXPIRY), Math.floor(relay.app.tlsFiles!.reloader.pair.notAfter / 1000));
    assert.match(text, new RegExp(`# TYPE ${EXPIRY} gauge`));
  });

  test('files replaced: new handshakes get the new pair (RSA now), open connections keep working on the old one', async () => {
    const old = await pair(relay, pki.root.pem);
    const oldSerial = servedSerial(old.phone);
    const next = await pki.leaf({ key: 'rsa', dns: [NAME], ips: ['127.0.0.1'], notAfter: new Date(Date.now() + 5 * 86_400_000) });
    await replaceFile(next.key, leaf.key);
    await replaceFile(next.cert, leaf.cert);
    await eventually(() => current() === next.serial, 5000, 'reload');
    const fresh = await pair(relay, pki.root.pem);
    assert.equal(servedSerial(fresh.binary), next.serial);
    assert.equal(servedSerial(old.phone), oldSerial);
    await roundTrip(old, 'old');
    await roundTrip(fresh, 'new');
    assert.ok(relay.events().some((e) => e.event === 'tls_cert_reloaded' && e.serial === next.serial && e.signal === undefined));
    const scraped = cells(await scrape(relay.app.metricsAddress!.port)).get(EXPIRY);
    assert.equal(scraped, Math.floor(Date.parse(relay.app.tlsFiles!.reloader.pair.leaf.validTo) / 1000));
    for (const c of [old.binary, old.phone, fresh.binary, fresh.phone]) c.close();
  });

  test('a bad new pair keeps the old one serving and logs an error once; a good one then goes in', async () => {
    const serving = current();
    const other = await pki.leaf({ dns: [NAME] });
    const before = relay.events().length;
    await replaceFile(other.key, leaf.key); // the key alone: it does not match the certificate in service
    await eventually(
      () =>
        relay
          .events()
          .slice(before)
          .some((e) => e.event === 'tls_cert_reload_failed'),
      5000,
      'reload failure logged',
    );
    const failure = relay
      .events()
      .slice(before)
      .find((e) => e.event === 'tls_cert_reload_failed')!;
    assert.equal(failure.level, 'error');
    assert.deepEqual([failure.flag, failure.file, failure.serial], ['tls-key', leaf.key, serving]);
    assert.equal(failure.reason, `does not match the certificate in ${leaf.cert}`);
    assert.equal(current(), serving);
    assert.equal((await handshake(relay.port, { ca: pki.root.pem, servername: NAME })).serial, serving);
    // The same bad pair seen again (another event in the directory) is not logged again.
    await replaceFile(other.key, leaf.key);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(
      relay
        .events()
        .slice(before)
        .filter((e) => e.event === 'tls_cert_reload_failed').length,
      1,
    );
    await replaceFile(other.cert, leaf.cert);
    await eventually(() => current() === other.serial, 5000, 'the good pair installed');
    assert.equal((await handshake(relay.port, { ca: pki.root.pem, servername: NAME })).serial, other.serial);
  });

  test('an expired replacement is refused, the pair in service stays', async () => {
    const serving = current();
    const expired = await pki.leaf({
      dns: [NAME],
      notBefore: new Date(Date.now() - 5 * 86_400_000),
      notAfter: new Date(Date.now() - 60_000),
    });
    const before = relay.events().length;
    await replaceFile(expired.key, leaf.key);
    await replaceFile(expired.cert, leaf.cert);
    await eventually(
      () =>
        relay
          .events()
          .slice(before)
          .some((e) => e.event === 'tls_cert_reload_failed' && /^certificate expired/.test(String(e.reason))),
      5000,
      'expired pair refused',
    );
    assert.equal(current(), serving);
    assert.equal((await handshake(relay.port, { ca: pki.root.pem, servername: NAME })).serial, serving);
  });
});
