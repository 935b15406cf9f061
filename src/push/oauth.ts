// OAuth access tokens for FCM (operations.md §9): a service-account JWT (RS256,
// scope firebase.messaging) signed with jose and exchanged at the key's token_uri.
// The token is cached until `refreshMarginMs` before it expires, and concurrent
// senders share one fetch. The shared fetch belongs to this object, not to any
// one sender: a sender that gives up stops waiting, it does not cancel the fetch
// for the others. Only close() cancels it. jose is loaded on first use, so a
// relay with push off never pays for it at boot.
import { boundedPost, HttpFailure } from './bounded-http.js';
import { oauthError } from './reply.js';
import type { ServiceAccount } from '../ops/service-account.js';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const ASSERTION_LIFETIME_S = 3600;
/** Google issues 3600 s tokens; a reply without a usable expires_in is trusted this long. */
const DEFAULT_EXPIRES_S = 3600;
const MAX_EXPIRES_S = 86_400;
/** RFC 6750 b64token, which is all an Authorization header can carry anyway. */
const BEARER = /^[A-Za-z0-9\-._~+/]+=*$/;

export interface AccessTokenOptions {
  account: ServiceAccount;
  timeoutMs: number;
  maxReplyBytes: number;
  /** Refetch this long before the token's stated expiry. */
  refreshMarginMs: number;
}

/** The token could not be obtained; `message` is safe to log. */
export class TokenFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFetchError';
  }
}

export class AccessTokens {
  private cached: { token: string; expiresAt: number } | undefined;
  private inflight: Promise<string> | undefined;
  private readonly closing = new AbortController();

  constructor(private readonly opts: AccessTokenOptions) {}

  /** A valid access token; rejects with TokenFetchError, or when `signal` aborts. */
  get(signal: AbortSignal): Promise<string> {
    const c = this.cached;
    if (c !== undefined && Date.now() < c.expiresAt) return Promise.resolve(c.token);
    if (this.inflight === undefined) {
      const p = this.fetchToken().finally(() => {
        this.inflight = undefined;
      });
      // Waiters may all have given up; a rejection with no listener must not crash the process.
      p.catch(() => undefined);
      this.inflight = p;
    }
    return untilAborted(this.inflight, signal);
  }

  /** Forgets `token` if it is still the cached one (FCM answered 401 to it). */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  close(): void {
    this.closing.abort();
  }

  private async fetchToken(): Promise<string> {
    const { account } = this.opts;
    let assertion: string;
    try {
      const { SignJWT } = await import('jose');
      assertion = await new SignJWT({ scope: FCM_SCOPE })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .setIssuer(account.clientEmail)
        .setAudience(account.tokenUri)
        .setIssuedAt()
        .setExpirationTime(`${ASSERTION_LIFETIME_S}s`)
        .sign(account.privateKey);
    } catch {
      throw new TokenFetchError('jwt signing failed');
    }
    const started = Date.now();
    let reply;
    try {
      reply = await boundedPost(account.tokenUri, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
        timeoutMs: this.opts.timeoutMs,
        maxReplyBytes: this.opts.maxReplyBytes,
        signal: this.closing.signal,
      });
    } catch (err) {
      throw new TokenFetchError(`oauth ${err instanceof HttpFailure ? err.message : 'error'}`);
    }
    if (reply.status < 200 || reply.status > 299) {
      const code = oauthError(reply.body);
      throw new TokenFetchError(`oauth http ${reply.status}${code === undefined ? '' : ` ${code}`}`);
    }
    const doc = parseObject(reply.body);
    const token = doc?.access_token;
    if (typeof token !== 'string' || !BEARER.test(token)) throw new TokenFetchError('oauth reply without a usable access_token');
    const exp = doc?.expires_in;
    const expiresS = typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? Math.min(exp, MAX_EXPIRES_S) : DEFAULT_EXPIRES_S;
    // Measured from the request's start, so a slow reply only shortens the reuse window.
    this.cached = { token, expiresAt: started + expiresS * 1000 - this.opts.refreshMarginMs };
    return token;
  }
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `p`, or a TokenFetchError as soon as `signal` aborts (the shared fetch carries on). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new TokenFetchError('oauth cancelled'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new TokenFetchError('oauth cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new TokenFetchError('oauth error'));
      },
    );
  });
}
