// The Host check behind 421 (operations.md §8): port stripped, case-insensitive;
// in certificate-file mode, the names and addresses the serving certificate covers.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { certificateGate, hostMatches, hostWithoutPort } from '../../src/http/host.js';
import { TestPki } from '../helpers/pki.js';

test('hostWithoutPort strips a port from names, IPv4 and bracketed IPv6', () => {
  assert.equal(hostWithoutPort('relay.example.com:443'), 'relay.example.com');
  assert.equal(hostWithoutPort('relay.example.com'), 'relay.example.com');
  assert.equal(hostWithoutPort('10.0.0.1:8443'), '10.0.0.1');
  assert.equal(hostWithoutPort('[::1]:443'), '[::1]');
  assert.equal(hostWithoutPort('[::1]'), '[::1]');
  assert.equal(hostWithoutPort(' relay.example.com '), 'relay.example.com');
});

test('hostMatches is case-insensitive and rejects anything else', () => {
  const d = 'relay.example.com';
  assert.equal(hostMatches('RELAY.Example.COM:443', d), true);
  assert.equal(hostMatches('relay.example.com', 'Relay.Example.com'), true);
  for (const h of [undefined, '', 'example.com', 'relay.example.com.evil', 'evil.relay.example.com', '[::1]:443', 'relay.example.co']) {
    assert.equal(hostMatches(h, d), false, String(h));
  }
});

test("certificateGate admits the certificate's DNS names (wildcards one label deep) and IP addresses, port stripped", async () => {
  const pki = await TestPki.create();
  try {
    const leaf = await pki.leaf({ dns: ['relay.pyry.test', '*.edge.pyry.test'], ips: ['127.0.0.1', '::1'] });
    const cert = new X509Certificate(await readFile(leaf.cert));
    const gate = certificateGate(() => cert);
    for (const h of ['relay.pyry.test', 'RELAY.pyry.test:8443', 'a.edge.pyry.test', '127.0.0.1:443', '[::1]:443', '[::1]']) {
      assert.equal(gate(h), true, h);
    }
    for (const h of [
      undefined,
      '',
      'pyry.test',
      'edge.pyry.test',
      'a.b.edge.pyry.test',
      'relay.pyry.test.evil',
      '127.0.0.2',
      '[::2]:443',
      ':443',
    ]) {
      assert.equal(gate(h), false, String(h));
    }
  } finally {
    await pki.cleanup();
  }
});
