// The certificate cache file format and checks: a bundle must carry a key that
// matches its leaf and a leaf for the domain; files are written 0600 even over
// an existing looser file; the account key is created once and then reused.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DirCertStore, newEcKeyPem, parseBundle } from '../../src/tls/cert-store.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/pebble/', import.meta.url));
const key = readFileSync(join(FIX, 'key.pem'), 'utf8');
const chain = readFileSync(join(FIX, 'cert.pem'), 'utf8') + readFileSync(join(FIX, 'ca.pem'), 'utf8');

test('parseBundle accepts a matching key and leaf for the domain', () => {
  const b = parseBundle(key + chain, 'localhost');
  assert.ok(b.notAfter > b.notBefore);
  assert.equal((b.chainPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
});

test('parseBundle rejects another domain, a foreign key, and missing parts', () => {
  assert.throws(() => parseBundle(key + chain, 'relay.pyry.test'), /not for relay\.pyry\.test/);
  assert.throws(() => parseBundle(newEcKeyPem() + chain, 'localhost'), /does not match/);
  assert.throws(() => parseBundle(chain, 'localhost'), /no private key/);
  assert.throws(() => parseBundle(key, 'localhost'), /no certificate/);
  assert.throws(() => parseBundle('garbage', 'localhost'));
});

test('saveCert writes 0600 over a looser existing file; loadCert reads it back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  writeFileSync(join(dir, 'localhost'), 'old', { mode: 0o644 });
  const store = new DirCertStore(dir, 'localhost');
  await store.saveCert(key, chain);
  assert.equal(statSync(join(dir, 'localhost')).mode & 0o777, 0o600);
  const loaded = await store.loadCert();
  assert.ok(loaded);
  assert.equal(await new DirCertStore(dir, 'other.test').loadCert(), undefined);
});

test('the account key is created 0600 once and reused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  const store = new DirCertStore(dir, 'localhost');
  const first = await store.accountKey();
  assert.match(first, /^-----BEGIN EC PRIVATE KEY-----/);
  assert.equal(statSync(join(dir, 'acme_account+key')).mode & 0o777, 0o600);
  assert.equal(await store.accountKey(), first);
});
