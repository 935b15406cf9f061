// Plain HTTP answers written straight onto a socket that asked to upgrade
// (there is no ServerResponse on the 'upgrade' path), then closed.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export function rejectUpgrade(socket: Duplex, status: number, body: string, extraHeaders: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  // The socket is closed either way; a 426 names the protocol to switch to instead.
  if (!Object.keys(extraHeaders).some((k) => k.toLowerCase() === 'connection')) head += 'Connection: close\r\n';
  if (body !== '') {
    head += `Content-Type: text/plain; charset=utf-8\r\n`;
  }
  head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [k, v] of Object.entries(extraHeaders)) head += `${k}: ${v}\r\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(`${head}\r\n${body}`);
}
