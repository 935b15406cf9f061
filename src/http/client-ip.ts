// Client IP for admission control (operations.md §4). The socket peer by default;
// with --trust-x-forwarded-for the left-most X-Forwarded-For entry (trimmed),
// falling back to the peer when the header is absent or blank; on a connection
// that came through the PROXY v2 front, the header's source address and nothing
// else. Addresses are canonicalised so one client maps to one bucket whatever
// spelling reached us (IPv4-mapped IPv6 → dotted IPv4, IPv6 compressed lower-case).
import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6, type Socket } from 'node:net';
import { parentSocket } from '../lib/internals.js';
import { Header } from '../protocol.js';

const kProxiedIp = Symbol('proxiedClientIp');
type Marked = { [kProxiedIp]?: string };

/** Records the PROXY v2 source address on the raw TCP socket (set by the PROXY front). */
export function setProxiedClientIp(socket: Socket, ip: string): void {
  (socket as unknown as Marked)[kProxiedIp] = ip;
}

/**
 * The PROXY v2 source address recorded for this socket, if any. Behind TLS the
 * request's socket is a TLSSocket wrapping the raw one, so the parent is checked too.
 */
export function proxiedClientIp(socket: unknown): string | undefined {
  const s = socket as Marked | undefined;
  if (s === undefined || s === null) return undefined;
  return s[kProxiedIp] ?? (parentSocket(s) as Marked | undefined)?.[kProxiedIp];
}

/**
 * Canonical text of an IP literal, or undefined when `text` is not one. A zone
 * suffix (`%eth0`) is dropped: it is local routing detail, not client identity.
 */
export function canonicalIp(text: string): string | undefined {
  let s = text.trim();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIPv4(s)) return s;
  if (!isIPv6(s)) return undefined;
  let host: string;
  try {
    host = new URL(`http://[${s}]/`).hostname.slice(1, -1); // WHATWG serialises IPv6 canonically
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped !== null) {
    const hi = parseInt(mapped[1] as string, 16);
    const lo = parseInt(mapped[2] as string, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}

/**
 * The left-most X-Forwarded-For entry, trimmed; undefined when the header is
 * absent or blank. A non-blank header with an empty first entry (", 1.2.3.4")
 * yields "", which admission denies rather than charging the proxy's own IP.
 */
export function leftmostForwardedFor(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  // Node joins repeated X-Forwarded-For headers with ", ", so the first one wins.
  const joined = Array.isArray(header) ? header.join(',') : header;
  if (joined.trim() === '') return undefined;
  return joined.split(',')[0]?.trim() ?? '';
}

export type ClientIpResolver = (req: IncomingMessage) => string | undefined;

/**
 * Builds the resolver. Returns undefined for an empty or unparseable address,
 * which admission denies. The PROXY header wins over X-Forwarded-For: behind a
 * TCP pass-through proxy the HTTP headers come straight from the client.
 */
export function clientIpResolver(opts: { trustXForwardedFor: boolean }): ClientIpResolver {
  return (req) => {
    const proxied = proxiedClientIp(req.socket);
    if (proxied !== undefined) return proxied;
    if (opts.trustXForwardedFor) {
      const forwarded = leftmostForwardedFor(req.headers[Header.forwardedFor]);
      if (forwarded !== undefined) return canonicalIp(forwarded);
    }
    const peer = req.socket.remoteAddress;
    return peer === undefined ? undefined : canonicalIp(peer);
  };
}
