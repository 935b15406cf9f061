// Routes HTTP requests and upgrades (protocol.md §1–§2): /healthz, the two
// WebSocket endpoints, 404 for everything else. For the endpoints the order is
// admission → header check (400) → the Go library's handshake checks (426,
// 405, 400) → WebSocket upgrade → registry, so a rejected request never
// reaches the registry or starts a WebSocket.
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RelayMetrics } from '../ops/metrics.js';
import { Path } from '../protocol.js';
import type { Relay } from '../relay/relay.js';
import type { Admission } from './admission.js';
import { canonicalForWs, checkHandshake } from './handshake.js';
import { checkUpgradeHeaders, type Endpoint } from './headers.js';
import { healthBody, writeHealth, type ClusterHealth } from './healthz.js';
import { rejectUpgrade } from './raw-response.js';
import type { HostGate } from './host.js';

export interface RouterOptions {
  relay: Relay;
  admission: Admission;
  metrics: RelayMetrics;
  version: string;
  startedAt: number;
  maxMessageBytes: number;
  /** How long a close handshake may wait for the peer. */
  closeTimeoutMs?: number;
  /** TLS modes: requests whose Host the gate refuses get 421 (operations.md §8). */
  hostGate?: HostGate;
  /** Cluster mode: /healthz keys, and 503 to upgrades while the node is fenced. */
  cluster?: ClusterHealth;
}

const ENDPOINTS: Record<string, Endpoint | undefined> = { [Path.server]: 'server', [Path.client]: 'client' };

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function plain(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function attachRouter(server: Server, opts: RouterOptions): WebSocketServer {
  const { relay, admission, metrics } = opts;
  // `closeTimeout` (ws ≥ 8.18) bounds the close handshake; @types/ws lags behind it.
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: opts.maxMessageBytes,
    clientTracking: false,
    // Select no subprotocol, whatever the client offers, as the Go relay does.
    handleProtocols: () => false,
    closeTimeout: opts.closeTimeoutMs ?? 5000,
  } as ConstructorParameters<typeof WebSocketServer>[0]);

  const { hostGate } = opts;
  const misdirected = (req: IncomingMessage): boolean => hostGate !== undefined && !hostGate(req.headers.host);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (misdirected(req)) {
      plain(res, 421, 'misdirected request');
      return;
    }
    const path = pathOf(req.url);
    if (path === Path.healthz) {
      const cluster = opts.cluster;
      const status = cluster === undefined || cluster.available() ? 200 : 503;
      writeHealth(res, healthBody(opts.version, relay, opts.startedAt, cluster), req.method === 'HEAD', status);
      return;
    }
    const endpoint = ENDPOINTS[path];
    if (endpoint === undefined) {
      plain(res, 404, 'not found');
      return;
    }
    // A plain request to an endpoint still spends admission (it counts against the rate limit).
    const decision = admission.admit(req, endpoint, false);
    if (!decision.ok) {
      plain(res, decision.status, decision.body, decision.headers);
      return;
    }
    decision.release();
    const check = checkUpgradeHeaders(endpoint, req.headers);
    if (!check.ok) {
      metrics.upgrades[endpoint].reject_headers.inc();
      plain(res, 400, check.body);
      return;
    }
    // Node routes every request carrying Connection: upgrade and an Upgrade
    // header to 'upgrade', so this always fails; the fallback is only defensive.
    const handshake = checkHandshake(req);
    if (!handshake.ok) plain(res, handshake.status, handshake.body, handshake.headers);
    else plain(res, 426, 'websocket upgrade required', { Connection: 'Upgrade', Upgrade: 'websocket' });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (misdirected(req)) {
      rejectUpgrade(socket, 421, 'misdirected request');
      return;
    }
    const endpoint = ENDPOINTS[pathOf(req.url)];
    if (endpoint === undefined) {
      rejectUpgrade(socket, 404, 'not found');
      return;
    }
    const decision = admission.admit(req, endpoint, true);
    if (!decision.ok) {
      rejectUpgrade(socket, decision.status, decision.body, decision.headers);
      return;
    }
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        decision.release();
      }
    };
    socket.once('close', release);
    const check = checkUpgradeHeaders(endpoint, req.headers);
    if (!check.ok) {
      metrics.upgrades[endpoint].reject_headers.inc();
      rejectUpgrade(socket, 400, check.body);
      return;
    }
    const handshake = checkHandshake(req);
    if (!handshake.ok) {
      rejectUpgrade(socket, handshake.status, handshake.body, handshake.headers);
      return;
    }
    canonicalForWs(req.headers, handshake.key);
    if (relay.isShuttingDown) {
      rejectUpgrade(socket, 503, 'shutting down');
      return;
    }
    // A fenced node must not take connections until it has rejoined (cluster.md §3).
    if (opts.cluster !== undefined && !opts.cluster.available()) {
      rejectUpgrade(socket, 503, 'unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const tcp = socket as Socket;
      if (endpoint === 'server') {
        relay.attachBinary(ws, tcp, { serverId: check.serverId, version: check.version, remote: decision.clientIp });
      } else {
        relay.attachPhone(ws, tcp, { serverId: check.serverId, deviceName: check.deviceName, remote: decision.clientIp });
      }
    });
  });

  return wss;
}
