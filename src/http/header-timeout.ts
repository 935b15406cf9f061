// Slow-loris guard (relay-behaviour.md §6): a new TCP connection must finish
// its request headers within the header timeout, or it is destroyed without a
// response. An absolute deadline, not an idle timer, so trickling one byte at a
// time does not extend it. Later keep-alive requests fall to Node's own
// headersTimeout.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

const kTimer = Symbol('headerTimer');
type Timed = Socket & { [kTimer]?: NodeJS.Timeout };

export function disarmHeaderTimeout(socket: Socket): void {
  const s = socket as Timed;
  const timer = s[kTimer];
  if (timer !== undefined) {
    clearTimeout(timer);
    s[kTimer] = undefined;
  }
}

export function armHeaderTimeout(socket: Socket, ms: number): void {
  const s = socket as Timed;
  s[kTimer] = setTimeout(() => socket.destroy(), ms);
  s[kTimer].unref();
  socket.once('close', () => disarmHeaderTimeout(socket));
}

/**
 * Applies the guard to every connection `server` accepts. `connectionEvent` is
 * 'connection' for plain HTTP and 'secureConnection' behind TLS.
 */
export function installHeaderTimeout(server: Server, ms: number, connectionEvent = 'connection'): void {
  server.on(connectionEvent, (socket: Socket) => armHeaderTimeout(socket, ms));
  server.on('request', (req) => disarmHeaderTimeout(req.socket));
  server.on('upgrade', (req) => disarmHeaderTimeout(req.socket));
  server.headersTimeout = ms;
}
