// The server-id registry (relay-behaviour.md §1–§2): which binary holds each
// server-id, which phones are attached to it, and the grace window. A pure state
// machine with no sockets, timers or clocks: callers hand it opaque connection
// handles and act on the decisions it returns. A cluster mode on a shared store
// implements this same contract; only connection lifecycle events reach it,
// never a per-frame operation.

/** Identity of a grace window, so a late or replaced timer can be recognised. */
export type GraceToken = number;

export type ClaimResult<B, P> =
  | { kind: 'claimed' }
  | { kind: 'reclaimed'; evicted: P[] }
  /** A live binary holds the slot: the caller must probe it and call resolveConflict. */
  | { kind: 'conflict'; incumbent: B };

export type ConflictResult<B, P> =
  | { kind: 'rejected' }
  | { kind: 'takeover'; displaced: B; evicted: P[] }
  | { kind: 'reclaimed'; evicted: P[] }
  | { kind: 'claimed' };

export type RegisterResult<B> =
  | { kind: 'registered'; binary: B; inGrace: boolean }
  | { kind: 'no_server' }
  | { kind: 'at_cap' };

export type ReleaseResult = { kind: 'grace'; token: GraceToken } | { kind: 'not_holder' };

export interface RegistryCounts {
  /** Binaries holding a slot, excluding those in grace. */
  binaries: number;
  phones: number;
}

export interface Registry<B, P extends { readonly connId: string }> {
  claim(serverId: string, binary: B): ClaimResult<B, P>;
  /** Settles a conflict probe: `incumbentAlive` is whether the incumbent answered in time. */
  resolveConflict(serverId: string, newcomer: B, incumbent: B, incumbentAlive: boolean): ConflictResult<B, P>;
  /** Check and insert in one step: 4404 before 4429, allowed during grace. */
  registerPhone(serverId: string, phone: P, maxPhones: number): RegisterResult<B>;
  /** Returns false when the phone was not registered (already evicted). */
  unregisterPhone(serverId: string, phone: P): boolean;
  /** The binary's connection ended. Only the current holder arms a grace window. */
  releaseBinary(serverId: string, binary: B): ReleaseResult;
  /** The grace timer fired. Returns the phones to close, or undefined for a stale token. */
  expireGrace(serverId: string, token: GraceToken): P[] | undefined;
  /** The live (not in grace) binary holding the slot. */
  holder(serverId: string): B | undefined;
  phone(serverId: string, connId: string): P | undefined;
  /** Phones attached to a server-id, e.g. to apply backpressure to all of them. */
  phones(serverId: string): Iterable<P>;
  counts(): RegistryCounts;
  /** Every slot's binary (live or in grace) and phones, for shutdown. */
  drainAll(): { binaries: B[]; phones: P[] };
}

interface Slot<B, P> {
  binary: B;
  /** Set while the binary is gone and the slot waits for it. */
  graceToken: GraceToken | undefined;
  phones: Map<string, P>;
}

export class MemoryRegistry<B, P extends { readonly connId: string }> implements Registry<B, P> {
  private readonly slots = new Map<string, Slot<B, P>>();
  private nextToken: GraceToken = 1;
  private liveBinaries = 0;
  private phoneCount = 0;

  claim(serverId: string, binary: B): ClaimResult<B, P> {
    const slot = this.slots.get(serverId);
    if (slot === undefined) {
      this.slots.set(serverId, { binary, graceToken: undefined, phones: new Map() });
      this.liveBinaries++;
      return { kind: 'claimed' };
    }
    if (slot.graceToken !== undefined) return { kind: 'reclaimed', evicted: this.install(slot, binary) };
    return { kind: 'conflict', incumbent: slot.binary };
  }

  resolveConflict(serverId: string, newcomer: B, incumbent: B, incumbentAlive: boolean): ConflictResult<B, P> {
    const slot = this.slots.get(serverId);
    // The slot emptied during the probe (grace expired already): a plain claim.
    if (slot === undefined) return this.claim(serverId, newcomer) as ConflictResult<B, P>;
    // Changed hands during the probe: treat as a conflict.
    if (slot.binary !== incumbent) return { kind: 'rejected' };
    // The incumbent disconnected during the probe: reclaim, no takeover.
    if (slot.graceToken !== undefined) return { kind: 'reclaimed', evicted: this.install(slot, newcomer) };
    if (incumbentAlive) return { kind: 'rejected' };
    const evicted = this.evictPhones(slot);
    slot.binary = newcomer;
    return { kind: 'takeover', displaced: incumbent, evicted };
  }

  registerPhone(serverId: string, phone: P, maxPhones: number): RegisterResult<B> {
    const slot = this.slots.get(serverId);
    if (slot === undefined) return { kind: 'no_server' };
    if (slot.phones.size >= maxPhones) return { kind: 'at_cap' };
    slot.phones.set(phone.connId, phone);
    this.phoneCount++;
    return { kind: 'registered', binary: slot.binary, inGrace: slot.graceToken !== undefined };
  }

  unregisterPhone(serverId: string, phone: P): boolean {
    const slot = this.slots.get(serverId);
    if (slot === undefined || slot.phones.get(phone.connId) !== phone) return false;
    slot.phones.delete(phone.connId);
    this.phoneCount--;
    return true;
  }

  releaseBinary(serverId: string, binary: B): ReleaseResult {
    const slot = this.slots.get(serverId);
    // A displaced binary must never arm a timer that would evict its successor.
    if (slot === undefined || slot.binary !== binary || slot.graceToken !== undefined) return { kind: 'not_holder' };
    slot.graceToken = this.nextToken++;
    this.liveBinaries--;
    return { kind: 'grace', token: slot.graceToken };
  }

  expireGrace(serverId: string, token: GraceToken): P[] | undefined {
    const slot = this.slots.get(serverId);
    if (slot === undefined || slot.graceToken !== token) return undefined;
    this.slots.delete(serverId);
    return this.evictPhones(slot);
  }

  holder(serverId: string): B | undefined {
    const slot = this.slots.get(serverId);
    return slot !== undefined && slot.graceToken === undefined ? slot.binary : undefined;
  }

  phone(serverId: string, connId: string): P | undefined {
    return this.slots.get(serverId)?.phones.get(connId);
  }

  phones(serverId: string): Iterable<P> {
    return this.slots.get(serverId)?.phones.values() ?? [];
  }

  counts(): RegistryCounts {
    return { binaries: this.liveBinaries, phones: this.phoneCount };
  }

  drainAll(): { binaries: B[]; phones: P[] } {
    const binaries: B[] = [];
    const phones: P[] = [];
    for (const slot of this.slots.values()) {
      if (slot.graceToken === undefined) binaries.push(slot.binary);
      for (const p of slot.phones.values()) phones.push(p);
    }
    return { binaries, phones };
  }

  /** Reclaim: cancel grace, install the new binary, evict every phone. */
  private install(slot: Slot<B, P>, binary: B): P[] {
    slot.graceToken = undefined;
    slot.binary = binary;
    this.liveBinaries++;
    return this.evictPhones(slot);
  }

  private evictPhones(slot: Slot<B, P>): P[] {
    const evicted = [...slot.phones.values()];
    this.phoneCount -= evicted.length;
    slot.phones.clear();
    return evicted;
  }
}
