// When a certificate is renewed: 30 days before expiry, or with a third of its
// lifetime left when it lives under 90 days.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renewalTime } from '../../src/tls/cert-manager.js';

const DAY = 24 * 60 * 60 * 1000;

test("a 90-day certificate (Let's Encrypt) renews on day 60", () => {
  assert.equal(renewalTime(0, 90 * DAY), 60 * DAY);
});

test('a long-lived certificate renews 30 days before expiry', () => {
  assert.equal(renewalTime(0, 5 * 365 * DAY), 5 * 365 * DAY - 30 * DAY);
});

test('a short-lived certificate renews with a third of its lifetime left', () => {
  assert.equal(renewalTime(1000, 10_000), 7000);
  assert.equal(renewalTime(0, 6 * DAY), 4 * DAY);
});

test('a certificate with notAfter before notBefore is due at notAfter', () => {
  assert.equal(renewalTime(10, 5), 5);
});
