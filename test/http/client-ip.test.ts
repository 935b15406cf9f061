// Client IP parsing helpers (operations.md §4): canonical forms and the
// left-most X-Forwarded-For entry. The end-to-end behaviour is covered in
// rate-limit.test and proxy-protocol.test.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalIp, leftmostForwardedFor } from '../../src/http/client-ip.js';

describe('canonicalIp', () => {
  test('canonical forms', () => {
    const cases: Array<[string, string | undefined]> = [
      ['127.0.0.1', '127.0.0.1'],
      [' 10.0.0.1 ', '10.0.0.1'],
      ['::1', '::1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['::ffff:127.0.0.1', '127.0.0.1'],
      ['::FFFF:7f00:2', '127.0.0.2'],
      ['fe80::1%eth0', 'fe80::1'],
      ['', undefined],
      ['localhost', undefined],
      ['1.2.3', undefined],
      ['256.0.0.1', undefined],
      ['01.2.3.4', undefined],
      ['[::1]', undefined],
      ['1.2.3.4:80', undefined],
      ['::g', undefined],
    ];
    for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
  });
});

describe('leftmostForwardedFor', () => {
  test('first entry, trimmed; blank is absent', () => {
    assert.equal(leftmostForwardedFor(undefined), undefined);
    assert.equal(leftmostForwardedFor(''), undefined);
    assert.equal(leftmostForwardedFor('  '), undefined);
    assert.equal(leftmostForwardedFor(' , 1.2.3.4'), '', 'an empty first entry is an empty IP, not an absent header');
    assert.equal(leftmostForwardedFor(' 1.2.3.4 ,5.6.7.8'), '1.2.3.4');
    assert.equal(leftmostForwardedFor(['9.9.9.9', '1.1.1.1']), '9.9.9.9');
  });
});
