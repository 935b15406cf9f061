// PROXY protocol v2 front (operations.md §4, --https-proxy-protocol). A plain
// net.Server that accepts TCP, requires a v2 header (command PROXY, TCP over
// IPv4/IPv6) within `timeoutMs`, records its source address on the socket
// (client-ip.ts), puts back any bytes that followed the header, and hands the
// socket to `target` (an http.Server or tls.Server) as a 'connection'. Anything
// else — no header, v1, LOCAL, UDP/UNIX/UNSPEC, malformed, late — is destroyed
// without a byte written and never reaches `target`. Each socket waits on its
// own, so a stalled header never blocks other accepts. Parsing is delegated to
// proxy-protocol-js (docs/decisions/0005-proxy-protocol-js.md); this module only
// frames the header (16 bytes + declared length, at most 64 KiB) off the stream.
import { Server, type Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import { AddressFamilyType, Command, IPv4ProxyAddress, IPv6ProxyAddress, TransportProtocol, V2ProxyProtocol } from 'proxy-protocol-js';
import type { Logger } from '../ops/logger.js';
import type { ProxyRejectReason } from '../ops/metrics.js';
import { canonicalIp, setProxiedClientIp } from './client-ip.js';

export const PROXY_HEADER_TIMEOUT_MS = 5000;

export type { ProxyRejectReason };

export interface ProxyFrontOptions {
  timeoutMs: number;
  logger: Logger;
  /** Called once per refused connection (metrics). */
  onReject?: (reason: ProxyRejectReason) => void;
}

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const FIXED = 16;

type Framed = { kind: 'need' } | { kind: 'reject'; reason: ProxyRejectReason } | { kind: 'header'; length: number };

/** How far the bytes so far get us: keep reading, refuse, or a whole header of `length` bytes. */
function frame(buf: Buffer): Framed {
  const n = Math.min(buf.length, SIGNATURE.length);
  if (!buf.subarray(0, n).equals(SIGNATURE.subarray(0, n))) {
    const m = Math.min(buf.length, V1_PREFIX.length);
    return { kind: 'reject', reason: buf.subarray(0, m).equals(V1_PREFIX.subarray(0, m)) ? 'v1' : 'missing' };
  }
  if (buf.length < FIXED) return { kind: 'need' };
  const length = FIXED + buf.readUInt16BE(14);
  return buf.length < length ? { kind: 'need' } : { kind: 'header', length };
}

function ipv6Text(bytes: readonly number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

/** The client IP from a complete v2 header, or why it is refused. */
export function parseProxyV2(header: Uint8Array): { ok: true; ip: string } | { ok: false; reason: ProxyRejectReason } {
  let proto: V2ProxyProtocol;
  try {
    proto = V2ProxyProtocol.parse(header);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (proto.command !== Command.PROXY) return { ok: false, reason: 'local' };
  if (proto.transportProtocol !== TransportProtocol.STREAM) return { ok: false, reason: 'not_tcp' };
  let text: string;
  const addr = proto.proxyAddress;
  if (proto.addressFamilyType === AddressFamilyType.INET && addr instanceof IPv4ProxyAddress) {
    text = addr.sourceAddress.address.join('.');
  } else if (proto.addressFamilyType === AddressFamilyType.INET6 && addr instanceof IPv6ProxyAddress) {
    text = ipv6Text(addr.sourceAddress.address);
  } else {
    return { ok: false, reason: 'not_tcp' };
  }
  const ip = canonicalIp(text);
  return ip === undefined ? { ok: false, reason: 'malformed' } : { ok: true, ip };
}

class ProxyProtocolFront extends Server {
  private readonly pending = new Set<Socket>();

  constructor(
    private readonly target: Server,
    private readonly opts: ProxyFrontOptions,
  ) {
    super();
    this.on('connection', (socket: Socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    this.pending.add(socket);
    let buf: Buffer = Buffer.alloc(0);
    const refuse = (reason: ProxyRejectReason): void => {
      finish();
      this.opts.logger.debug('proxy_header_rejected', { reason, remote: socket.remoteAddress });
      // destroy(), not end(): nothing at all goes back to the peer.
      socket.destroy();
      this.opts.onReject?.(reason);
    };
    const timer = setTimeout(() => refuse('timeout'), this.opts.timeoutMs);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const f = frame(buf);
      if (f.kind === 'need') return;
      if (f.kind === 'reject') {
        refuse(f.reason);
        return;
      }
      const parsed = parseProxyV2(buf.subarray(0, f.length));
      if (!parsed.ok) {
        refuse(parsed.reason);
        return;
      }
      finish();
      socket.pause();
      const rest = buf.subarray(f.length);
      if (rest.length > 0) socket.unshift(rest);
      setProxiedClientIp(socket, parsed.ip);
      this.target.emit('connection', socket);
      // http.Server reads through the stream and needs it flowing again; a
      // tls.Server has taken the buffered bytes and the handle, and resuming the
      // raw socket there would steal its reads.
      if (!(this.target instanceof TlsServer)) socket.resume();
    };
    const onClose = (): void => finish();
    const finish = (): void => {
      clearTimeout(timer);
      this.pending.delete(socket);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const onError = (): void => {
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  }

  /** Stops accepting and drops connections still waiting for their header. */
  override close(callback?: (err?: Error) => void): this {
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    return super.close(callback);
  }
}

/**
 * Fronts `target` with the PROXY v2 requirement. Listen on the returned server;
 * `target` itself is never bound.
 */
export function proxyProtocolFront(target: Server, opts: ProxyFrontOptions): Server {
  return new ProxyProtocolFront(target, opts);
}
