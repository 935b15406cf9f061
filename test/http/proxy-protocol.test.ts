// PROXY protocol v2 front (operations.md §4), black-box on a real relay whose
// plain HTTP listener is fronted by it: the header's source address is the
// client IP, and every unusable header closes the connection with zero bytes
// written and without the HTTP server ever seeing the socket.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  Command,
  IPv4Address,
  IPv4ProxyAddress,
  IPv6Address,
  IPv6ProxyAddress,
  TransportProtocol,
  UnixAddress,
  UnixProxyAddress,
  V1ProxyProtocol,
  INETProtocol,
  Peer,
  V2ProxyProtocol,
} from 'proxy-protocol-js';
import { parseProxyV2 } from '../../src/http/proxy-protocol.js';
import { connectBinary, newServerId, sleep } from '../helpers/clients.js';
import { UPGRADE_HEADERS } from '../helpers/http.js';
import { metricValue } from '../helpers/metrics.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { until } from '../helpers/wait.js';

function v4(src: [number, number, number, number], command = Command.PROXY, transport = TransportProtocol.STREAM): Buffer {
  const addr = new IPv4ProxyAddress(IPv4Address.createFrom(src), 40000, IPv4Address.createFrom([10, 0, 0, 1]), 443);
  return Buffer.from(new V2ProxyProtocol(command, transport, addr).build());
}

function v6(src: number[]): Buffer {
  const dst = new Array<number>(16).fill(0);
  dst[15] = 1;
  const addr = new IPv6ProxyAddress(IPv6Address.createFrom(src), 40000, IPv6Address.createFrom(dst), 443);
  return Buffer.from(new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, addr).build());
}

function request(path: string, headers: Record<string, string> = {}): Buffer {
  const lines = [`GET ${path} HTTP/1.1`, 'Host: relay', 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n');
}

interface Outcome {
  bytes: Buffer;
  /** The status line's code, or 0 when nothing came back. */
  status: number;
}

/** Writes `chunks` (with pauses between them) and collects everything until the peer closes. */
function exchange(port: number, chunks: Buffer[], gapMs = 0): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {}); // a reset after refusal is fine: we only look at bytes
    s.on('close', () => {
      const bytes = Buffer.concat(got);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(bytes.toString('latin1'));
      resolve({ bytes, status: m === null ? 0 : Number(m[1]) });
    });
    // The listener itself is synchronous; the paced writes run as a promise
    // whose failure fails the exchange.
    s.once('connect', () => {
      const write = async (): Promise<void> => {
        for (const [i, c] of chunks.entries()) {
          if (i > 0 && gapMs > 0) await sleep(gapMs);
          if (!s.destroyed) s.write(c);
        }
      };
      write().catch(reject);
    });
  });
}

const upgradeReq = (endpoint: string): Buffer => request(`/v1/${endpoint}`, UPGRADE_HEADERS);

describe('PROXY v2 front', () => {
  let relay: TestRelay;
  let handedOff = 0;
  before(async () => {
    relay = await startRelay({ rateLimitBurst: 1, rateLimitRefillMs: 60_000 }, { proxyProtocol: { timeoutMs: 300 } });
    relay.app.server.on('connection', () => handedOff++);
  });
  after(() => relay.stop());

  test('two sources through one TCP peer get separate buckets', async () => {
    const a = v4([198, 51, 100, 1]);
    assert.equal((await exchange(relay.port, [Buffer.concat([a, upgradeReq('server')])])).status, 400);
    assert.equal((await exchange(relay.port, [Buffer.concat([a, upgradeReq('client')])])).status, 429);
    const b = v4([198, 51, 100, 2]);
    assert.equal((await exchange(relay.port, [Buffer.concat([b, upgradeReq('server')])])).status, 400);
    const limited = relay.events().filter((e) => e.event === 'rate_limited');
    assert.deepEqual(
      limited.map((e) => e.remote),
      ['198.51.100.1'],
    );
  });

  test('IPv6 sources, header and request in separate writes, and a real WebSocket through the front', async () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 0x09];
    assert.equal((await exchange(relay.port, [v6(src), upgradeReq('server')], 20)).status, 400);
    assert.equal((await exchange(relay.port, [v6(src), upgradeReq('server')])).status, 429);
    assert.ok(relay.events().some((e) => e.event === 'rate_limited' && e.remote === '2001:db8::9'));

    const sid = newServerId();
    const binary = await connectBinary(
      relay.url,
      sid,
      {},
      {
        createConnection: () => {
          const s = connect(relay.port, '127.0.0.1');
          s.write(v4([192, 0, 2, 77]));
          return s;
        },
      },
    );
    const claimed = relay.events().find((e) => e.event === 'server_claimed' && e.server_id === sid);
    assert.equal(claimed?.remote, '192.0.2.77');
    binary.close();
  });

  test('a stalled header does not block another connection', async () => {
    const stalled = connect(relay.port, '127.0.0.1');
    stalled.on('error', () => {});
    await new Promise((r) => stalled.once('connect', r));
    stalled.write(v4([203, 0, 113, 1]).subarray(0, 10));
    const t0 = Date.now();
    const ok = await exchange(relay.port, [Buffer.concat([v4([203, 0, 113, 2]), request('/healthz')])]);
    assert.equal(ok.status, 200);
    assert.ok(Date.now() - t0 < 250, 'answered before the stalled header timed out');
    await new Promise((r) => stalled.once('close', r));
  });

  test('missing, v1, LOCAL, non-TCP, malformed and late headers: closed, zero bytes, no handler', async () => {
    const before = handedOff;
    const m = relay.app.metrics;
    const reason = (r: string): Promise<number> => metricValue(m, 'pyrycode_relay_proxy_header_rejects_total', { reason: r });
    const reasons = ['missing', 'v1', 'local', 'not_tcp', 'malformed', 'timeout'];
    const start = await Promise.all(reasons.map(reason));
    const v1 = Buffer.from(new V1ProxyProtocol(INETProtocol.TCP4, new Peer('198.51.100.5', 1), new Peer('10.0.0.1', 443)).build());
    const unix = Buffer.from(
      new V2ProxyProtocol(
        Command.PROXY,
        TransportProtocol.STREAM,
        new UnixProxyAddress(
          UnixAddress.createFrom(new Array<number>(108).fill(0x61)),
          UnixAddress.createFrom(new Array<number>(108).fill(0x62)),
        ),
      ).build(),
    );
    const badVersion = v4([198, 51, 100, 6]);
    badVersion[12] = 0x11; // version 1 in the v2 layout
    const shortLength = v4([198, 51, 100, 7]).subarray(0, 16);
    shortLength.writeUInt16BE(4, 14); // shorter than an IPv4 address block
    const badFamily = v4([198, 51, 100, 8]);
    badFamily[13] = 0x51;
    const cases: Array<[string, Buffer[], number]> = [
      ['missing', [request('/healthz')], 0],
      ['missing (TLS hello)', [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5])], 0],
      ['v1', [Buffer.concat([v1, request('/healthz')])], 0],
      ['local', [Buffer.concat([v4([198, 51, 100, 9], Command.LOCAL), request('/healthz')])], 0],
      ['udp', [Buffer.concat([v4([198, 51, 100, 10], Command.PROXY, TransportProtocol.DGRAM), request('/healthz')])], 0],
      ['unix', [Buffer.concat([unix, request('/healthz')])], 0],
      ['bad version', [Buffer.concat([badVersion, request('/healthz')])], 0],
      ['length too short', [Buffer.concat([shortLength, Buffer.alloc(4), request('/healthz')])], 0],
      ['bad family', [Buffer.concat([badFamily, request('/healthz')])], 0],
      ['late', [v4([198, 51, 100, 11]).subarray(0, 20), v4([198, 51, 100, 11]).subarray(20)], 400],
      ['nothing at all', [], 0],
    ];
    for (const [name, chunks, gap] of cases) {
      const out = await exchange(relay.port, chunks, gap);
      assert.equal(out.bytes.length, 0, `${name}: no byte written`);
    }
    assert.equal(handedOff, before, 'the HTTP server never saw any of them');
    const delta = (await Promise.all(reasons.map(reason))).map((v, i) => v - (start[i] as number));
    assert.deepEqual(Object.fromEntries(reasons.map((r, i) => [r, delta[i]])), {
      missing: 2,
      v1: 1,
      local: 1,
      not_tcp: 2,
      malformed: 3,
      timeout: 2,
    });
  });
});

describe('PROXY v2 front with --trust-x-forwarded-for', () => {
  test('the PROXY source wins: X-Forwarded-For from behind a TCP passthrough is the client talking', async () => {
    const relay = await startRelay(
      { rateLimitBurst: 1, rateLimitRefillMs: 60_000, trustXForwardedFor: true },
      { proxyProtocol: { timeoutMs: 300 } },
    );
    try {
      const src = v4([198, 51, 100, 30]);
      const spoof = (ip: string): Buffer => request('/v1/server', { ...UPGRADE_HEADERS, 'X-Forwarded-For': ip });
      assert.equal((await exchange(relay.port, [Buffer.concat([src, spoof('203.0.113.1')])])).status, 400);
      assert.equal((await exchange(relay.port, [Buffer.concat([src, spoof('203.0.113.2')])])).status, 429);
    } finally {
      await relay.stop();
    }
  });
});

describe('parseProxyV2', () => {
  test('maps IPv4-in-IPv6 sources to IPv4 and refuses what is not PROXY over TCP', () => {
    const mapped = [...new Array<number>(10).fill(0), 0xff, 0xff, 192, 0, 2, 1];
    assert.deepEqual(parseProxyV2(v6(mapped)), { ok: true, ip: '192.0.2.1' });
    assert.deepEqual(parseProxyV2(v4([1, 2, 3, 4])), { ok: true, ip: '1.2.3.4' });
    assert.deepEqual(parseProxyV2(v4([1, 2, 3, 4], Command.LOCAL)), { ok: false, reason: 'local' });
    assert.deepEqual(parseProxyV2(Buffer.alloc(16)), { ok: false, reason: 'malformed' });
  });

  test('drain closes a connection still waiting for its header', async () => {
    const relay = await startRelay({}, { proxyProtocol: { timeoutMs: 60_000 } });
    const s = connect(relay.port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    const closed = new Promise((r) => s.once('close', r));
    // The relay has accepted it (it sits in the header wait, not yet in the kernel backlog).
    const accepted = (): Promise<number> =>
      Promise.all(relay.app.listeners.map((l) => new Promise<number>((r) => l.getConnections((_e, n) => r(n))))).then((ns) =>
        ns.reduce((a, b) => a + b, 0),
      );
    await until(async () => (await accepted()) >= 1, 3000, 'connection accepted');
    const t0 = Date.now();
    await relay.stop();
    await closed;
    assert.ok(Date.now() - t0 < 2000);
  });
});
