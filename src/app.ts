// Composition root: builds the relay, its HTTP listener and their collaborators
// from a validated config, and exposes one drain-and-stop handle. The CLI and
// the black-box tests both start the relay through here.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer } from 'ws';
import { openAdmission, type Admission } from './http/admission.js';
import { installHeaderTimeout } from './http/header-timeout.js';
import { attachRouter } from './http/router.js';
import type { ListenAddress, RelayConfig } from './ops/config.js';
import type { Logger } from './ops/logger.js';
import { RelayMetrics } from './ops/metrics.js';
import { VERSION } from './ops/version.js';
import { DisabledPush, type PushDispatcher } from './push/dispatcher.js';
import { Relay } from './relay/relay.js';

export interface AppDeps {
  logger: Logger;
  metrics?: RelayMetrics;
  push?: PushDispatcher;
  admission?: Admission;
  /** Close-handshake wait; tests shorten it. */
  closeTimeoutMs?: number;
}

export interface RunningApp {
  readonly relay: Relay;
  readonly metrics: RelayMetrics;
  readonly server: Server;
  /** The bound address of the public listener. */
  readonly address: AddressInfo;
  /** Graceful shutdown (operations.md §10): stop accepting, drain, close. */
  drain(): Promise<void>;
}

export function listen(server: Server, addr: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: addr.host, port: addr.port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting at once; existing connections are left to the relay's drain. */
export function stopAccepting(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startApp(config: RelayConfig, listenAt: ListenAddress, deps: AppDeps): Promise<RunningApp> {
  const metrics = deps.metrics ?? new RelayMetrics();
  const push = deps.push ?? new DisabledPush(deps.logger);
  const relay = new Relay(config, { logger: deps.logger, metrics, push });
  const server = createServer();
  installHeaderTimeout(server, config.headerTimeoutMs);
  const wss: WebSocketServer = attachRouter(server, {
    relay,
    admission: deps.admission ?? openAdmission,
    metrics,
    version: VERSION,
    startedAt: Date.now(),
    maxMessageBytes: config.maxMessageBytes,
    closeTimeoutMs: deps.closeTimeoutMs,
  });
  const address = await listen(server, listenAt);
  let drained: Promise<void> | undefined;
  return {
    relay,
    metrics,
    server,
    address,
    drain() {
      drained ??= (async () => {
        const closed = stopAccepting(server);
        await relay.shutdown();
        wss.close();
        server.closeAllConnections();
        await closed;
      })();
      return drained;
    },
  };
}
