// The canary for src/lib/internals.ts: each private field and unwritten
// behaviour of ws and Node the relay relies on, exercised against a real ws
// server, real clients (raw TCP where a test needs half a frame) and real
// sockets. A failure here after an upgrade means an internal moved: fix
// internals.ts (and its callers) before raising the pin (decision 0011).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect as netConnect, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect, Server as TlsServer, type TLSSocket } from 'node:tls';
import { Command, IPv4Address, IPv4ProxyAddress, TransportProtocol, V2ProxyProtocol } from 'proxy-protocol-js';
import WebSocket, { WebSocketServer } from 'ws';
import { proxiedClientIp } from '../../src/http/client-ip.js';
import { proxyProtocolFront } from '../../src/http/proxy-protocol.js';
import {
  closeCodeForWsError,
  filterRedisReads,
  IOREDIS_TESTED_MINOR,
  parentSocket,
  receivingMessage,
  WS_TESTED_MINOR,
  wsSocket,
} from '../../src/lib/internals.js';
import { createRedis } from '../../src/cluster/redis-client.js';
import { RedisServer } from '../helpers/redis.js';
import { silentLogger } from '../helpers/logger.js';
import { sendText } from '../../src/relay/wire.js';
import { ROOT } from '../helpers/deploy.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(2);
  }
}

/** A masked client frame header (mask key 0, so the payload goes as is). */
function clientHeader(fin: boolean, opcode: number, len: number): Buffer {
  assert.ok(len < 126);
  return Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len, 0, 0, 0, 0]);
}

interface Server {
  port: number;
  /** The next accepted server-side connection and its TCP socket. */
  next(): Promise<{ ws: WebSocket; socket: Socket }>;
  close(): Promise<void>;
}

async function startServer(opts: { maxPayload?: number; closeTimeout?: number } = {}): Promise<Server> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, clientTracking: true, ...opts });
  await once(wss, 'listening');
  const queue: Array<{ ws: WebSocket; socket: Socket }> = [];
  const waiters: Array<(c: { ws: WebSocket; socket: Socket }) => void> = [];
  wss.on('connection', (ws, req) => {
    const c = { ws, socket: req.socket };
    const w = waiters.shift();
    if (w !== undefined) w(c);
    else queue.push(c);
  });
  return {
    port: (wss.address() as AddressInfo).port,
    next: () => {
      const q = queue.shift();
      return q !== undefined ? Promise.resolve(q) : new Promise((r) => waiters.push(r));
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/** A raw TCP WebSocket client: the handshake by hand, then any bytes we like. */
async function rawClient(port: number): Promise<Socket> {
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) head += ((await once(s, 'data')) as [Buffer])[0].toString('latin1');
  assert.match(head, /^HTTP\/1\.1 101 /);
  return s;
}

describe('the pinned versions', () => {
  test(`ws is ${WS_TESTED_MINOR}.x, and package.json pins that minor`, () => {
    const installed = (JSON.parse(readFileSync(join(ROOT, 'node_modules/ws/package.json'), 'utf8')) as { version: string }).version;
    assert.ok(installed.startsWith(`${WS_TESTED_MINOR}.`), `installed ws ${installed}; the canary passed on ${WS_TESTED_MINOR}`);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(pkg.dependencies.ws, `~${WS_TESTED_MINOR}.0`);
  });

  test(`ioredis is ${IOREDIS_TESTED_MINOR}.x, and package.json pins that minor`, () => {
    const installed = (JSON.parse(readFileSync(join(ROOT, 'node_modules/ioredis/package.json'), 'utf8')) as { version: string }).version;
    assert.ok(
      installed.startsWith(`${IOREDIS_TESTED_MINOR}.`),
      `installed ioredis ${installed}; the canary passed on ${IOREDIS_TESTED_MINOR}`,
    );
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(pkg.dependencies.ioredis, `~${IOREDIS_TESTED_MINOR}.1`);
  });
});

describe('ws Receiver: receivingMessage (_state, _fragmented, _bufferedBytes)', () => {
  let server: Server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  test('true exactly while part of a message is held: half a header, a payload short, a fragmented message', async () => {
    const raw = await rawClient(server.port);
    const { ws } = await server.next();
    const messages: string[] = [];
    ws.on('message', (d: Buffer) => messages.push(d.toString()));
    assert.equal(receivingMessage(ws), false, 'idle');

    // One byte of a frame header: buffered, nothing parsed (_bufferedBytes).
    const whole = Buffer.concat([clientHeader(true, 1, 5), Buffer.from('hello')]);
    raw.write(whole.subarray(0, 1));
    await until(() => receivingMessage(ws), 'half a header counts');
    raw.write(whole.subarray(1, 8)); // header complete, 2 of 5 payload bytes
    await sleep(20);
    assert.equal(receivingMessage(ws), true, 'payload short (_state GET_DATA or bytes buffered)');
    raw.write(whole.subarray(8));
    await until(() => messages.length === 1, 'message delivered');
    await until(() => !receivingMessage(ws), 'idle after a whole message');

    // A first fragment, complete in itself: only _fragmented says a message is open.
    raw.write(Buffer.concat([clientHeader(false, 1, 3), Buffer.from('abc')]));
    await sleep(20);
    assert.equal(receivingMessage(ws), true, 'open fragmented message');
    raw.write(Buffer.concat([clientHeader(true, 0, 3), Buffer.from('def')]));
    await until(() => messages.length === 2, 'fragmented message delivered');
    assert.equal(messages[1], 'abcdef');
    await until(() => !receivingMessage(ws), 'idle after the final fragment');

    // A control frame between fragments does not end the message.
    raw.write(Buffer.concat([clientHeader(false, 1, 1), Buffer.from('x')]));
    raw.write(clientHeader(true, 9, 0)); // ping
    await once(ws, 'ping');
    await sleep(20);
    assert.equal(receivingMessage(ws), true, 'still fragmented after a ping');
    raw.destroy();
  });
});

describe('ws errors: closeCodeForWsError (the status-code symbol)', () => {
  for (const [what, code, frame] of [
    ['a message over maxPayload', 1009, Buffer.concat([clientHeader(true, 1, 20), Buffer.alloc(20, 0x61)])],
    ['invalid UTF-8 in a text frame', 1007, Buffer.concat([clientHeader(true, 1, 2), Buffer.from([0xc3, 0x28])])],
    ['an unmasked client frame', 1002, Buffer.from([0x81, 0x01, 0x61])],
    ['a reserved opcode', 1002, Buffer.concat([clientHeader(true, 3, 0)])],
  ] as const) {
    test(`${what}: ws tags the error with ${code}, the code it sent`, async () => {
      const server = await startServer({ maxPayload: 10 });
      try {
        const raw = await rawClient(server.port);
        const { ws } = await server.next();
        const err = once(ws, 'error') as Promise<[Error]>;
        const reply: Buffer[] = [];
        raw.on('data', (d: Buffer) => reply.push(d));
        raw.write(frame);
        const [e] = await err;
        const tagged = Object.getOwnPropertySymbols(e).filter((s) => s.description === 'status-code');
        assert.equal(tagged.length, 1, 'one status-code symbol on the error');
        assert.equal(closeCodeForWsError(e), code);
        await until(() => Buffer.concat(reply).length >= 4, 'close frame sent');
        const sent = Buffer.concat(reply);
        assert.equal(sent[0], 0x88, 'a close frame');
        assert.equal(sent.readUInt16BE(2), code, 'the code on the wire is the tagged one');
        raw.destroy();
      } finally {
        await server.close();
      }
    });
  }

  test('an error without the tag falls back to 1002', () => {
    assert.equal(closeCodeForWsError(new Error('x')), 1002);
  });
});

describe('ws Sender: writes through to the socket (what wire.ts relies on)', () => {
  let server: Server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  test('wsSocket is the upgraded TCP socket; ping, send and close frames reach it synchronously and leave it uncorked', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false });
    await once(client, 'open');
    const { ws, socket } = await server.next();
    assert.ok(socket instanceof Socket);
    assert.equal(wsSocket(ws), socket);

    socket.cork();
    let before = socket.writableLength;
    ws.ping(Buffer.from('p'));
    assert.ok(socket.writableLength > before, 'ping written to the socket before ws.ping returns');
    before = socket.writableLength;
    ws.send('text');
    assert.ok(socket.writableLength > before, 'text frame written before ws.send returns');
    assert.equal(socket.writableCorked, 1, 'ws corked only around its frames');
    socket.uncork();
    ws.send(Buffer.alloc(70_000, 0x61)); // header and payload as two writes
    assert.equal(socket.writableCorked, 0, 'ws uncorked after its own cork');
    client.terminate();
  });

  test('frames written by wire.ts and by ws interleave in call order', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false });
    await once(client, 'open');
    const { ws, socket } = await server.next();
    const seen: string[] = [];
    client.on('message', (d: Buffer) => seen.push(`m:${d.toString()}`));
    client.on('ping', (d: Buffer) => seen.push(`p:${d.toString()}`));
    const closed = once(client, 'close');
    client.on('close', (code: number) => seen.push(`c:${code}`));
    sendText(ws, socket, Buffer.from('a'));
    ws.ping('1');
    sendText(ws, socket, Buffer.from('b'));
    ws.send('c');
    sendText(ws, socket, Buffer.alloc(9000, 0x64)); // over wire.ts's copy limit: two writes
    ws.send('e');
    ws.close(4000);
    assert.equal(sendText(ws, socket, Buffer.from('late')), false, 'nothing after close');
    await closed;
    assert.deepEqual(seen, ['m:a', 'p:1', 'm:b', 'm:c', `m:${'d'.repeat(9000)}`, 'm:e', 'c:4000']);
  });
});

describe('ws closeTimeout option', () => {
  test('bounds the close handshake when the peer never answers', async () => {
    const server = await startServer({ closeTimeout: 200 });
    try {
      const raw = await rawClient(server.port);
      raw.pause(); // never reads, never answers the close frame
      const { ws, socket } = await server.next();
      const started = Date.now();
      ws.close(1000);
      await once(socket, 'close');
      const took = Date.now() - started;
      assert.ok(took >= 150, `closed after ${took} ms, before the timeout`);
      assert.ok(took < 10_000, `closed after ${took} ms; ws's default is 30 s, so the option was ignored`);
      raw.destroy();
    } finally {
      await server.close();
    }
  });
});

describe('Node TLSSocket: parentSocket (_parent)', () => {
  test('a TLS connection handed over by the PROXY v2 front keeps its raw socket and the proxied IP', async () => {
    const tlsServer = new TlsServer({
      cert: readFileSync(join(ROOT, 'test/fixtures/pebble/cert.pem')),
      key: readFileSync(join(ROOT, 'test/fixtures/pebble/key.pem')),
    });
    const accepted = once(tlsServer, 'secureConnection') as Promise<[TLSSocket]>;
    const front = proxyProtocolFront(tlsServer, { timeoutMs: 5000, logger: silentLogger });
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    try {
      const raw = netConnect((front.address() as AddressInfo).port, '127.0.0.1');
      const addr = new IPv4ProxyAddress(IPv4Address.createFrom([203, 0, 113, 7]), 40000, IPv4Address.createFrom([10, 0, 0, 1]), 443);
      raw.write(Buffer.from(new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, addr).build()));
      const client = tlsConnect({ socket: raw, servername: 'localhost', rejectUnauthorized: false });
      client.on('error', () => {});
      const [tls] = await accepted;
      const parent = parentSocket(tls);
      assert.ok(parent instanceof Socket, 'the raw socket is the parent');
      assert.notEqual(parent, tls);
      assert.equal(proxiedClientIp(tls), '203.0.113.7');
      assert.equal(parentSocket(parent), undefined, 'a plain socket has no parent');
      assert.equal(parentSocket(undefined), undefined);
      client.destroy();
      tls.destroy();
    } finally {
      front.close();
      tlsServer.close();
    }
  });
});

describe('ioredis: filterRedisReads (the parser is the socket’s first data listener)', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis.stop();
  });

  test('every read goes through the filter, replies still parse, once per connection, again after a reconnect', async () => {
    const client = createRedis({ host: '127.0.0.1', port: redis.port, db: 0, tls: false }, 'registry', () => undefined);
    try {
      await client.connect();
      let reads = 0;
      const filter = () => (chunk: Buffer, parse: (data: Buffer) => void) => {
        reads++;
        parse(chunk);
      };
      assert.equal(filterRedisReads(client, filter), true);
      assert.equal(filterRedisReads(client, filter), false, 'already filtered');
      assert.equal(await client.ping(), 'PONG');
      assert.ok(reads >= 1, 'the reply came through the filter');
      // A filter that holds a read back: the parser sees nothing until it lets go.
      const pending = client.set('k', 'v');
      await sleep(50);
      assert.equal(await pending, 'OK');
      // A reconnect makes a new socket: it is filtered anew.
      client.disconnect(true);
      await once(client, 'ready');
      const before = reads;
      assert.equal(filterRedisReads(client, filter), true);
      assert.equal(await client.get('k'), 'v');
      assert.ok(reads > before);
    } finally {
      client.disconnect();
    }
  });

  test('what the filter passes on is what the parser gets: a held-back read is parsed once released', async () => {
    const client = createRedis({ host: '127.0.0.1', port: redis.port, db: 0, tls: false }, 'registry', () => undefined);
    try {
      await client.connect();
      let held: Buffer | undefined;
      let hold = true;
      filterRedisReads(client, () => (chunk, parse) => {
        if (hold) {
          held = held === undefined ? chunk : Buffer.concat([held, chunk]);
          return;
        }
        // Two pieces for one read: the parser takes them in order.
        if (held !== undefined) parse(held);
        held = undefined;
        parse(chunk);
      });
      let answered = false;
      const reply = client.echo('held').then((r) => {
        answered = true;
        return r;
      });
      await until(() => held !== undefined, 'the reply was read');
      await sleep(20);
      assert.equal(answered, false, 'the parser has not seen it');
      hold = false;
      const second = client.echo('second');
      assert.deepEqual(await Promise.all([reply, second]), ['held', 'second']);
    } finally {
      client.disconnect();
    }
  });
});
