// The Prometheus listener (operations.md §6): a separate plain-HTTP server on
// --metrics-listen (validated to a loopback literal by the flag parser) that
// answers GET /metrics from the relay's private registry, GET /status (the
// operator's page, status-page.ts) and GET /status.json (its data, status.ts),
// and 404s everything else. It shares nothing with the public listener, so it is never rate-limited
// and a scrape never touches the relay's request path.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from './config.js';
import { errText, type Logger } from './logger.js';
import type { RelayMetrics } from './metrics.js';
import { renderStatusPage, STATUS_CSP } from './status-page.js';
import { StatusTracker, type StatusSources } from './status.js';

export interface MetricsServer {
  readonly server: Server;
  readonly address: AddressInfo;
  close(): Promise<void>;
}

function send(
  res: import('node:http').ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
  res.end(body);
}

/** Served with the status page and its JSON: nothing loads from elsewhere, nothing frames it. */
const PAGE_HEADERS = {
  'Content-Security-Policy': STATUS_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

export function createMetricsServer(metrics: RelayMetrics, logger: Logger, status?: StatusTracker): Server {
  const server = createServer((req, res) => {
    const q = req.url?.indexOf('?') ?? -1;
    const path = q === -1 ? req.url : req.url?.slice(0, q);
    if (req.method === 'GET' && status !== undefined && (path === '/status' || path === '/status.json')) {
      status.snapshot().then(
        (s) =>
          path === '/status'
            ? send(res, 200, 'text/html; charset=utf-8', renderStatusPage(s), PAGE_HEADERS)
            : send(res, 200, 'application/json', JSON.stringify(s), PAGE_HEADERS),
        (err: unknown) => {
          logger.error('status_failed', { err: errText(err) });
          send(res, 500, 'text/plain; charset=utf-8', 'status failed');
        },
      );
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      send(res, 404, 'text/plain; charset=utf-8', 'not found');
      return;
    }
    metrics.registry.metrics().then(
      (text) => send(res, 200, metrics.registry.contentType, text),
      (err: unknown) => {
        logger.error('metrics_scrape_failed', { err: errText(err) });
        send(res, 500, 'text/plain; charset=utf-8', 'scrape failed');
      },
    );
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  return server;
}

/** `status`: serve /status and /status.json too (the CLI always does; tests may leave it out). */
export function startMetricsServer(
  metrics: RelayMetrics,
  addr: ListenAddress,
  logger: Logger,
  status?: StatusSources,
): Promise<MetricsServer> {
  const tracker = status === undefined ? undefined : new StatusTracker(metrics, status);
  const server = createMetricsServer(metrics, logger, tracker);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: addr.host, port: addr.port }, () => {
      server.off('error', onError);
      tracker?.start();
      resolve({
        server,
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            tracker?.stop();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
