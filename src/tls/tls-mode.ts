// ACME mode (operations.md §8) assembled: checks the cache directory, builds the
// HTTPS server the router attaches to (https-server.ts; certificate chosen per
// handshake by the CertManager), and the HTTP-01 listener. The caller listens on
// `server` (or on a PROXY protocol front that feeds it) and then calls start().
// Where certificates and challenges live is an option: the directory cache and
// memory on a single relay, Redis and an issuer lock in a cluster (AcmeSharing).
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { RelayConfig } from '../ops/config.js';
import type { Logger } from '../ops/logger.js';
import { prepareCacheDir } from './cache-dir.js';
import { CERT_DEFAULTS, CertManager } from './cert-manager.js';
import { DirCertStore, type CertStore } from './cert-store.js';
import { MemoryChallenges, type ChallengeStore } from './challenges.js';
import { createHttp01Server } from './http01.js';
import type { CertPeers } from './issuer-lock.js';
import { createRelayHttpsServer } from './https-server.js';

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
