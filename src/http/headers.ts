// Upgrade header checks (protocol.md §2). Pure: takes the request's headers,
// returns what the relay needs or a fixed 400 body. Bodies name the problem and
// never echo a value the client sent.
import type { IncomingHttpHeaders } from 'node:http';
import { Header } from '../protocol.js';

export type Endpoint = 'server' | 'client';

export const MAX_SERVER_ID_BYTES = 256;

export type HeaderCheck = { ok: true; serverId: string; version: string; deviceName: string | undefined } | { ok: false; body: string };

const REQUIRED: Record<Endpoint, readonly string[]> = {
  server: [Header.serverId, Header.version, Header.userAgent],
  client: [Header.serverId, Header.token, Header.userAgent],
};

function single(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Printable ASCII without space (0x21–0x7E), at most 256 bytes. */
export function isValidServerId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_SERVER_ID_BYTES) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

export function checkUpgradeHeaders(endpoint: Endpoint, headers: IncomingHttpHeaders): HeaderCheck {
  for (const name of REQUIRED[endpoint]) {
    if (single(headers[name]).trim() === '') return { ok: false, body: `missing header: ${name}` };
  }
  const serverId = single(headers[Header.serverId]).trim();
  if (!isValidServerId(serverId)) return { ok: false, body: `invalid header: ${Header.serverId}` };
  const deviceName = single(headers[Header.deviceName]).trim();
  return {
    ok: true,
    serverId,
    version: single(headers[Header.version]).trim(),
    deviceName: deviceName === '' ? undefined : deviceName,
  };
}
