// The cluster's "one issuer at a time" contract (decision 0020): before a node
// orders or renews it takes the lock; the other nodes wait and pick up the
// certificate it stores. A single relay has no peers and takes no lock.

export interface LockLease {
  /** The lock's random value: fenced writes name it and fail once the lock has moved on. */
  readonly fence: string;
  /** False once a renewal found the lock expired or held by another node. */
  readonly held: boolean;
  /** Gives the lock up if it is still ours (compare-and-delete); never throws. */
  release(): Promise<void>;
  /**
   * After a failed order: counts the failure cluster-wide (a stored certificate
   * resets the count) and keeps the lock, unrenewed, for `delayFor(count)` ms, so
   * no node orders again before the backoff — the CA's failed-validation limits
   * count the cluster's orders, not one node's. A later release() is a no-op.
   */
  backOff(delayFor: (failures: number) => number): Promise<{ count: number; delayMs: number }>;
}

export interface IssuerLock {
  /** The lock, renewed in the background until released; undefined when another node holds it. */
  acquire(): Promise<LockLease | undefined>;
}

/** The nodes of a cluster sharing one certificate (absent on a single relay). */
export interface CertPeers {
  lock: IssuerLock;
  /** Calls `listener` when some node stored a new certificate; returns the unsubscribe. */
  onStored(listener: () => void): () => void;
}
