// Listen-address grammar (operations.md §1): host:port, :port or [v6]:port, the shapes
// Go's net.SplitHostPort accepts, plus the host-name and loopback tests the flag rules
// need. Violations throw Rule; the caller names the flag.
import { isIPv6 } from 'node:net';
import { Rule } from './errors.js';

export interface ListenAddress {
  /** undefined = all interfaces, as Go's ":8080". IPv6 without brackets. */
  host: string | undefined;
  port: number;
  /** As given on the command line. */
  text: string;
}

export const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function isHostname(s: string): boolean {
  // Dotted all-digit names are malformed IPv4 literals, not names to resolve.
  return HOSTNAME.test(s) && !/^[\d.]+$/.test(s);
}

/** host:port, :port or [v6]:port with a decimal port 1–65535 (Go's net.SplitHostPort shapes). */
export function parseListenAddress(text: string): ListenAddress {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw new Rule("missing ']' in address");
    host = text.slice(1, end);
    if (text[end + 1] !== ':') throw new Rule('must be host:port, :port or [ipv6]:port');
    portText = text.slice(end + 2);
    if (!isIPv6(host)) throw new Rule('brackets must hold an IPv6 address');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new Rule('missing port; must be host:port, :port or [ipv6]:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw new Rule('an IPv6 host must be written in brackets, e.g. [::1]:8080');
    if (host !== '' && !IPV4.test(host) && !isHostname(host)) throw new Rule('host must be an IP address or a host name');
  }
  if (!/^\d{1,5}$/.test(portText)) throw new Rule('port must be a decimal number 1-65535');
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Rule('port must be 1-65535');
  return { host: host === '' ? undefined : host, port, text };
}

/** 127.0.0.0/8, ::1, or IPv4-mapped 127/8 (Go's net.IP.IsLoopback on an IP literal). */
export function isLoopbackLiteral(host: string): boolean {
  if (IPV4.test(host)) return host.startsWith('127.');
  if (!isIPv6(host) || host.includes('%')) return false;
  let canonical: string;
  try {
    canonical = new URL(`http://[${host}]/`).hostname; // WHATWG serialises IPv6 canonically
  } catch {
    return false;
  }
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}
