// The admission seam (operations.md §4). Every request to /v1/server or
// /v1/client asks `admit` before anything else happens; a refusal is answered
// with its status and never reaches the header check, the WebSocket handshake or
// the registry. An accepted request holds its slot until `release` is called,
// which the router does exactly once when the connection ends.
import type { IncomingMessage } from 'node:http';
import type { Endpoint } from './headers.js';

export type AdmissionDecision =
  | { ok: true; clientIp: string; release: () => void }
  | { ok: false; status: number; body: string; headers?: Record<string, string> };

export interface Admission {
  admit(req: IncomingMessage, endpoint: Endpoint, upgrade: boolean): AdmissionDecision;
}

const noop = (): void => {};

/** No limits: every request is admitted and the client IP is the socket peer. */
export const openAdmission: Admission = {
  admit(req) {
    return { ok: true, clientIp: req.socket.remoteAddress ?? '', release: noop };
  },
};
