// Black-box: endpoints, header checks and /healthz (protocol.md §1–§2,
// operations.md §5) over real HTTP against an in-process relay.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connectBinary, newServerId } from '../helpers/clients.js';
import { httpRequest, upgrade, type Reply } from '../helpers/http.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function http(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return httpRequest(port, path, { headers, method });
}

function upgradeStatus(port: number, path: string, headers: Record<string, string>): Promise<Reply> {
  return upgrade(port, path, { headers });
}

const BINARY = { 'X-Pyrycode-Server': 'sid-1', 'X-Pyrycode-Version': '0.23.0', 'User-Agent': 'pyry/0.23.0' };
const PHONE = { 'X-Pyrycode-Server': 'sid-1', 'X-Pyrycode-Token': 'deadbeef', 'User-Agent': 'pyrycode-mobile/1' };

describe('http surface', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('/healthz: exact keys in order, headers, real version, any method', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const r = await http(relay.port, '/healthz', {}, method);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.match(r.body, /^\{"status":"ok","version":"[^"]+","connected_binaries":\d+,"connected_phones":\d+,"uptime_seconds":\d+\}$/);
      assert.equal((JSON.parse(r.body) as { version: string }).version, pkg.version);
      assert.ok(r.body.length < 200);
    }
    const head = await http(relay.port, '/healthz', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.ok(!relay.logs.some((l) => l.includes('healthz')));
  });

  test('unknown paths are 404, including /v2/* and trailing slashes, for plain and upgrade requests', async () => {
    for (const path of ['/', '/v2/server', '/v1/server/', '/v1', '/healthz/', '/metrics']) {
      assert.equal((await http(relay.port, path)).status, 404, path);
      assert.equal((await upgradeStatus(relay.port, path, BINARY)).status, 404, path);
    }
  });

  const missing: Array<[string, Record<string, string>, string]> = [
    ['/v1/server', { ...BINARY, 'X-Pyrycode-Server': '' }, 'missing header: x-pyrycode-server'],
    ['/v1/server', { 'X-Pyrycode-Version': '1', 'User-Agent': 'pyry/1' }, 'missing header: x-pyrycode-server'],
    ['/v1/server', { ...BINARY, 'X-Pyrycode-Version': '' }, 'missing header: x-pyrycode-version'],
    ['/v1/server', { ...BINARY, 'User-Agent': '' }, 'missing header: user-agent'],
    ['/v1/server', { ...BINARY, 'X-Pyrycode-Version': '   ' }, 'missing header: x-pyrycode-version'],
    ['/v1/client', { ...PHONE, 'X-Pyrycode-Token': '' }, 'missing header: x-pyrycode-token'],
    ['/v1/client', { ...PHONE, 'X-Pyrycode-Server': '' }, 'missing header: x-pyrycode-server'],
    ['/v1/client', { ...PHONE, 'User-Agent': '' }, 'missing header: user-agent'],
    ['/v1/client', { ...PHONE, 'X-Pyrycode-Server': 'a'.repeat(257) }, 'invalid header: x-pyrycode-server'],
    ['/v1/client', { ...PHONE, 'X-Pyrycode-Server': 'has space' }, 'invalid header: x-pyrycode-server'],
    ['/v1/server', { ...BINARY, 'X-Pyrycode-Server': 'tab\there' }, 'invalid header: x-pyrycode-server'],
    ['/v1/server', { ...BINARY, 'X-Pyrycode-Server': 'caf\u00e9' }, 'invalid header: x-pyrycode-server'],
  ];
  for (const [path, headers, body] of missing) {
    test(`400 before any upgrade: ${path} → ${body}`, async () => {
      const sent = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
      if (headers['User-Agent'] === '') sent['User-Agent'] = '';
      const r = await upgradeStatus(relay.port, path, sent);
      assert.equal(r.status, 400);
      assert.equal(r.body, body);
      for (const v of Object.values(headers)) if (v.length > 3) assert.ok(!r.body.includes(v));
      // A plain GET without the headers is 400 too (the header check comes first).
      const plain = await http(relay.port, path, sent);
      assert.equal(plain.status, 400);
      assert.equal(plain.body, body);
    });
  }

  test('a server-id of exactly 256 printable bytes is accepted; mixed-case header names work', async () => {
    const id = '~'.repeat(256);
    const binary = await connectBinary(relay.url, id, {});
    // Claimed, and no close frame ahead of a pong.
    await relay.waitEvent('server_claimed', { server_id: id });
    const pong = new Promise((r) => binary.ws.once('pong', r));
    binary.ws.ping();
    await pong;
    assert.ok(!binary.isClosed);
    binary.close();
    const ws = new WebSocket(`${relay.url}/v1/server`, {
      headers: { 'x-PYRYCODE-server': newServerId(), 'X-PYRYCODE-VERSION': '1', 'user-AGENT': 'pyry/1' },
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.close();
  });

  test('the device name is optional; no subprotocol is demanded; any Origin is accepted', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const ws = new WebSocket(`${relay.url}/v1/client`, {
      headers: { ...PHONE, 'X-Pyrycode-Server': id, Origin: 'https://evil.example' },
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    assert.equal(ws.protocol, '');
    assert.equal(ws.extensions, '');
    ws.close();
    binary.close();
  });

  test('permessage-deflate is never negotiated', async () => {
    const id = newServerId();
    const ws = new WebSocket(`${relay.url}/v1/server`, { headers: { ...BINARY, 'X-Pyrycode-Server': id }, perMessageDeflate: true });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    assert.equal(ws.extensions, '');
    ws.close();
  });

  test('a valid plain GET (no upgrade) to an endpoint is 426 naming the upgrade, as the Go relay answers', async () => {
    for (const [path, headers] of [
      ['/v1/client', PHONE],
      ['/v1/server', BINARY],
    ] as const) {
      const r = await http(relay.port, path, headers);
      assert.equal(r.status, 426, path);
      assert.equal(r.headers['connection'], 'Upgrade');
      assert.equal(r.headers['upgrade'], 'websocket');
      assert.equal(r.body, 'connection header must contain upgrade');
    }
  });
});
