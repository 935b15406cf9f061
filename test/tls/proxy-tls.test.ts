// Black-box, the CLI with --https-proxy-protocol against pebble: every TLS
// connection starts with a PROXY v2 header, then the TLS handshake; the
// header's source address is the client IP the relay logs. Without a header a
// TLS ClientHello or a plaintext request is closed without a byte written. The
// HTTP-01 port takes no header (operations.md §4, §8).
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Command, IPv4Address, IPv4ProxyAddress, TransportProtocol, V2ProxyProtocol } from 'proxy-protocol-js';
import { DOMAIN, httpGet, startAcmeEnv, type AcmeEnv } from '../helpers/acme-env.js';
import { connectBinary, connectPhone, newServerId, sleep } from '../helpers/clients.js';
import { PEBBLE_LISTENER_CA } from '../helpers/pebble.js';
import { spawnCli, waitExit, waitForStderr } from '../helpers/process.js';

function proxyHeader(src: [number, number, number, number]): Buffer {
  const addr = new IPv4ProxyAddress(IPv4Address.createFrom(src), 40000, IPv4Address.createFrom([10, 0, 0, 1]), 443);
  return Buffer.from(new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, addr).build());
}

/**
 * A TLS connection whose TCP stream starts with a PROXY v2 header from `src`.
 * `oneWrite` corks the socket so the header and the ClientHello leave in a
 * single write (the relay then finds TLS bytes behind the header to put back).
 */
function viaProxy(port: number, rootPem: string, src: [number, number, number, number], oneWrite = false): TLSSocket {
  const raw = netConnect(port, '127.0.0.1');
  if (oneWrite) raw.cork();
  raw.write(proxyHeader(src));
  const tls = tlsConnect({ socket: raw, servername: DOMAIN, ca: rootPem });
  if (oneWrite) raw.once('connect', () => setImmediate(() => raw.uncork()));
  return tls;
}

/** Sends `bytes` straight to the port and counts what comes back before it closes. */
function bytesBack(port: number, send: (s: Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    const s = netConnect(port, '127.0.0.1', () => send(s));
    s.on('data', (d: Buffer) => (n += d.length));
    s.on('error', () => {});
    s.on('close', () => resolve(n));
  });
}

describe('PROXY v2 in front of TLS', () => {
  let env: AcmeEnv;
  before(async () => {
    env = await startAcmeEnv();
  });
  after(() => env.stop());

  test('header then handshake carries wss:// traffic and the header source is the client IP; no header → silence', async () => {
    const child = spawnCli(env.args(['--https-proxy-protocol', '--header-timeout', '1s']), { NODE_EXTRA_CA_CERTS: PEBBLE_LISTENER_CA });
    try {
      await waitForStderr(child, /cert_issued/, 20_000);
      const root = env.pebble.rootPem;
      const id = newServerId();
      const binary = await connectBinary(env.base, id, {}, { createConnection: () => viaProxy(env.httpsPort, root, [203, 0, 113, 7]) });
      const phone = await connectPhone(
        env.base,
        id,
        {},
        { createConnection: () => viaProxy(env.httpsPort, root, [198, 51, 100, 9], true) },
      );
      phone.send('{"v":2,"type":"noise_init","data":"AAAA"}');
      assert.match(await binary.next(), /"frame":\{"v":2,"type":"noise_init","data":"AAAA"\}/);
      await waitForStderr(child, /"phone_registered"/);
      const events = child.out.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(events.find((e) => e.event === 'server_claimed')?.remote, '203.0.113.7');
      assert.equal(events.find((e) => e.event === 'phone_registered')?.remote, '198.51.100.9');

      // Without the header: a ClientHello, or plaintext HTTP, gets zero bytes and a close.
      const helloBack = await bytesBack(env.httpsPort, (raw) => {
        const t = tlsConnect({ socket: raw, servername: DOMAIN, ca: root });
        t.on('error', () => {});
      });
      assert.equal(helloBack, 0);
      const plainBack = await bytesBack(env.httpsPort, (s) => s.write(`GET /healthz HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`));
      assert.equal(plainBack, 0);
      // The live pair is unaffected, past the (1 s) header and handshake deadlines too.
      await sleep(1500);
      assert.equal(binary.isClosed || phone.isClosed, false);
      phone.send('{"n":2}');
      assert.match(await binary.next(), /"frame":\{"n":2\}/);

      // The HTTP-01 port takes no header.
      const r = await httpGet(env.httpPort, '/');
      assert.equal(r.status, 404);

      binary.close();
      phone.close();
      child.kill('SIGTERM');
      const exit = await waitExit(child);
      assert.equal(exit.code, 0, exit.stderr);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
