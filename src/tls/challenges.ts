// Pending HTTP-01 challenges: token → key authorization, written by the issuer
// while an order runs and read by the HTTP-01 listener. A single relay keeps
// them in memory; a cluster keeps them in Redis (src/cluster/acme-redis.ts) so
// the node the CA's validation request lands on answers for whichever node
// placed the order.

export interface ChallengeStore {
  put(token: string, keyAuthorization: string): Promise<void>;
  /** The key authorization for `token`, undefined when no order published it. */
  get(token: string): Promise<string | undefined>;
  remove(token: string): Promise<void>;
}

/**
 * ACME tokens are base64url (RFC 8555 §8.3, at least 128 bits). Anything else
 * never reaches a store: a request path cannot name a key it was not meant to.
 */
export function isAcmeToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{16,256}$/.test(token);
}

export class MemoryChallenges implements ChallengeStore {
  private readonly pending = new Map<string, string>();

  put(token: string, keyAuthorization: string): Promise<void> {
    this.pending.set(token, keyAuthorization);
    return Promise.resolve();
  }

  get(token: string): Promise<string | undefined> {
    return Promise.resolve(this.pending.get(token));
  }

  remove(token: string): Promise<void> {
    this.pending.delete(token);
    return Promise.resolve();
  }
}
