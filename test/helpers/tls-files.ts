// Clients for certificate-file mode tests: TLS handshakes that report the
// serving certificate's serial, and wss:// binaries and phones that trust the
// test PKI's root.
import { request } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { TestClient } from './clients.js';

/** Upper-case hex without leading zeros, as the relay logs it. */
export const normSerial = (s: string): string => s.toUpperCase().replace(/^0+(?=.)/, '');

/** Completes a handshake and returns the peer certificate's serial and the protocol, then closes. */
export function handshake(port: number, opts: ConnectionOptions): Promise<{ serial: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ...opts }, () => {
      const out = { serial: normSerial(s.getPeerCertificate().serialNumber), protocol: s.getProtocol() };
      s.end();
      resolve(out);
    });
    s.once('error', reject);
  });
}

/** The serial of the certificate a connected wss:// client was served. */
export function servedSerial(client: TestClient): string {
  const socket = (client.ws as unknown as { _socket: TLSSocket })._socket;
  return normSerial(socket.getPeerCertificate().serialNumber);
}

/** GET over TLS with a chosen Host header; resolves the status. */
export function httpsStatus(port: number, path: string, opts: { ca: string; servername?: string; host?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: opts.ca,
        servername: opts.servername,
        headers: opts.host === undefined ? {} : { host: opts.host },
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('error', reject);
    req.end();
  });
}
