// Host check for the TLS listener, applied by the router (operations.md §8): a request whose Host,
// port stripped and compared case-insensitively, is not the domain gets 421
// Misdirected Request. Keeps the relay from answering for names it was not
// configured for (another vhost pointed at this IP, DNS rebinding).

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
