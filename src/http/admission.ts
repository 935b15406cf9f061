// The admission seam (operations.md §4). Every request to /v1/server or
// /v1/client asks `admit` before anything else happens; a refusal is answered
// with its status and never reaches the header check, the WebSocket handshake or
// the registry. An accepted request holds its slot until `release` is called,
// which the router does exactly once when the connection ends.
//
// `createAdmission` is the real policy, in the spec's order: client IP (empty
// or unparseable → denied), per-IP token bucket → 429 + Retry-After, global
// connection cap → 503, per-IP connection cap → 429.
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../ops/logger.js';
import type { RelayMetrics } from '../ops/metrics.js';
import { clientIpResolver } from './client-ip.js';
import { ConnectionCaps } from './connection-caps.js';
import type { Endpoint } from './headers.js';
import { RateLimiter } from './rate-limit.js';

export type AdmissionDecision =
  { ok: true; clientIp: string; release: () => void } | { ok: false; status: number; body: string; headers?: Record<string, string> };

export interface Admission {
  admit(req: IncomingMessage, endpoint: Endpoint, upgrade: boolean): AdmissionDecision;
  /** Stops background work (the bucket sweep). */
  close?(): void;
}

export interface AdmissionOptions {
  trustXForwardedFor: boolean;
  rateLimitBurst: number;
  rateLimitRefillMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Tests shorten the 5-minute sweep. */
  sweepIntervalMs?: number;
  maxBuckets?: number;
}

export function createAdmission(opts: AdmissionOptions, deps: { logger: Logger; metrics: RelayMetrics }): Admission {
  const { logger, metrics } = deps;
  const resolveIp = clientIpResolver({ trustXForwardedFor: opts.trustXForwardedFor });
  const limiter = new RateLimiter({
    burst: opts.rateLimitBurst,
    refillMs: opts.rateLimitRefillMs,
    sweepIntervalMs: opts.sweepIntervalMs,
    maxBuckets: opts.maxBuckets,
  });
  const caps = new ConnectionCaps(opts.maxConnections, opts.maxConnectionsPerIp);
  metrics.admissionSource = { buckets: () => limiter.size, open: () => caps.open };

  const rateLimited = (endpoint: Endpoint, retryAfterSeconds: number): AdmissionDecision => {
    metrics.upgrades[endpoint].reject_rate_limit.inc();
    metrics.registerFailures.ratelimit.inc();
    metrics.admissionRejects.rate_limit.inc();
    return {
      ok: false,
      status: 429,
      body: 'rate limited',
      headers: { 'Retry-After': String(retryAfterSeconds) },
    };
  };

  return {
    admit(req, endpoint) {
      const ip = resolveIp(req);
      if (ip === undefined) {
        logger.warn('rate_limited', { remote: '', reason: 'no usable client IP' });
        return rateLimited(endpoint, 1);
      }
      const taken = limiter.take(ip);
      if (!taken.ok) {
        logger.warn('rate_limited', { remote: ip });
        return rateLimited(endpoint, taken.retryAfterSeconds);
      }
      const slot = caps.acquire(ip);
      if (!slot.ok) {
        if (slot.reason === 'conn_cap') {
          metrics.admissionRejects.conn_cap.inc();
          logger.warn('conn_cap_reached', { remote: ip, count: opts.maxConnections });
          return { ok: false, status: 503, body: 'relay at connection capacity' };
        }
        metrics.admissionRejects.ip_conn_cap.inc();
        logger.warn('ip_conn_cap_reached', { remote: ip, count: opts.maxConnectionsPerIp });
        return { ok: false, status: 429, body: 'too many connections from this address' };
      }
      return { ok: true, clientIp: ip, release: slot.release };
    },
    close() {
      limiter.close();
    },
  };
}
