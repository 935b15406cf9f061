// Host check for the TLS listener, applied by the router (operations.md §8): a request
// whose Host, port stripped and compared case-insensitively, is not the domain (ACME
// mode) or not a name the serving certificate covers (certificate-file mode) gets 421
// Misdirected Request. Keeps the relay from answering for names it was not
// configured for (another vhost pointed at this IP, DNS rebinding).
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/** The host part of a Host header value: "[v6]:port" → "[v6]", "name:port" → "name". */
export function hostWithoutPort(value: string): string {
  const v = value.trim();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    return end === -1 ? v : v.slice(0, end + 1);
  }
  const colon = v.indexOf(':');
  return colon === -1 ? v : v.slice(0, colon);
}

export function hostMatches(header: string | undefined, domain: string): boolean {
  if (header === undefined) return false;
  return hostWithoutPort(header).toLowerCase() === domain.toLowerCase();
}

/** Whether a request's Host header may be answered on the TLS listener (else 421). */
export type HostGate = (header: string | undefined) => boolean;

/** ACME mode: exactly the domain. */
export function domainGate(domain: string): HostGate {
  return (header) => hostMatches(header, domain);
}

/**
 * Certificate-file mode: any name the serving certificate is valid for — its
 * DNS names (wildcards as TLS clients match them), or an IP address it lists.
 * `leaf` is read per request, so a reloaded certificate's names apply at once.
 */
export function certificateGate(leaf: () => X509Certificate): HostGate {
  return (header) => {
    if (header === undefined) return false;
    const host = hostWithoutPort(header);
    if (host === '') return false;
    const ip = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (isIP(ip) !== 0) return leaf().checkIP(ip) !== undefined;
    return leaf().checkHost(host.toLowerCase()) !== undefined;
  };
}
