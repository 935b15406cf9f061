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
