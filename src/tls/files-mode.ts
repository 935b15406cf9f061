// Certificate-file mode (--tls-cert, --tls-key) assembled: loads and checks the
// pair at boot (a CertFileError here is exit 1), builds the HTTPS server the
// router attaches to (https-server.ts, the same floor and handshake deadline as
// ACME mode) on it, and keeps it current with a CertFileReloader that swaps the
// server's default context — new handshakes get the new pair, open connections
// keep theirs. The Host gate follows the names of the certificate in service.
import type { Server as HttpServer } from 'node:http';
import type { Logger } from '../ops/logger.js';
import { loadPair, type CertFilePaths, type FileCertPair } from './file-certs.js';
import { CertFileReloader } from './file-reloader.js';
import { certificateGate, type HostGate } from '../http/host.js';
import { createRelayHttpsServer, TLS_MIN_VERSION } from './https-server.js';

export interface FilesModeOptions {
  paths: CertFilePaths;
  headerTimeoutMs: number;
  logger: Logger;
  /** Watch-event debounce; tests shorten it. */
  debounceMs?: number;
}

export interface FilesMode {
  /** The HTTPS server; typed as http.Server because the router treats both alike. */
  readonly server: HttpServer;
  readonly reloader: CertFileReloader;
  readonly hostGate: HostGate;
  /** The serving certificate's expiry (ms since the epoch). */
  readonly notAfter: () => number;
  /** Starts watching the files. */
  start(): void;
  close(): void;
}

export async function openFilesMode(opts: FilesModeOptions): Promise<FilesMode> {
  const { paths, logger } = opts;
  const initial: FileCertPair = await loadPair(paths);
  const https = createRelayHttpsServer({
    certificate: { key: initial.keyPem, cert: initial.chainPem },
    headerTimeoutMs: opts.headerTimeoutMs,
  });
  const reloader = new CertFileReloader({
    paths,
    initial,
    logger,
    debounceMs: opts.debounceMs,
    // setSecureContext replaces the default context for handshakes from now on.
    install: (pair) => https.setSecureContext({ key: pair.keyPem, cert: pair.chainPem, minVersion: TLS_MIN_VERSION }),
  });
  logger.info('tls_cert_loaded', { file: paths.cert, serial: initial.serial, to: initial.leaf.validTo });
  return {
    server: https as unknown as HttpServer,
    reloader,
    hostGate: certificateGate(() => reloader.pair.leaf),
    notAfter: () => reloader.pair.notAfter,
    start: () => reloader.start(),
    close: () => reloader.stop(),
  };
}
