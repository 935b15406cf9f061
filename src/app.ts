// Composition root: builds the relay, its HTTP listener and their collaborators
// from a validated config, and exposes one drain-and-stop handle. The CLI and
// the black-box tests both start the relay through here.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer } from 'ws';
import type { Server as NetServer } from 'node:net';
import { createAdmission, type Admission } from './http/admission.js';
import { installHeaderTimeout } from './http/header-timeout.js';
import { domainGate } from './http/host.js';
import { PROXY_HEADER_TIMEOUT_MS, proxyProtocolFront } from './http/proxy-protocol.js';
import { attachRouter } from './http/router.js';
import { startCluster, type ClusterRuntime } from './cluster/runtime.js';
import type { ListenAddress, RelayConfig } from './ops/config.js';
import type { Logger } from './ops/logger.js';
import { RelayMetrics } from './ops/metrics.js';
import { startMetricsServer, type MetricsServer } from './ops/metrics-server.js';
import type { StatusSources } from './ops/status.js';
import { VERSION } from './ops/version.js';
import type { PushDispatcher } from './push/dispatcher.js';
import { createPushDispatcher, type PushSettings } from './push/setup.js';
import type { Clock } from './relay/clock.js';
import { Relay } from './relay/relay.js';
import type { RegistryFactory } from './relay/registry.js';
import { openFilesMode, type FilesMode } from './tls/files-mode.js';
import type { AcmeSharing, TlsMode, TlsTunables } from './tls/tls-mode.js';

export interface AppDeps {
  logger: Logger;
  metrics?: RelayMetrics;
  push?: PushDispatcher;
  /** FCM key and send URL from the environment; undefined = push off. Used when `push` is not given. */
  pushSettings?: PushSettings;
  /** Defaults to the real policy built from the config (createAdmission). */
  admission?: Admission;
  /**
   * Require a PROXY v2 header on the public listener. The CLI uses this only in
   * front of TLS; tests put it in front of plain HTTP.
   */
  proxyProtocol?: { timeoutMs?: number };
  /** Close-handshake wait; tests shorten it. */
  closeTimeoutMs?: number;
  /** ACME-mode internals (handshake wait, retry backoff); tests shorten them. */
  tls?: TlsTunables;
  /** Cluster mode with --domain: the shared certificate store, challenges and issuer lock (openClusterAcme). */
  acme?: AcmeSharing;
  /** Cluster mode: the live nodes the status page lists (absent on a single relay). */
  liveNodes?: StatusSources['liveNodes'];
  /** The server-id registry; defaults to the single-node MemoryRegistry. */
  registry?: RegistryFactory;
  /** The relay core's clock; defaults to the real one. */
  clock?: Clock;
  /** Certificate-file mode: the watch-event debounce; tests shorten it. */
  tlsFilesDebounceMs?: number;
}

export interface RunningApp {
  readonly relay: Relay;
  readonly metrics: RelayMetrics;
  readonly server: Server;
  /** The bound address of the public listener. */
  readonly address: AddressInfo;
  /** ACME mode (--domain): certificate handling and the HTTP-01 listener. */
  readonly tls?: TlsMode;
  /** Certificate-file mode (--tls-cert, --tls-key): the pair in service and its reloader. */
  readonly tlsFiles?: FilesMode;
  /** ACME mode: the bound address of the HTTP-01 listener. */
  readonly http01Address?: AddressInfo;
  /** The bound metrics listener, unless --metrics-listen="" disabled it. */
  readonly metricsAddress: AddressInfo | undefined;
  /** Listeners whose failure ends the process (public, PROXY front, metrics). */
  readonly listeners: readonly NetServer[];
  /** Graceful shutdown (operations.md §10): stop accepting, drain, close. */
  drain(): Promise<void>;
}

export function listen(server: NetServer, addr: ListenAddress): Promise<AddressInfo> {
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
export function stopAccepting(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startApp(config: RelayConfig, listenAt: ListenAddress, deps: AppDeps): Promise<RunningApp> {
  const metrics = deps.metrics ?? new RelayMetrics({ runtime: config.metricsListen !== undefined, push: deps.pushSettings !== undefined });
  // Certificate-file mode checks the pair first (CertFileError → exit 1).
  const files =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? await openFilesMode({
          paths: { cert: config.tlsCert, key: config.tlsKey },
          headerTimeoutMs: config.headerTimeoutMs,
          logger: deps.logger,
          debounceMs: deps.tlsFilesDebounceMs,
        })
      : undefined;
  if (files !== undefined) metrics.exposeCertExpiry(files.notAfter);
  const push =
    deps.push ??
    createPushDispatcher(deps.pushSettings, { logger: deps.logger, outcomes: metrics.pushWakes, drainTimeoutMs: config.drainTimeoutMs });
  // Cluster mode: connect, join and prove the bus before any listener opens
  // (RedisUnavailableError / RedisVersionError → the CLI exits 1).
  let cluster: ClusterRuntime | undefined;
  try {
    cluster =
      config.cluster === undefined
        ? undefined
        : await startCluster(config.cluster, {
            logger: deps.logger,
            metrics: metrics.registry,
            gracePeriodMs: config.gracePeriodMs,
            conflictProbeTimeoutMs: config.conflictProbeTimeoutMs,
          });
  } catch (err) {
    files?.close();
    await push.close();
    throw err;
  }
  // ACME mode checks the cache directory (CacheDirError → exit 1) and serves TLS; in a
  // cluster the certificate, challenges and issuer lock are shared through Redis.
  let tls: TlsMode | undefined;
  try {
    if (config.domain !== undefined) {
      // ACME's modules (acme-client and its HTTP stack) load only in ACME mode: the other
      // modes would pay ~0.18 s of CPU and ~11 MiB of RSS at boot for them.
      const { openTlsMode } = await import('./tls/tls-mode.js');
      const acme = deps.acme ?? (await cluster?.openAcme());
      tls = await openTlsMode(config, deps.logger, deps.tls, acme);
      const certs = tls.certs;
      metrics.exposeCertExpiry(() => certs.notAfter);
    }
  } catch (err) {
    files?.close();
    await cluster?.close();
    await push.close();
    throw err;
  }
  const relay = new Relay(config, {
    logger: deps.logger,
    metrics,
    push,
    registry: deps.registry ?? cluster?.registry,
    clock: deps.clock,
  });
  const admission = deps.admission ?? createAdmission(config, { logger: deps.logger, metrics });
  const startedAt = Date.now();
  const server = tls?.server ?? files?.server ?? createServer();
  installHeaderTimeout(server, config.headerTimeoutMs, tls !== undefined || files !== undefined ? 'secureConnection' : 'connection');
  const wss: WebSocketServer = attachRouter(server, {
    relay,
    admission,
    metrics,
    version: VERSION,
    startedAt,
    maxMessageBytes: config.maxMessageBytes,
    closeTimeoutMs: deps.closeTimeoutMs,
    hostGate: config.domain !== undefined ? domainGate(config.domain) : files?.hostGate,
    cluster,
  });
  const front =
    deps.proxyProtocol === undefined
      ? undefined
      : proxyProtocolFront(server, {
          timeoutMs: deps.proxyProtocol.timeoutMs ?? PROXY_HEADER_TIMEOUT_MS,
          logger: deps.logger,
          onReject: (reason) => metrics.proxyHeaderRejects[reason].inc(),
        });
  const publicListener: NetServer = front ?? server;
  let metricsServer: MetricsServer | undefined;
  let address: AddressInfo;
  let http01Address: AddressInfo | undefined;
  try {
    address = await listen(publicListener, listenAt);
    if (config.metricsListen !== undefined) {
      metricsServer = await startMetricsServer(metrics, config.metricsListen, deps.logger, {
        version: VERSION,
        startedAt,
        ...(deps.liveNodes === undefined ? {} : { liveNodes: deps.liveNodes }),
        ...(deps.liveNodes === undefined && cluster !== undefined
          ? {
              liveNodes: async () =>
                (await cluster.nodeIds()).map((n) =>
                  n.self ? { ...n, binaries: relay.counts().binaries, phones: relay.counts().phones } : n,
                ),
            }
          : {}),
      });
    }
    http01Address = await tls?.start();
    files?.start();
  } catch (err) {
    // Leave nothing bound or ticking behind a failed start.
    publicListener.close();
    await tls?.close();
    files?.close();
    await metricsServer?.close();
    admission.close?.();
    await relay.shutdown();
    await cluster?.close();
    throw err;
  }
  let drained: Promise<void> | undefined;
  return {
    relay,
    metrics,
    server,
    address,
    tls,
    tlsFiles: files,
    http01Address,
    metricsAddress: metricsServer?.address,
    listeners: [publicListener, ...(metricsServer === undefined ? [] : [metricsServer.server]), ...(tls === undefined ? [] : [tls.http01])],
    drain() {
      drained ??= (async () => {
        const closed = stopAccepting(publicListener);
        await relay.shutdown();
        await cluster?.close();
        wss.close();
        server.closeAllConnections();
        await tls?.close();
        files?.close();
        await closed;
        admission.close?.();
        await metricsServer?.close();
      })();
      return drained;
    },
  };
}
