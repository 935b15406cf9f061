// The Prometheus listener (operations.md §6): a separate plain-HTTP server on
// --metrics-listen (validated to a loopback literal by the flag parser) that
// answers GET /metrics from the relay's private registry and 404s everything
// else. It shares nothing with the public listener, so it is never rate-limited
// and a scrape never touches the relay's request path.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from './config.js';
import { errText, type Logger } from './logger.js';
import type { RelayMetrics } from './metrics.js';

export interface MetricsServer {
  readonly server: Server;
  readonly address: AddressInfo;
  close(): Promise<void>;
}

function send(res: import('node:http').ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

export function createMetricsServer(metrics: RelayMetrics, logger: Logger): Server {
  const server = createServer((req, res) => {
    const q = req.url?.indexOf('?') ?? -1;
    const path = q === -1 ? req.url : req.url?.slice(0, q);
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

export function startMetricsServer(metrics: RelayMetrics, addr: ListenAddress, logger: Logger): Promise<MetricsServer> {
  const server = createMetricsServer(metrics, logger);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: addr.host, port: addr.port }, () => {
      server.off('error', onError);
      resolve({
        server,
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
