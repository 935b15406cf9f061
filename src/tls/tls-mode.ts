// ACME mode (operations.md §8) assembled: checks the cache directory, builds the
// HTTPS server the router attaches to (https-server.ts; certificate chosen per
// handshake by the CertManager), and the HTTP-01 listener. The caller listens on
// `server` (or on a PROXY protocol front that feeds it) and then calls start().
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { RelayConfig } from '../ops/config.js';
import type { Logger } from '../ops/logger.js';
import type { ChallengeStore } from './acme-issuer.js';
import { prepareCacheDir } from './cache-dir.js';
import { CERT_DEFAULTS, CertManager } from './cert-manager.js';
import { CertStore } from './cert-store.js';
import { createHttp01Server } from './http01.js';
import { createRelayHttpsServer } from './https-server.js';

/** Internal tunables (not flags); tests shorten them. */
export interface TlsTunables {
  handshakeWaitMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  pollMinMs?: number;
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

export async function openTlsMode(config: RelayConfig, logger: Logger, tunables: TlsTunables = {}): Promise<TlsMode> {
  const domain = config.domain;
  if (domain === undefined) throw new Error('openTlsMode needs --domain');
  await prepareCacheDir(config.certCache, logger);
  const challenges: ChallengeStore = new Map();
  const certs = new CertManager({
    domain,
    store: new CertStore(config.certCache, domain.toLowerCase()),
    directoryUrl: config.acmeDirectory,
    challenges,
    logger,
    ...tunables,
  });
  const handshakeWaitMs = tunables.handshakeWaitMs ?? CERT_DEFAULTS.handshakeWaitMs;
  const https = createRelayHttpsServer({
    certificate: { SNICallback: certs.sniCallback },
    headerTimeoutMs: config.headerTimeoutMs,
    maxExtraWaitMs: handshakeWaitMs,
    extraWaitMs: () => (certs.notAfter === undefined ? handshakeWaitMs : 0),
  });
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
