// ACME mode in a cluster (decision 0020): the certificate, the ACME account key,
// pending HTTP-01 tokens and the issuer lock live in Redis under the cluster
// prefix, so the cluster orders one certificate per domain, any node answers a
// challenge, and every node serves what the issuer stored. The certificate's
// private key is stored here: Redis must be private to the relays and ACL'd to
// the prefix (operations.md), and nothing here ever logs a value it reads.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  bundleText,
  newEcKeyPem,
  parseBundle,
  privateKeyPem,
  StaleFenceError,
  UnusableCertError,
  type CertBundle,
  type CertStore,
} from '../tls/cert-store.js';
import type { ChallengeStore } from '../tls/challenges.js';
import type { CertPeers, IssuerLock, LockLease } from '../tls/issuer-lock.js';
import type { AcmeSharing } from '../tls/tls-mode.js';
import type { ClusterKeys, NodeRef } from './keys.js';
import { connectBy, toClusterError, type ClusterRedisError } from './redis-client.js';

export interface AcmeKeys {
  /** STRING: the ACME account key PEM (one account for the cluster). */
  readonly account: string;
  /** STRING: one domain's key and chain, autocert's file layout. */
  cert(domain: string): string;
  /** STRING with a PX expiry: the issuer lock's random value. */
  lock(domain: string): string;
  /** Counter with a PX expiry: consecutive failed orders, cluster-wide; a stored certificate deletes it. */
  failures(domain: string): string;
  /** STRING with a PX expiry: a pending HTTP-01 key authorization. */
  challenge(token: string): string;
  /** Pub/sub: a domain name, published when its stored certificate changes. */
  readonly channel: string;
}

export function acmeKeys(keys: ClusterKeys): AcmeKeys {
  const p = `${keys.prefix}:acme:`;
  return {
    account: `${p}account`,
    cert: (domain) => `${p}cert:${domain}`,
    lock: (domain) => `${p}lock:${domain}`,
    failures: (domain) => `${p}failures:${domain}`,
    challenge: (token) => `${p}http01:${token}`,
    channel: `${p}certs`,
  };
}

export const ACME_CLUSTER_DEFAULTS = {
  /** Lock lifetime; renewed every third of it while an order runs, so only a dead holder lets it lapse. */
  lockTtlMs: 60_000,
  /** A pending token outlives any order (ACME validation takes seconds); a dead orderer's tokens expire. */
  challengeTtlMs: 10 * 60_000,
  /** A failure count older than this is forgotten (twice the longest backoff). */
  failureMemoryMs: 2 * 60 * 60_000,
  /** How long boot waits for the notification subscription. */
  subscribeTimeoutMs: 5_000,
};

/** Errors leave this module as ClusterRedisError: a reason and a code, never a message from the wire. */
async function safe<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw toClusterError(err);
  }
}

// Write the certificate only while the lock still holds our value (fencing), clear
// the failure count and tell every node, in one step. An empty fence means an unfenced write.
const SAVE_CERT = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;
const COUNT_FAILURE = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n`;
const RENEW_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class RedisCertStore implements CertStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: AcmeKeys,
    private readonly domain: string,
  ) {}

  async loadCert(): Promise<CertBundle | undefined> {
    const text = await safe(this.redis.get(this.keys.cert(this.domain)));
    if (text === null) return undefined;
    try {
      return parseBundle(text, this.domain);
    } catch (err) {
      throw new UnusableCertError(err instanceof Error ? err.message : 'unreadable');
    }
  }

  async saveCert(keyPem: string, chainPem: string, fence?: string): Promise<void> {
    const done = await safe(
      this.redis.eval(
        SAVE_CERT,
        3,
        this.keys.lock(this.domain),
        this.keys.cert(this.domain),
        this.keys.failures(this.domain),
        fence ?? '',
        bundleText(keyPem, chainPem),
        this.keys.channel,
        this.domain,
      ),
    );
    if (done !== 1) throw new StaleFenceError();
  }

  async accountKey(): Promise<string> {
    // SET NX: when two nodes create one at once, both end up with the first.
    await safe(this.redis.set(this.keys.account, newEcKeyPem(), 'NX'));
    const stored = await safe(this.redis.get(this.keys.account));
    const pem = stored === null ? undefined : privateKeyPem(stored);
    if (pem === undefined) throw new Error('the stored ACME account key holds no private key');
    return pem;
  }
}

export class RedisChallenges implements ChallengeStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: AcmeKeys,
    private readonly ttlMs: number,
  ) {}

  async put(token: string, keyAuthorization: string): Promise<void> {
    await safe(this.redis.set(this.keys.challenge(token), keyAuthorization, 'PX', this.ttlMs));
  }

  async get(token: string): Promise<string | undefined> {
    return (await safe(this.redis.get(this.keys.challenge(token)))) ?? undefined;
  }

  async remove(token: string): Promise<void> {
    await safe(this.redis.del(this.keys.challenge(token)));
  }
}

/** SET NX PX with a random value, renewed while held, released by compare-and-delete. */
export class RedisIssuerLock implements IssuerLock {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly failuresKey: string,
    private readonly ttlMs: number,
    private readonly failureMemoryMs = ACME_CLUSTER_DEFAULTS.failureMemoryMs,
  ) {}

  async acquire(): Promise<LockLease | undefined> {
    const fence = randomBytes(16).toString('hex');
    const got = await safe(this.redis.set(this.key, fence, 'PX', this.ttlMs, 'NX'));
    if (got !== 'OK') return undefined;
    const { redis, key, ttlMs, failuresKey, failureMemoryMs } = this;
    let held = true;
    // Once backing off, the lock must outlive the lease: release() leaves it alone.
    let backingOff = false;
    const renew = setInterval(
      () => {
        redis.eval(RENEW_LOCK, 1, key, fence, ttlMs).then(
          (ok) => {
            if (ok !== 1) {
              held = false;
              clearInterval(renew);
            }
          },
          // A failed renewal is retried at the next tick; the fenced save is the real guard.
          () => undefined,
        );
      },
      Math.max(1, Math.floor(ttlMs / 3)),
    );
    renew.unref();
    return {
      fence,
      get held() {
        return held;
      },
      async release() {
        clearInterval(renew);
        held = false;
        if (backingOff) return;
        // A failed release only delays the next issuer by the lock's remaining TTL.
        await redis.eval(RELEASE_LOCK, 1, key, fence).catch(() => undefined);
      },
      async backOff(delayFor) {
        clearInterval(renew);
        held = false;
        backingOff = true;
        const count = Number(await safe(redis.eval(COUNT_FAILURE, 1, failuresKey, failureMemoryMs)));
        const delayMs = Math.max(1, delayFor(count));
        // The lock, if still ours, now lapses when the backoff ends.
        await safe(redis.eval(RENEW_LOCK, 1, key, fence, delayMs));
        return { count, delayMs };
      },
    };
  }
}

export interface ClusterAcmeOptions {
  lockTtlMs?: number;
  challengeTtlMs?: number;
  subscribeTimeoutMs?: number;
  /** Errors of the notification connection, mapped (safe to log). */
  onRedisError?: (err: ClusterRedisError) => void;
}

/** What openClusterAcme needs of a booted node (a ClusterNode fits). */
export interface AcmeNode {
  keys: ClusterKeys;
  ref: NodeRef;
  connections: { registry: Redis };
}

export interface ClusterAcme extends AcmeSharing {
  /** Closes the notification connection. */
  close(): void;
}

/**
 * The shared ACME state of a booted cluster node, for openTlsMode (via
 * AppDeps.acme). Opens one extra connection, subscribed to the notification
 * channel, before it returns; throws RedisUnavailableError when it cannot.
 */
export async function openClusterAcme(node: AcmeNode, opts: ClusterAcmeOptions = {}): Promise<ClusterAcme> {
  const keys = acmeKeys(node.keys);
  const redis = node.connections.registry;
  const lockTtlMs = opts.lockTtlMs ?? ACME_CLUSTER_DEFAULTS.lockTtlMs;
  // Same target and credentials as the registry connection, never re-read from the URL.
  const sub = redis.duplicate({
    connectionName: `pyrycode-relay:acme-sub:${node.ref}`,
    lazyConnect: true,
    enableOfflineQueue: true,
    autoResubscribe: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  });
  sub.on('error', (err: unknown) => opts.onRedisError?.(toClusterError(err)));
  const listeners = new Map<string, Set<() => void>>();
  const notify = (domain: string): void => {
    for (const l of listeners.get(domain) ?? []) l();
  };
  sub.on('message', (channel: string, domain: string) => {
    if (channel === keys.channel) notify(domain);
  });
  let readyOnce = false;
  sub.on('ready', () => {
    // After a reconnect a notification may have been missed while the link was down.
    if (readyOnce) for (const domain of listeners.keys()) notify(domain);
    readyOnce = true;
  });
  try {
    await connectBy(sub, performance.now() + (opts.subscribeTimeoutMs ?? ACME_CLUSTER_DEFAULTS.subscribeTimeoutMs));
    await safe(sub.subscribe(keys.channel));
  } catch (err) {
    sub.disconnect();
    throw err;
  }
  const challenges = new RedisChallenges(redis, keys, opts.challengeTtlMs ?? ACME_CLUSTER_DEFAULTS.challengeTtlMs);
  return {
    challenges,
    certStore: (domain) => new RedisCertStore(redis, keys, domain),
    peers: (domain): CertPeers => ({
      lock: new RedisIssuerLock(redis, keys.lock(domain), keys.failures(domain), lockTtlMs),
      onStored(listener) {
        let set = listeners.get(domain);
        if (set === undefined) listeners.set(domain, (set = new Set()));
        set.add(listener);
        return () => set.delete(listener);
      },
    }),
    close: () => sub.disconnect(),
  };
}
