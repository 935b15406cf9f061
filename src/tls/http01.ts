// The HTTP-01 listener (operations.md §8): answers
// GET/HEAD /.well-known/acme-challenge/<token> for tokens of an issuance in
// flight and 404 with an empty body for everything else — no redirect to
// HTTPS, so a client that forgot wss:// fails loudly instead of being bounced.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isAcmeToken, type ChallengeStore } from './challenges.js';
import { installHeaderTimeout } from '../http/header-timeout.js';

const PREFIX = '/.well-known/acme-challenge/';

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Length': '0' });
  res.end();
}

export function createHttp01Server(challenges: ChallengeStore, headerTimeoutMs: number): Server {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const token = url.startsWith(PREFIX) ? url.slice(PREFIX.length) : undefined;
    if (token === undefined || !isAcmeToken(token) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      notFound(res);
      return;
    }
    challenges.get(token).then(
      (answer) => {
        if (answer === undefined) {
          notFound(res);
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(answer), 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : answer);
      },
      () => {
        res.writeHead(503, { 'Content-Length': '0' });
        res.end();
      },
    );
  });
  installHeaderTimeout(server, headerTimeoutMs);
  // Upgrades are not challenges either: 404 and close.
  server.on('upgrade', (_req, socket) => {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}
