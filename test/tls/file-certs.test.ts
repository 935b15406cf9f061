// The certificate-file pair check (--tls-cert, --tls-key) on real files made by
// openssl: what is accepted, and for each refusal the flag, the file and a fixed
// reason — never a byte of the key.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CertFileError, loadPair } from '../../src/tls/file-certs.js';
import { newKey, TestPki } from '../helpers/pki.js';

const DAY = 24 * 60 * 60 * 1000;

/** Every base64 line of a PEM file, to prove none of them reaches a message. */
async function secretLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
}

async function refusal(paths: { cert: string; key: string }): Promise<CertFileError> {
  try {
    await loadPair(paths);
  } catch (err) {
    assert.ok(err instanceof CertFileError, String(err));
    return err;
  }
  assert.fail('the pair was accepted');
}

describe('certificate files', () => {
  let pki: TestPki;
  before(async () => {
    pki = await TestPki.create();
  });
  after(() => pki.cleanup());

  test('an ECDSA P-256 pair loads; serial, validity and names come from the leaf', async () => {
    const leaf = await pki.leaf({ key: 'ec', dns: ['relay.pyry.test', '*.relay.pyry.test'] });
    const pair = await loadPair(leaf);
    assert.equal(pair.serial, leaf.serial);
    assert.ok(pair.notAfter > Date.now() + 9 * DAY && pair.notBefore < Date.now());
    assert.equal(pair.leaf.checkHost('a.relay.pyry.test'), '*.relay.pyry.test');
    assert.match(pair.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  test('RSA keys load, PKCS#8 and PKCS#1 ("RSA PRIVATE KEY"), and SEC1 ("EC PRIVATE KEY")', async () => {
    for (const opts of [
      { key: 'rsa' as const },
      { key: 'rsa' as const, traditionalKey: true },
      { key: 'ec' as const, traditionalKey: true },
    ]) {
      const leaf = await pki.leaf(opts);
      const label = /-----BEGIN ([A-Z ]+)-----/.exec(await readFile(leaf.key, 'utf8'))?.[1];
      assert.equal(label, opts.traditionalKey === true ? `${opts.key.toUpperCase()} PRIVATE KEY` : 'PRIVATE KEY');
      assert.equal((await loadPair(leaf)).serial, leaf.serial, JSON.stringify(opts));
    }
  });

  test('a chain with an intermediate keeps both certificates, leaf first', async () => {
    const leaf = await pki.leaf({ viaIntermediate: true });
    const pair = await loadPair(leaf);
    assert.equal(pair.chainPem.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.equal(pair.serial, leaf.serial);
  });

  test('a key file that also holds the certificate, and a cert file with text around the PEM, load', async () => {
    const leaf = await pki.leaf();
    const combined = join(pki.dir, 'combined.pem');
    await writeFile(combined, (await readFile(leaf.key, 'utf8')) + (await readFile(leaf.cert, 'utf8')));
    const annotated = join(pki.dir, 'annotated.pem');
    await writeFile(annotated, `subject=CN = relay.pyry.test\n${await readFile(leaf.cert, 'utf8')}\n`);
    assert.equal((await loadPair({ cert: annotated, key: combined })).serial, leaf.serial);
  });

  test('unreadable files name the flag and the file', async () => {
    const leaf = await pki.leaf();
    const missing = join(pki.dir, 'nope.pem');
    let e = await refusal({ cert: missing, key: leaf.key });
    assert.deepEqual([e.flag, e.file, e.reason], ['tls-cert', missing, 'unreadable (ENOENT)']);
    e = await refusal({ cert: leaf.cert, key: pki.dir });
    assert.deepEqual([e.flag, e.file, e.reason], ['tls-key', pki.dir, 'unreadable (EISDIR)']);
    assert.match(e.message, new RegExp(`^--tls-key ${pki.dir}: unreadable`));
  });

  test('files without the expected PEM block are refused', async () => {
    const leaf = await pki.leaf();
    const junk = join(pki.dir, 'junk.pem');
    await writeFile(junk, 'not a pem file\n');
    let e = await refusal({ cert: junk, key: leaf.key });
    assert.deepEqual([e.flag, e.reason], ['tls-cert', 'no PEM certificate']);
    e = await refusal({ cert: leaf.cert, key: leaf.cert });
    assert.deepEqual([e.flag, e.file, e.reason], ['tls-key', leaf.cert, 'no PEM private key']);
    const broken = join(pki.dir, 'broken.pem');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    e = await refusal({ cert: broken, key: leaf.key });
    assert.deepEqual([e.flag, e.reason], ['tls-cert', 'certificate 1 is not a valid X.509 certificate']);
    const brokenKey = join(pki.dir, 'broken.key');
    await writeFile(brokenKey, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    e = await refusal({ cert: leaf.cert, key: brokenKey });
    assert.deepEqual([e.flag, e.reason], ['tls-key', 'not a readable private key']);
  });

  test('a key that does not match the certificate is refused naming both files, without key material', async () => {
    const a = await pki.leaf();
    const b = await pki.leaf({ key: 'rsa' });
    for (const [cert, key] of [
      [a.cert, b.key],
      [b.cert, a.key],
    ] as const) {
      const e = await refusal({ cert, key });
      assert.deepEqual([e.flag, e.file, e.reason], ['tls-key', key, `does not match the certificate in ${cert}`]);
      for (const line of [...(await secretLines(key)), ...(await secretLines(cert))]) assert.ok(!e.message.includes(line));
    }
  });

  test('expired and not-yet-valid certificates are refused with their dates', async () => {
    const expired = await pki.leaf({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    let e = await refusal(expired);
    assert.equal(e.flag, 'tls-cert');
    assert.equal(e.file, expired.cert);
    assert.match(e.reason, /^certificate expired \(not after \w{3} +\d+ [\d:]+ \d{4} GMT\)$/);
    const future = await pki.leaf({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) });
    e = await refusal(future);
    assert.match(e.reason, /^certificate not yet valid \(not before /);
  });

  test('a chain out of order is refused', async () => {
    const leaf = await pki.leaf({ reversedChain: true });
    const e = await refusal(leaf);
    assert.equal(e.flag, 'tls-cert');
    assert.match(e.reason, /^certificate 2 did not issue certificate 1/);
  });

  test('encrypted keys and key types other than RSA and ECDSA are refused', async () => {
    const enc = await pki.leaf({ passphrase: 'correct horse' });
    let e = await refusal(enc);
    assert.deepEqual([e.flag, e.reason], ['tls-key', 'the private key is encrypted (passphrases are not supported)']);
    assert.ok(!e.message.includes('correct horse'));
    const ed = await pki.leaf({ key: 'ed25519' });
    e = await refusal(ed);
    assert.deepEqual([e.flag, e.reason], ['tls-key', 'ed25519 keys are not supported (RSA or ECDSA)']);
    // A traditional-format encrypted key (Proc-Type header).
    const legacy = join(pki.dir, 'legacy.key');
    await newKey(legacy, 'ec');
    const { execFileSync } = await import('node:child_process');
    execFileSync('openssl', ['ec', '-in', legacy, '-out', legacy, '-aes256', '-passout', 'pass:x'], { stdio: 'ignore' });
    e = await refusal({ cert: enc.cert, key: legacy });
    assert.equal(e.reason, 'the private key is encrypted (passphrases are not supported)');
  });
});
