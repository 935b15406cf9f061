// Black-box: the WebSocket handshake on both endpoints answers byte for byte
// what the Go relay's library answers (protocol.md §1), over raw TCP requests
// against an in-process relay: no subprotocol or extension is ever selected,
// and HTTP/1.0, a missing upgrade, a non-GET, a draft version and a bad key
// get Go's 426 / 405 / 400 with Go's headers, after the relay's own checks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connectBinary, newServerId, type TestClient } from '../helpers/clients.js';
import { headerValues, rawExchange, type RawReply } from '../helpers/http.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

type Endpoint = 'server' | 'client';

/** The relay's own headers for an endpoint (server-id for the binary's claim or the phone's target). */
function pyrycode(endpoint: Endpoint, serverId: string): string[] {
  return endpoint === 'server'
    ? [`X-Pyrycode-Server: ${serverId}`, 'X-Pyrycode-Version: 0.23.0', 'User-Agent: pyry/0.23.0']
    : [`X-Pyrycode-Server: ${serverId}`, `X-Pyrycode-Token: ${'a'.repeat(64)}`, 'User-Agent: pyrycode-mobile/1.4.0'];
}

interface Shape {
  requestLine?: string;
  /** Replaces the default handshake lines (Connection, Upgrade, version, key). */
  handshake?: string[];
  extra?: string[];
  pyrycode?: boolean;
}

const HANDSHAKE = ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`];

function rawRequest(endpoint: Endpoint, serverId: string, shape: Shape = {}): string {
  const lines = [
    shape.requestLine ?? `GET /v1/${endpoint} HTTP/1.1`,
    'Host: 127.0.0.1',
    ...(shape.handshake ?? HANDSHAKE),
    ...(shape.pyrycode === false ? [] : pyrycode(endpoint, serverId)),
    ...(shape.extra ?? []),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function assertSwitched(r: RawReply, what: string): void {
  assert.equal(r.status, 101, what);
  // Exactly the RFC 6455 response headers: no subprotocol, no extension.
  assert.deepEqual(
    r.headers.map(([k]) => k).sort(),
    ['connection', 'sec-websocket-accept', 'upgrade'],
    `${what}: ${JSON.stringify(r.headers)}`,
  );
  assert.deepEqual(headerValues(r, 'sec-websocket-accept'), [ACCEPT]);
  assert.deepEqual(headerValues(r, 'upgrade'), ['websocket']);
}

function assertRefused(r: RawReply, status: number, headers: Record<string, string>, what: string): void {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r)}`);
  for (const [k, v] of Object.entries(headers)) assert.deepEqual(headerValues(r, k.toLowerCase()), [v], `${what}: ${k}`);
  if (!('Connection' in headers)) assert.ok(!headerValues(r, 'connection').some((v) => /upgrade/i.test(v)), what);
  if (!('Upgrade' in headers)) assert.deepEqual(headerValues(r, 'upgrade'), [], what);
  if (!('Sec-WebSocket-Version' in headers)) assert.deepEqual(headerValues(r, 'sec-websocket-version'), [], what);
  assert.deepEqual(headerValues(r, 'sec-websocket-accept'), [], what);
  assert.ok(r.body.length > 0 && r.body.length < 80, `${what}: short fixed body`);
}

const UPGRADE_REQUIRED = { Connection: 'Upgrade', Upgrade: 'websocket' };
const V13 = { 'Sec-WebSocket-Version': '13' };

const REFUSED: Array<[string, Shape, number, Record<string, string>]> = [
  ['HTTP/1.0', { requestLine: 'GET /v1/ENDPOINT HTTP/1.0' }, 426, {}],
  ['no upgrade at all (a plain GET)', { handshake: ['Connection: keep-alive'] }, 426, UPGRADE_REQUIRED],
  [
    'Upgrade without Connection: upgrade',
    {
      handshake: ['Connection: keep-alive', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`],
    },
    426,
    UPGRADE_REQUIRED,
  ],
  [
    'Upgrade: h2c',
    {
      handshake: ['Connection: Upgrade', 'Upgrade: h2c', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`],
    },
    426,
    UPGRADE_REQUIRED,
  ],
  ['POST', { requestLine: 'POST /v1/ENDPOINT HTTP/1.1', extra: ['Content-Length: 0'] }, 405, {}],
  [
    'the draft version 8',
    {
      handshake: ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 8', `Sec-WebSocket-Key: ${KEY}`],
    },
    400,
    V13,
  ],
  [
    'no version',
    {
      handshake: ['Connection: Upgrade', 'Upgrade: websocket', `Sec-WebSocket-Key: ${KEY}`],
    },
    400,
    V13,
  ],
  [
    'no key',
    {
      handshake: ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13'],
    },
    400,
    {},
  ],
  [
    'a malformed key',
    {
      handshake: ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: not-base64'],
    },
    400,
    {},
  ],
  ['two keys', { handshake: [...HANDSHAKE, `Sec-WebSocket-Key: ${KEY}`] }, 400, {}],
];

describe('websocket handshake on the wire', () => {
  let relay: TestRelay;
  let binary: TestClient;
  let claimed: string;
  before(async () => {
    relay = await startRelay();
    claimed = newServerId();
    // Phones need a live binary to reach a 101.
    binary = await connectBinary(relay.url, claimed);
  });
  after(async () => {
    binary.close();
    await relay.stop();
  });

  for (const endpoint of ['server', 'client'] as const) {
    const sid = (): string => (endpoint === 'server' ? newServerId() : claimed);

    test(`/v1/${endpoint}: offered subprotocols and permessage-deflate are never selected`, async () => {
      const offers = [
        ['Sec-WebSocket-Protocol: pyrycode.v2, chat', 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'],
        ['Sec-WebSocket-Protocol: pyrycode.v2', 'Sec-WebSocket-Protocol: chat, superchat', 'Sec-WebSocket-Extensions: permessage-deflate'],
        // Go never parses the offer, so even a malformed one is no reason to refuse.
        ['Sec-WebSocket-Protocol: not a token list,,', 'Sec-WebSocket-Extensions: x-webkit-deflate-frame'],
      ];
      for (const extra of offers) assertSwitched(await rawExchange(relay.port, rawRequest(endpoint, sid(), { extra })), extra.join(' | '));
    });

    test(`/v1/${endpoint}: token lists and mixed case are accepted, as Go accepts them`, async () => {
      const handshake = [
        'connection: keep-alive, Upgrade',
        'UPGRADE: WebSocket',
        'sec-websocket-version: 13',
        `sec-websocket-key:  ${KEY} `,
      ];
      assertSwitched(await rawExchange(relay.port, rawRequest(endpoint, sid(), { handshake })), 'mixed');
      // `ws` alone would refuse both of these with a 400.
      const listed = [
        'Connection: Upgrade',
        'Upgrade: websocket, h2c',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Version: 8',
        `Sec-WebSocket-Key: ${KEY}`,
      ];
      assertSwitched(await rawExchange(relay.port, rawRequest(endpoint, sid(), { handshake: listed })), 'listed');
    });

    for (const [name, shape, status, headers] of REFUSED) {
      test(`/v1/${endpoint}: ${name} → ${status}`, async () => {
        const s = {
          ...shape,
          requestLine: shape.requestLine?.replace('ENDPOINT', endpoint),
        };
        assertRefused(await rawExchange(relay.port, rawRequest(endpoint, sid(), s)), status, headers, name);
      });
    }

    test(`/v1/${endpoint}: the relay's own header check answers first (400), before any handshake check`, async () => {
      for (const [, shape] of REFUSED) {
        const s = {
          ...shape,
          requestLine: shape.requestLine?.replace('ENDPOINT', endpoint),
          pyrycode: false,
        };
        const r = await rawExchange(relay.port, rawRequest(endpoint, sid(), s));
        assert.equal(r.status, 400);
        assert.equal(r.body, 'missing header: x-pyrycode-server');
      }
    });
  }

  test('a refused handshake never registers a binary: the server-id stays free', async () => {
    const id = newServerId();
    for (const [, shape] of REFUSED) {
      await rawExchange(
        relay.port,
        rawRequest('server', id, {
          ...shape,
          requestLine: shape.requestLine?.replace('ENDPOINT', 'server'),
        }),
      );
    }
    // A claim that had gone through would make this a 409.
    const b = await connectBinary(relay.url, id);
    b.close();
  });
});
