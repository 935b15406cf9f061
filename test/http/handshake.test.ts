// Unit: the Go library's handshake checks (protocol.md §1), in Go's order,
// with its statuses and headers, and the canonical form handed to `ws`.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import { canonicalForWs, checkHandshake, hasToken, type HandshakeRequest } from '../../src/http/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A valid handshake; `lines` replaces header lines by lowercased name (undefined drops one). */
function request(lines: Record<string, string[] | undefined> = {}, method = 'GET', version = '1.1'): HandshakeRequest {
  const distinct: Record<string, string[] | undefined> = {
    connection: ['Upgrade'],
    upgrade: ['websocket'],
    'sec-websocket-version': ['13'],
    'sec-websocket-key': [KEY],
    ...lines,
  };
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(distinct)) if (v !== undefined) headers[k] = v.join(', ');
  const [major, minor] = version.split('.').map(Number);
  return {
    httpVersionMajor: major ?? 1,
    httpVersionMinor: minor ?? 1,
    method,
    headers,
    headersDistinct: distinct,
  };
}

const UPGRADE_REQUIRED = { Connection: 'Upgrade', Upgrade: 'websocket' };

describe('checkHandshake', () => {
  test('a valid RFC 6455 handshake passes with its key', () => {
    assert.deepEqual(checkHandshake(request()), { ok: true, key: KEY });
  });

  test('accepts what Go accepts: token lists, any case, spaces around the key, HTTP/2-style versions', () => {
    const r = checkHandshake(
      request({
        connection: ['keep-alive', ' UPGRADE '],
        upgrade: ['h2c, WebSocket'],
        'sec-websocket-key': [` ${KEY} `],
        'sec-websocket-version': ['13', '8'],
      }),
    );
    assert.deepEqual(r, { ok: true, key: KEY });
    assert.equal(checkHandshake(request({}, 'GET', '2.0')).ok, true);
  });

  const refused: Array<[string, HandshakeRequest, number, Record<string, string>]> = [
    ['HTTP/1.0', request({}, 'GET', '1.0'), 426, {}],
    ['HTTP/0.9', request({}, 'GET', '0.9'), 426, {}],
    ['no Connection', request({ connection: undefined }), 426, UPGRADE_REQUIRED],
    ['Connection without upgrade', request({ connection: ['keep-alive', 'close'] }), 426, UPGRADE_REQUIRED],
    ['Connection: upgrades (not the token)', request({ connection: ['upgrades'] }), 426, UPGRADE_REQUIRED],
    ['no Upgrade', request({ upgrade: undefined }), 426, UPGRADE_REQUIRED],
    ['Upgrade: h2c', request({ upgrade: ['h2c'] }), 426, UPGRADE_REQUIRED],
    ['POST', request({}, 'POST'), 405, {}],
    ['HEAD', request({}, 'HEAD'), 405, {}],
    ['lowercase get', request({}, 'get'), 405, {}],
    ['version 8', request({ 'sec-websocket-version': ['8'] }), 400, { 'Sec-WebSocket-Version': '13' }],
    ['version 13 second', request({ 'sec-websocket-version': ['8', '13'] }), 400, { 'Sec-WebSocket-Version': '13' }],
    ['no version', request({ 'sec-websocket-version': undefined }), 400, { 'Sec-WebSocket-Version': '13' }],
    ['version 013', request({ 'sec-websocket-version': ['013'] }), 400, { 'Sec-WebSocket-Version': '13' }],
    ['no key', request({ 'sec-websocket-key': undefined }), 400, {}],
    ['two keys', request({ 'sec-websocket-key': [KEY, KEY] }), 400, {}],
    ['key of 15 bytes', request({ 'sec-websocket-key': ['dGhlIHNhbXBsZSBub25j'] }), 400, {}],
    ['key without padding', request({ 'sec-websocket-key': ['dGhlIHNhbXBsZSBub25jZQ'] }), 400, {}],
    ['key in URL-safe base64', request({ 'sec-websocket-key': ['dGhlIHNhbXBsZSBub25j_-=='] }), 400, {}],
    ['empty key', request({ 'sec-websocket-key': [''] }), 400, {}],
  ];
  for (const [name, req, status, headers] of refused) {
    test(`${name} → ${status}`, () => {
      const r = checkHandshake(req);
      assert.ok(!r.ok, name);
      assert.equal(r.status, status);
      assert.deepEqual(r.headers, headers);
      assert.match(r.body, /^[a-zA-Z0-9 ./-]{1,60}$/, 'a short fixed body');
    });
  }

  test("Go's order: HTTP version, then Connection/Upgrade, then method, then version, then key", () => {
    const all = {
      'sec-websocket-version': ['8'],
      'sec-websocket-key': undefined,
      connection: ['close'],
    };
    assert.equal((checkHandshake(request(all, 'POST', '1.0')) as { status: number }).status, 426);
    const r = checkHandshake(request(all, 'POST'));
    assert.ok(!r.ok && r.status === 426 && r.headers['Upgrade'] === 'websocket');
    assert.equal((checkHandshake(request({ ...all, connection: ['Upgrade'] }, 'POST')) as { status: number }).status, 405);
    const v = checkHandshake(request({ ...all, connection: ['Upgrade'] }));
    assert.ok(!v.ok && v.status === 400 && v.headers['Sec-WebSocket-Version'] === '13');
  });

  test('bodies never echo a value the client sent', () => {
    const secret = 'zzsecretzz';
    for (const r of [
      request({ connection: [secret] }),
      request({ upgrade: [secret] }),
      request({ 'sec-websocket-version': [secret] }),
      request({ 'sec-websocket-key': [secret] }),
    ]) {
      const c = checkHandshake(r);
      assert.ok(!c.ok && !c.body.includes(secret) && !JSON.stringify(c.headers).includes(secret));
    }
  });
});

describe('hasToken', () => {
  test('matches whole comma-separated tokens across lines, ignoring case and spaces', () => {
    assert.equal(hasToken(['keep-alive,Upgrade'], 'upgrade'), true);
    assert.equal(hasToken(['a', ' b , UPGRADE'], 'upgrade'), true);
    assert.equal(hasToken(['upgrade-insecure'], 'upgrade'), false);
    assert.equal(hasToken([], 'upgrade'), false);
    assert.equal(hasToken(undefined, 'upgrade'), false);
  });
});

describe('canonicalForWs', () => {
  test('leaves the single values ws accepts and drops the subprotocol offer', () => {
    const headers: IncomingHttpHeaders = {
      upgrade: 'h2c, WebSocket',
      'sec-websocket-version': '13, 8',
      'sec-websocket-key': ` ${KEY}`,
      'sec-websocket-protocol': 'pyrycode.v2, chat',
      'x-pyrycode-server': 'sid',
    };
    canonicalForWs(headers, KEY);
    assert.deepEqual(headers, {
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': KEY,
      'x-pyrycode-server': 'sid',
    });
  });
});
