// The Host check behind 421 (operations.md §8): port stripped, case-insensitive.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostMatches, hostWithoutPort } from '../../src/http/host.js';

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
