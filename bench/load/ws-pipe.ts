// A floor for any relay built on `ws`: the relay's topology (binaries dial
// /v1/server, phones dial /v1/client, paired by the x-pyrycode-server header)
// with nothing else - no envelopes, no JSON checks, no registry, no limits.
// Each message is sent on to the paired socket with ws.send, the sends of one
// I/O callback corked into one writev. One phone per server-id, so it runs
// workload (i) only. Run like the relay, it separates what ws and the Node
// runtime cost per hop from what the relay's own code adds.
//   ws-pipe.js <listenPort>
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { isMain, socketOf } from './proc.js';

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

interface Pair {
  binary?: WebSocket;
  phone?: WebSocket;
}

/** Sends every message of `from` on to `to()`, corking the destination per callback. */
function forward(from: WebSocket, to: () => WebSocket | undefined): void {
  let corked: WebSocket | undefined;
  const uncork = (): void => {
    socketOf(corked!).uncork();
    corked = undefined;
  };
  from.on('message', (data: Buffer, isBinary: boolean) => {
    const dest = to();
    if (dest === undefined) return;
    if (corked === undefined) {
      corked = dest;
      socketOf(dest).cork();
      process.nextTick(uncork);
    }
    dest.send(data, isBinary ? BINARY : TEXT);
  });
  from.on('error', () => undefined);
}

function main(port: number): void {
  const pairs = new Map<string, Pair>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const id = String(req.headers['x-pyrycode-server'] ?? '');
    let pair = pairs.get(id);
    if (pair === undefined) pairs.set(id, (pair = {}));
    const p = pair;
    if (req.url === '/v1/server') {
      p.binary = ws;
      forward(ws, () => p.phone);
    } else {
      p.phone = ws;
      forward(ws, () => p.binary);
    }
  });
  wss.on('listening', () => process.stdout.write('ready\n'));
}

if (isMain(import.meta.url)) main(Number(process.argv[2]));
