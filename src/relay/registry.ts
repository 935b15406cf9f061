// The server-id registry (relay-behaviour.md §1–§2): which binary holds each
// server-id, which phones are attached to it, and the grace window.
//
// The `Registry` interface is the seam a cluster mode plugs a shared store into
// (decision 0013). Lifecycle operations — claim, conflict resolution, phone
// (un)registration, release — return Promises, because a store answers across
// the network. Lookups on the frame path — phone(), phones(), holder(),
// counts() — stay synchronous views of this node's state, so routing a frame
// never waits on, or allocates for, the store. Grace expiry is driven by the
// registry itself and reported through `RegistryHooks`: here a GraceTimers part
// on the injected clock; in a cluster, a store deadline popped by one node.
// Handles are endpoints (endpoints.ts), so a store may hand back proxies for
// connections held by other nodes.
import { realClock, type Clock } from './clock.js';
import type { BinaryEndpoint, PhoneEndpoint } from './endpoints.js';
import { GraceTimers } from './grace-timers.js';

export type ClaimResult<B, P> =
  | { kind: 'claimed' }
  | { kind: 'reclaimed'; evicted: P[] }
  /** A live binary holds the slot: the caller must probe it and call resolveConflict. */
  | { kind: 'conflict'; incumbent: B };

export type ConflictResult<B, P> =
  { kind: 'rejected' } | { kind: 'takeover'; displaced: B; evicted: P[] } | { kind: 'reclaimed'; evicted: P[] } | { kind: 'claimed' };

export type RegisterResult<B> = { kind: 'registered'; binary: B; inGrace: boolean } | { kind: 'no_server' } | { kind: 'at_cap' };

export interface RegistryCounts {
  /** Binaries holding a slot, excluding those in grace. */
  binaries: number;
  phones: number;
}

/** What the registry reports on its own initiative. */
export interface RegistryHooks<P> {
  /** A grace window ended without a reclaim: close these phones (this node's). */
  graceExpired(serverId: string, phones: P[]): void;
  /** Counts changed on the registry's own initiative (a cluster evicting or fencing). */
  changed?(): void;
}

export interface Registry<B = BinaryEndpoint, P extends { readonly connId: string } = PhoneEndpoint> {
  claim(serverId: string, binary: B): Promise<ClaimResult<B, P>>;
  /** Settles a conflict probe: `incumbentAlive` is whether the incumbent answered in time. */
  resolveConflict(serverId: string, newcomer: B, incumbent: B, incumbentAlive: boolean): Promise<ConflictResult<B, P>>;
  /** Check and insert in one step: 4404 before 4429, allowed during grace. */
  registerPhone(serverId: string, phone: P, maxPhones: number): Promise<RegisterResult<B>>;
  /** Resolves false when the phone was not registered (already evicted). */
  unregisterPhone(serverId: string, phone: P): Promise<boolean>;
  /**
   * The binary's connection ended. Only the current holder arms a grace window
   * (resolves true); a displaced binary resolves false.
   */
  releaseBinary(serverId: string, binary: B): Promise<boolean>;
  /** The live (not in grace) binary holding the slot, as this node sees it. */
  holder(serverId: string): B | undefined;
  phone(serverId: string, connId: string): P | undefined;
  /** Phones attached to a server-id, e.g. to apply backpressure to all of them. */
  phones(serverId: string): Iterable<P>;
  counts(): RegistryCounts;
  /**
   * Shutdown, before any connection is closed: a shared store puts every slot
   * this node holds into grace, so its binaries can reclaim elsewhere at once.
   */
  releaseAll?(): Promise<void>;
  /** Shutdown: stop grace windows; no hook fires afterwards. */
  close(): Promise<void>;
}

/**
 * A lifecycle step the store cannot decide right now (a cluster re-asserting
 * after a Redis restart, or a fenced node): the connection is closed with 1013
 * and the client redials, rather than getting a wrong answer.
 */
export class RegistryBusyError extends Error {
  constructor(readonly why: string) {
    super(`registry busy: ${why}`);
  }
}

/** How the relay builds its registry: it hands over the hooks the registry reports to. */
export type RegistryFactory<B = BinaryEndpoint, P extends { readonly connId: string } = PhoneEndpoint> = (
  hooks: RegistryHooks<P>,
) => Registry<B, P>;

export interface MemoryRegistryOptions {
  gracePeriodMs: number;
  clock?: Clock;
}

interface Slot<B, P> {
  binary: B;
  /** Set while the binary is gone and the slot waits for it. */
  inGrace: boolean;
  phones: Map<string, P>;
}

/**
 * The single-node registry: a state machine over a Map. Every decision is made
 * synchronously when the method is called; the Promise only carries it.
 */
export class MemoryRegistry<B = BinaryEndpoint, P extends { readonly connId: string } = PhoneEndpoint> implements Registry<B, P> {
  private readonly slots = new Map<string, Slot<B, P>>();
  private readonly grace: GraceTimers;
  private liveBinaries = 0;
  private phoneCount = 0;

  constructor(
    private readonly hooks: RegistryHooks<P>,
    opts: MemoryRegistryOptions,
  ) {
    this.grace = new GraceTimers(opts.clock ?? realClock, opts.gracePeriodMs, (serverId) => this.expire(serverId));
  }

  claim(serverId: string, binary: B): Promise<ClaimResult<B, P>> {
    return Promise.resolve(this.claimNow(serverId, binary));
  }

  resolveConflict(serverId: string, newcomer: B, incumbent: B, incumbentAlive: boolean): Promise<ConflictResult<B, P>> {
    const slot = this.slots.get(serverId);
    // The slot emptied during the probe (grace expired already): a plain claim.
    if (slot === undefined) return Promise.resolve(this.claimNow(serverId, newcomer) as ConflictResult<B, P>);
    // Changed hands during the probe: treat as a conflict.
    if (slot.binary !== incumbent) return Promise.resolve({ kind: 'rejected' });
    // The incumbent disconnected during the probe: reclaim, no takeover.
    if (slot.inGrace) return Promise.resolve({ kind: 'reclaimed', evicted: this.install(serverId, slot, newcomer) });
    if (incumbentAlive) return Promise.resolve({ kind: 'rejected' });
    const evicted = this.evictPhones(slot);
    slot.binary = newcomer;
    return Promise.resolve({ kind: 'takeover', displaced: incumbent, evicted });
  }

  registerPhone(serverId: string, phone: P, maxPhones: number): Promise<RegisterResult<B>> {
    const slot = this.slots.get(serverId);
    if (slot === undefined) return Promise.resolve({ kind: 'no_server' });
    if (slot.phones.size >= maxPhones) return Promise.resolve({ kind: 'at_cap' });
    slot.phones.set(phone.connId, phone);
    this.phoneCount++;
    return Promise.resolve({ kind: 'registered', binary: slot.binary, inGrace: slot.inGrace });
  }

  unregisterPhone(serverId: string, phone: P): Promise<boolean> {
    const slot = this.slots.get(serverId);
    if (slot === undefined || slot.phones.get(phone.connId) !== phone) return Promise.resolve(false);
    slot.phones.delete(phone.connId);
    this.phoneCount--;
    return Promise.resolve(true);
  }

  releaseBinary(serverId: string, binary: B): Promise<boolean> {
    const slot = this.slots.get(serverId);
    // A displaced binary must never arm a window that would evict its successor.
    if (slot === undefined || slot.binary !== binary || slot.inGrace) return Promise.resolve(false);
    slot.inGrace = true;
    this.liveBinaries--;
    this.grace.arm(serverId);
    return Promise.resolve(true);
  }

  holder(serverId: string): B | undefined {
    const slot = this.slots.get(serverId);
    return slot !== undefined && !slot.inGrace ? slot.binary : undefined;
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

  close(): Promise<void> {
    this.grace.clear();
    return Promise.resolve();
  }

  private claimNow(serverId: string, binary: B): ClaimResult<B, P> {
    const slot = this.slots.get(serverId);
    if (slot === undefined) {
      this.slots.set(serverId, { binary, inGrace: false, phones: new Map() });
      this.liveBinaries++;
      return { kind: 'claimed' };
    }
    if (slot.inGrace) return { kind: 'reclaimed', evicted: this.install(serverId, slot, binary) };
    return { kind: 'conflict', incumbent: slot.binary };
  }

  private expire(serverId: string): void {
    const slot = this.slots.get(serverId);
    if (slot === undefined || !slot.inGrace) return;
    this.slots.delete(serverId);
    this.hooks.graceExpired(serverId, this.evictPhones(slot));
  }

  /** Reclaim: cancel grace, install the new binary, evict every phone. */
  private install(serverId: string, slot: Slot<B, P>, binary: B): P[] {
    this.grace.cancel(serverId);
    slot.inGrace = false;
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
