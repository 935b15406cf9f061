// ACME mode (operations.md §8) assembled: checks the cache directory, builds the
// HTTPS server the router attaches to (TLS 1.2 minimum, certificate chosen per
// handshake by the CertManager), and the HTTP-01 listener. The caller listens on
// `server` (or on a PROXY protocol front that feeds it) and then calls start().
// Where certificates and challenges live is an option: the directory cache and
// memory on a single relay, Redis and an issuer lock in a cluster (AcmeSharing).
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Server as HttpServer } from 'node:http';
import type { RelayConfig } from '../ops/config.js';
import type { Logger } from '../ops/logger.js';
import { prepareCacheDir } from './cache-dir.js';
import { CERT_DEFAULTS, CertManager } from './cert-manager.js';
import { DirCertStore, type CertStore } from './cert-store.js';
import { MemoryChallenges, type ChallengeStore } from './challenges.js';
import { createHttp01Server } from './http01.js';
import type { CertPeers } from './issuer-lock.js';

/** Internal tunables (not flags); tests shorten them. */
export interface TlsTunables {
  handshakeWaitMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  pollMinMs?: number;
  /** Cluster mode: retry delay while another node holds the issuer lock. */
  lockWaitMs?: number;
  /** Cluster mode: backstop check of the stored certificate. */
  syncIntervalMs?: number;
}

/**
 * Cluster mode (decision 0020): the certificate store, pending challenges and
 * issuer lock every node shares. Built by clusterAcme() in src/cluster/acme-redis.ts.
 */
export interface AcmeSharing {
  /** Builds the shared certificate store for `domain` (lowercase). */
  certStore(domain: string): CertStore;
  challenges: ChallengeStore;
  /** The issuer lock and notifications for `domain` (lowercase). */
  peers(domain: string): CertPeers;
}

export interface TlsMode {
  /** The HTTPS server; typed as http.Server because the router treats both alike. */
  readonly server: HttpServer;
  readonly certs: CertManager;
  readonly http01: HttpServer;
  /** Listens on --http-listen, then loads or obtains the certificate in the background. */
  start(): Promise<AddressInfo>;
  /** Stops certificate work and the HTTP-01 listener. */
  close(): Promise<void>;
}

const tupleOf = (s: Socket): string => `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;

/**
 * Slow-loris guard for the handshake (relay-behaviour.md §6): the TLS handshake
 * must finish within the header timeout of the TCP accept — an absolute
 * deadline, unlike Node's idle handshakeTimeout, which a trickled ClientHello
 * keeps extending — plus the first-certificate wait while no certificate
 * exists. header-timeout.ts then bounds the request headers. Accepted and
 * secured sockets are matched by their address 4-tuple (unique while open).
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

export async function openTlsMode(
  config: RelayConfig,
  logger: Logger,
  tunables: TlsTunables = {},
  sharing?: AcmeSharing,
): Promise<TlsMode> {
  const domain = config.domain;
  if (domain === undefined) throw new Error('openTlsMode needs --domain');
  const name = domain.toLowerCase();
  // Checked in cluster mode too: the flag keeps one meaning, and a node that leaves the cluster uses it.
  await prepareCacheDir(config.certCache, logger);
  const challenges: ChallengeStore = sharing?.challenges ?? new MemoryChallenges();
  const certs = new CertManager({
    domain,
    store: sharing?.certStore(name) ?? new DirCertStore(config.certCache, name),
    directoryUrl: config.acmeDirectory,
    challenges,
    logger,
    peers: sharing?.peers(name),
    ...tunables,
  });
  const handshakeWaitMs = tunables.handshakeWaitMs ?? CERT_DEFAULTS.handshakeWaitMs;
  const https: HttpsServer = createHttpsServer({
    minVersion: 'TLSv1.2',
    SNICallback: certs.sniCallback,
    // Node's own (idle) handshake timer as a backstop; guardHandshake sets the real deadline.
    handshakeTimeout: handshakeWaitMs + config.headerTimeoutMs,
  });
  guardHandshake(https, config.headerTimeoutMs, () => (certs.notAfter === undefined ? handshakeWaitMs : 0));
  const http01 = createHttp01Server(challenges, config.headerTimeoutMs);
  return {
    server: https as unknown as HttpServer,
    certs,
    http01,
    start() {
      return new Promise<AddressInfo>((resolve, reject) => {
        http01.once('error', reject);
        http01.listen({ host: config.httpListen.host, port: config.httpListen.port }, () => {
          http01.off('error', reject);
          void certs.start();
          resolve(http01.address() as AddressInfo);
        });
      });
    },
    close() {
      certs.stop();
      return new Promise<void>((resolve) => {
        http01.close(() => resolve());
        http01.closeAllConnections();
      });
    },
  };
}
