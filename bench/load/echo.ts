// Echo processes for the load benchmark.
//   echo.js server <port>                 a plain ws echo server (the direct and nginx baselines);
//                                         over TLS with BENCH_TLS_CERT/BENCH_TLS_KEY set
//   echo.js binaries <relayUrl> <ids,...>  one echo binary per server-id on the relay's /v1/server
//                                         (wss:// trusts the certificate in BENCH_TLS_CA)
// Both send every message straight back, same opcode, same bytes: the relay's
// envelope to a binary is also a valid envelope from it. Sends made while
// handling one socket read are corked into one writev, as in the generator.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { WebSocket, WebSocketServer } from 'ws';
import { isMain, socketOf } from './proc.js';
import { clientTls } from './secure.js';
import { maskedCopy } from './wsframe.js';

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

/**
 * Echo every message on `ws`, corking the socket across one read's messages.
 * `masked` (client side): frames are masked word-wise and written directly.
 */
export function echo(ws: WebSocket, masked = false): void {
  const socket = socketOf(ws);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    if (masked && !isBinary) {
      const [head, body] = maskedCopy(data);
      socket.write(head);
      socket.write(body);
    } else {
      ws.send(data, isBinary ? BINARY : TEXT);
    }
  });
  ws.on('error', () => undefined);
}

function serve(port: number): void {
  const opts = { perMessageDeflate: false, clientTracking: false } as const;
  // BENCH_TLS_CERT/BENCH_TLS_KEY: the same echo over TLS on Node's https server (the
  // secure workloads' floor: Node TLS and ws with nothing else).
  const cert = process.env.BENCH_TLS_CERT;
  const key = process.env.BENCH_TLS_KEY;
  if (cert !== undefined && key !== undefined) {
    const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' });
    const wss = new WebSocketServer({ server, ...opts });
    wss.on('connection', (ws) => echo(ws));
    server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
    return;
  }
  const wss = new WebSocketServer({ host: '127.0.0.1', port, ...opts });
  wss.on('connection', (ws) => echo(ws));
  wss.on('listening', () => process.stdout.write('ready\n'));
}

async function binaries(url: string, ids: string[]): Promise<void> {
  await Promise.all(
    ids.map(
      (id) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`${url}/v1/server`, {
            perMessageDeflate: false,
            ...(url.startsWith('wss:') ? clientTls() : {}),
            headers: { 'x-pyrycode-server': id, 'x-pyrycode-version': 'bench', 'user-agent': 'bench-load' },
          });
          ws.once('open', () => {
            echo(ws, true);
            resolve();
          });
          ws.once('error', reject);
          ws.once('close', (code) => reject(new Error(`binary ${id} closed ${code}`)));
        }),
    ),
  );
  process.stdout.write('ready\n');
}

if (isMain(import.meta.url)) {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === 'server') serve(Number(a));
  else
    binaries(a!, b!.split(',')).catch((err: unknown) => {
      process.stderr.write(`echo: ${String(err)}\n`);
      process.exit(1);
    });
}
