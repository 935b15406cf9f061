// WebSocket handshake validation as the Go relay's library does it
// (coder/websocket 1.8 `Accept`, protocol.md §1), run after the relay's own
// header checks. Pure: takes the request line and headers, returns the Go
// status and headers, or the validated key. `ws` alone would answer some of
// these differently (it accepts HTTP/1.0 and the draft version 8), so the
// relay decides first and only hands `ws` requests Go would accept.
import type { IncomingHttpHeaders } from 'node:http';

export interface HandshakeRequest {
  httpVersionMajor: number;
  httpVersionMinor: number;
  method?: string | undefined;
  headers: IncomingHttpHeaders;
  /** Every received value per header name (Node's `req.headersDistinct`). */
  headersDistinct: Record<string, string[] | undefined>;
}

export type HandshakeCheck =
  | { ok: true; key: string }
  | {
      ok: false;
      status: number;
      body: string;
      headers: Record<string, string>;
    };

const UPGRADE_REQUIRED = { Connection: 'Upgrade', Upgrade: 'websocket' };

// 16 bytes in standard padded base64: 22 symbols then `==`.
const KEY = /^[A-Za-z0-9+/]{22}==$/;

function fail(status: number, body: string, headers: Record<string, string> = {}): HandshakeCheck {
  return { ok: false, status, body, headers };
}

/** Whether a comma-separated header (all its lines) holds `token`, ignoring case and spaces. */
export function hasToken(values: string[] | undefined, token: string): boolean {
  if (values === undefined) return false;
  for (const value of values) {
    for (const part of value.split(',')) {
      if (part.trim().toLowerCase() === token) return true;
    }
  }
  return false;
}

export function checkHandshake(req: HandshakeRequest): HandshakeCheck {
  const { httpVersionMajor: major, httpVersionMinor: minor, headersDistinct: all } = req;
  if (major < 1 || (major === 1 && minor < 1)) return fail(426, 'websocket handshake requires HTTP/1.1');
  if (!hasToken(all['connection'], 'upgrade')) return fail(426, 'connection header must contain upgrade', UPGRADE_REQUIRED);
  if (!hasToken(all['upgrade'], 'websocket')) return fail(426, 'upgrade header must contain websocket', UPGRADE_REQUIRED);
  if (req.method !== 'GET') return fail(405, 'websocket handshake method must be GET');
  // Go reads the first value only; every other version, including the draft 8, is refused.
  if (all['sec-websocket-version']?.[0] !== '13') {
    return fail(400, 'unsupported websocket version', {
      'Sec-WebSocket-Version': '13',
    });
  }
  const keys = all['sec-websocket-key'];
  if (keys === undefined || keys.length === 0) return fail(400, 'missing sec-websocket-key');
  if (keys.length > 1) return fail(400, 'multiple sec-websocket-key headers');
  const key = keys[0]!.trim();
  if (!KEY.test(key)) return fail(400, 'invalid sec-websocket-key');
  return { ok: true, key };
}

/**
 * Rewrites an accepted request's headers into the one form `ws` accepts, so it
 * answers exactly as Go would: Go takes `Upgrade: websocket, h2c` and repeated
 * version lines, where `ws` wants single exact values; and Go selects no
 * subprotocol and never parses the offer, where `ws` refuses a malformed one.
 */
export function canonicalForWs(headers: IncomingHttpHeaders, key: string): void {
  headers.upgrade = 'websocket';
  headers['sec-websocket-version'] = '13';
  headers['sec-websocket-key'] = key;
  delete headers['sec-websocket-protocol'];
}
