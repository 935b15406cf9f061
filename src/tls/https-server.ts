// The HTTPS server both TLS modes serve on (operations.md §8): TLS 1.2 minimum
// and an absolute handshake deadline. ACME mode chooses the certificate per
// handshake (SNI callback); certificate-file mode serves one default context and
// swaps it with setSecureContext. Either way an open connection keeps the
// context it was accepted with.
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export const TLS_MIN_VERSION = 'TLSv1.2';

const tupleOf = (s: Socket): string => `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;

/**
 * Slow-loris guard for the handshake (relay-behaviour.md §6): the TLS handshake
 * must finish within the header timeout of the TCP accept — an absolute
 * deadline, unlike Node's idle handshakeTimeout, which a trickled ClientHello
 * keeps extending — plus `extraWaitMs()` (ACME mode: the first-certificate wait
 * while no certificate exists). header-timeout.ts then bounds the request
 * headers. Accepted and secured sockets are matched by their address 4-tuple
 * (unique while open).
 */
function guardHandshake(server: HttpsServer, headerTimeoutMs: number, extraWaitMs: () => number): void {
  const pending = new Map<string, NodeJS.Timeout>();
  // Prepended so the raw socket is seen before the TLS layer takes it over.
  server.prependListener('connection', (raw: Socket) => {
    const key = tupleOf(raw);
    // A leftover entry for the same 4-tuple belongs to a connection that is gone.
    clearTimeout(pending.get(key));
    const timer: NodeJS.Timeout = setTimeout(() => {
      if (pending.get(key) === timer) pending.delete(key);
      raw.destroy();
    }, headerTimeoutMs + extraWaitMs());
    timer.unref();
    pending.set(key, timer);
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const key = tupleOf(socket);
    clearTimeout(pending.get(key));
    pending.delete(key);
  });
}

export interface RelayHttpsOptions {
  /** The certificate source: an SNI callback, or a key and chain for the default context. */
  certificate: Pick<ServerOptions, 'SNICallback'> | { key: string; cert: string };
  headerTimeoutMs: number;
  /** Longest extra handshake wait on top of the header timeout (Node's idle backstop). */
  maxExtraWaitMs?: number;
  /** The extra wait for a connection accepted now. */
  extraWaitMs?: () => number;
}

export function createRelayHttpsServer(opts: RelayHttpsOptions): HttpsServer {
  const server = createHttpsServer({
    ...opts.certificate,
    minVersion: TLS_MIN_VERSION,
    // Node's own (idle) handshake timer as a backstop; guardHandshake sets the real deadline.
    handshakeTimeout: (opts.maxExtraWaitMs ?? 0) + opts.headerTimeoutMs,
  });
  guardHandshake(server, opts.headerTimeoutMs, opts.extraWaitMs ?? (() => 0));
  return server;
}
