// The cluster registry (cluster.md §2–§3; decision 0022): the relay's Registry on
// the shared ClusterStore, with the bus carrying cross-node pairs.
//
// Owns this node's synchronous view of the registry — the slots whose binary it
// holds (with their claim id and fencing epoch), its own phones, and proxies
// (remote-endpoints.ts) for phones on other nodes attached to its binaries — so
// the frame path looks up conn_ids exactly as on a single node and never waits
// on Redis. Lifecycle steps go to the store; their answers are applied here
// (installs, evictions sent to the nodes holding the evicted phones). Routes
// inbound bus messages: each names a server-id and a slot epoch, and anything not
// matching a slot or phone this node holds at that epoch is dropped and counted,
// so a message can never reach another server-id's phone. Reacts to membership
// (fenced, generation, re-asserted, reaped, expired) and to lost bus links.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../ops/logger.js';
import { CloseCode, Reason } from '../protocol.js';
import type { BinaryEndpoint, PhoneEndpoint } from '../relay/endpoints.js';
import {
  RegistryBusyError,
  type ClaimResult,
  type ConflictResult,
  type RegisterResult,
  type Registry,
  type RegistryCounts,
  type RegistryHooks,
} from '../relay/registry.js';
import { EvictReason, type BusMessage } from './bus-codec.js';
import type { FrameBus, LinkLostReason } from './bus.js';
import type { NodeRef } from './keys.js';
import type { FenceReason, Membership } from './membership.js';
import { RemoteBinary, RemoteGroup, RemotePhone, type RemoteRouter } from './remote-endpoints.js';
import {
  reapShares,
  type ClusterStore,
  type ExpiredSlot,
  type Holder,
  type PhoneRef,
  type ReapResult,
  type ReassertOutcome,
  type ReassertSlot,
} from './store.js';

export interface ClusterRegistryDeps {
  store: ClusterStore;
  membership: Membership;
  bus: FrameBus;
  logger: Logger;
  /** This node's --node-id, for the `node` field of cluster log lines. */
  nodeId: string;
  gracePeriodMs: number;
  conflictProbeTimeoutMs: number;
  /** Upper bound on releasing every slot into grace at shutdown. Default 2 s. */
  releaseAllTimeoutMs?: number;
}

/** A slot whose binary this node holds. */
interface Held {
  binary: BinaryEndpoint;
  claimId: string;
  epoch: number;
  inGrace: boolean;
  /** Monotonic ms when grace ends (re-assert sends the time left). */
  graceEnds: number;
  /** Drops the local state of a grace window another node expired. */
  cleanup: NodeJS.Timeout | undefined;
}

interface Slot {
  held: Held | undefined;
  /** This node's phones of the server-id, plus proxies for remote phones of a binary held here. */
  phones: Map<string, PhoneEndpoint>;
  /** The remote binary this node's phones were last registered under. */
  remote: RemoteBinary | undefined;
  /** Proxies' shared pause state, per node. */
  groups: Map<NodeRef, RemoteGroup>;
}

interface PendingProbe {
  node: NodeRef;
  serverId: string;
  epoch: number;
  settle: (alive: boolean) => void;
}

/** Kept after grace ends before forgetting a window another node expired. */
const CLEANUP_SLACK_MS = 5000;

function evictText(reason: number): string {
  switch (reason) {
    case EvictReason.graceExpired:
      return Reason.graceExpired;
    case EvictReason.routeLost:
      return Reason.routeLost;
    case EvictReason.noServer:
      return Reason.noServer;
    default:
      return Reason.reclaimed;
  }
}

export class ClusterRegistry implements Registry, RemoteRouter {
  private readonly slots = new Map<string, Slot>();
  /** A local phone's remote binary. */
  private readonly bound = new WeakMap<PhoneEndpoint, RemoteBinary>();
  /** A local binary's claim id and, once installed, its epoch. */
  private readonly claims = new WeakMap<BinaryEndpoint, { claimId: string; epoch: number }>();
  private readonly probes = new Map<number, PendingProbe>();
  private nextProbe = 1;
  private liveBinaries = 0;
  private phoneCount = 0;
  private reasserting = false;
  private closed = false;
  private bus: FrameBus;
  /** Bus messages dropped because no slot or phone here matched them (a metric). */
  dropped = 0;

  private readonly onMessage = (src: NodeRef, m: BusMessage): void => this.route(src, m);
  private readonly onLinkLost = (peer: NodeRef, reason: LinkLostReason): void => this.linkLost(peer, reason);
  private readonly onCongested = (peer: NodeRef): void => this.pauseToward(peer, true);
  private readonly onDrained = (peer: NodeRef): void => this.pauseToward(peer, false);

  constructor(
    private readonly hooks: RegistryHooks<PhoneEndpoint>,
    private readonly d: ClusterRegistryDeps,
  ) {
    this.bus = d.bus;
    this.attach(d.bus);
    const m = d.membership;
    m.reassertSource = () => this.reassertSlots();
    m.on('fenced', (reason) => this.fenced(reason));
    m.on('rejoined', (info) => this.rejoined(info.ref, info.previousReaped));
    m.on('generation', (generation) => this.generation(generation));
    m.on('reasserted', (info) => this.reasserted(info.outcomes));
    m.on('reaped', (r) => this.reaped(r));
    m.on('expired', (slots) => this.expired(slots));
  }

  /** Uses `bus` from now on (a rejoined node has a new incarnation, hence a new channel). */
  replaceBus(bus: FrameBus): void {
    this.bus.off('message', this.onMessage);
    this.bus.off('linkLost', this.onLinkLost);
    this.bus.off('congested', this.onCongested);
    this.bus.off('drained', this.onDrained);
    this.bus = bus;
    this.attach(bus);
  }

  private attach(bus: FrameBus): void {
    bus.on('message', this.onMessage);
    bus.on('linkLost', this.onLinkLost);
    bus.on('congested', this.onCongested);
    bus.on('drained', this.onDrained);
  }

  private get self(): NodeRef {
    return this.d.store.self;
  }

  private log(event: Parameters<Logger['info']>[0], fields: Parameters<Logger['info']>[1] = {}): void {
    this.d.logger.info(event, { node: this.d.nodeId, ...fields });
  }

  /** Claims and registrations are refused (1013) while the node cannot decide them. */
  private usable(): void {
    if (this.closed) throw new RegistryBusyError('closed');
    if (this.d.membership.state !== 'live') throw new RegistryBusyError('fenced');
    if (this.reasserting) throw new RegistryBusyError('reasserting');
  }

  /** After an await: the answer belongs to this incarnation and the node is still live. */
  private still(ref: NodeRef): void {
    if (this.closed || ref !== this.self || this.d.membership.state !== 'live') throw new RegistryBusyError('fenced');
  }

  private slot(serverId: string): Slot {
    let s = this.slots.get(serverId);
    if (s === undefined) {
      s = { held: undefined, phones: new Map(), remote: undefined, groups: new Map() };
      this.slots.set(serverId, s);
    }
    return s;
  }

  private gc(serverId: string, s: Slot): void {
    if (s.held === undefined && s.phones.size === 0) this.slots.delete(serverId);
  }

  send(node: NodeRef, msg: BusMessage): boolean {
    return this.bus.send(node, msg);
  }

  congested(node: NodeRef): boolean {
    return this.bus.isCongested(node);
  }

  // ---- Registry: lifecycle --------------------------------------------------

  async claim(serverId: string, binary: BinaryEndpoint): Promise<ClaimResult<BinaryEndpoint, PhoneEndpoint>> {
    this.usable();
    const ref = this.self;
    const claimId = randomBytes(8).toString('hex');
    this.claims.set(binary, { claimId, epoch: 0 });
    let r: Awaited<ReturnType<ClusterStore['claim']>>;
    try {
      r = await this.d.store.claim(serverId, claimId);
    } catch (err) {
      void this.settleLostClaim(serverId, binary, claimId, ref);
      throw err;
    }
    this.still(ref);
    switch (r.kind) {
      case 'claimed':
        this.install(serverId, binary, claimId, r.epoch, [], EvictReason.reclaimed);
        return { kind: 'claimed' };
      case 'reclaimed':
        return { kind: 'reclaimed', evicted: this.install(serverId, binary, claimId, r.epoch, r.evicted, EvictReason.reclaimed) };
      case 'conflict':
        return { kind: 'conflict', incumbent: this.incumbent(serverId, r.incumbent) };
      default:
        throw new RegistryBusyError(r.kind);
    }
  }

  async resolveConflict(
    serverId: string,
    newcomer: BinaryEndpoint,
    incumbent: BinaryEndpoint,
    incumbentAlive: boolean,
  ): Promise<ConflictResult<BinaryEndpoint, PhoneEndpoint>> {
    this.usable();
    const ref = this.self;
    const claimId = this.claims.get(newcomer)?.claimId;
    if (claimId === undefined) throw new RegistryBusyError('unknown newcomer');
    const incumbentEpoch = incumbent instanceof RemoteBinary ? incumbent.epoch : (this.claims.get(incumbent)?.epoch ?? 0);
    const r = await this.d.store.resolveConflict(serverId, claimId, incumbentEpoch, incumbentAlive);
    this.still(ref);
    switch (r.kind) {
      case 'claimed':
        this.install(serverId, newcomer, claimId, r.epoch, [], EvictReason.reclaimed);
        return { kind: 'claimed' };
      case 'reclaimed':
        return { kind: 'reclaimed', evicted: this.install(serverId, newcomer, claimId, r.epoch, r.evicted, EvictReason.reclaimed) };
      case 'takeover':
        return {
          kind: 'takeover',
          displaced: incumbent,
          evicted: this.install(serverId, newcomer, claimId, r.epoch, r.evicted, EvictReason.takenOver),
        };
      case 'rejected':
        return { kind: 'rejected' };
      default:
        throw new RegistryBusyError(r.kind);
    }
  }

  async registerPhone(serverId: string, phone: PhoneEndpoint, maxPhones: number): Promise<RegisterResult<BinaryEndpoint>> {
    this.usable();
    const ref = this.self;
    let r: Awaited<ReturnType<ClusterStore['registerPhone']>>;
    try {
      r = await this.d.store.registerPhone(serverId, phone.connId, maxPhones);
    } catch (err) {
      // The reply was lost (command timeout, dropped connection) but Redis may still
      // run the registration: undo it behind it on the same connection, or a phone
      // that is gone would hold a place under the cap for as long as this node lives.
      this.d.store.unregisterPhone(serverId, phone.connId).catch(() => undefined);
      throw err;
    }
    this.still(ref);
    switch (r.kind) {
      case 'no_server':
      case 'at_cap':
        return { kind: r.kind };
      case 'registered': {
        const s = this.slot(serverId);
        let binary: BinaryEndpoint;
        if (r.binaryNode === this.self) {
          const held = s.held;
          if (held === undefined || held.epoch !== r.epoch) {
            // The store and this node disagree (a window forgotten here): undo, let it redial.
            this.d.store.unregisterPhone(serverId, phone.connId).catch(() => undefined);
            this.gc(serverId, s);
            throw new RegistryBusyError('stale slot');
          }
          binary = held.binary;
        } else {
          let rb = s.remote;
          if (rb === undefined || rb.node !== r.binaryNode || rb.epoch !== r.epoch)
            rb = s.remote = new RemoteBinary(this, r.binaryNode, serverId, r.epoch);
          this.bound.set(phone, rb);
          binary = rb;
          // Sent now, so it travels ahead of the phone's first frame on the same link.
          this.bus.send(r.binaryNode, { kind: 'phoneJoin', serverId, epoch: r.epoch, connId: phone.connId });
        }
        s.phones.set(phone.connId, phone);
        this.phoneCount++;
        return { kind: 'registered', binary, inGrace: r.inGrace };
      }
      default:
        // duplicate conn_id on another node, generation change, settling, fenced.
        throw new RegistryBusyError(r.kind);
    }
  }

  async unregisterPhone(serverId: string, phone: PhoneEndpoint): Promise<boolean> {
    const s = this.slots.get(serverId);
    const mine = s !== undefined && s.phones.get(phone.connId) === phone;
    if (mine) {
      s.phones.delete(phone.connId);
      this.phoneCount--;
      this.gc(serverId, s);
    }
    // A fenced node's entries are reaped with its incarnation.
    if (this.closed || this.d.membership.state !== 'live') return false;
    // Also for a phone this node already dropped (route lost): the store may still hold it.
    const removed = await this.d.store.unregisterPhone(serverId, phone.connId);
    return mine && removed;
  }

  async releaseBinary(serverId: string, binary: BinaryEndpoint): Promise<boolean> {
    const s = this.slots.get(serverId);
    const held = s?.held;
    if (s === undefined || held === undefined || held.binary !== binary || held.inGrace) return false;
    held.inGrace = true;
    held.graceEnds = performance.now() + this.d.gracePeriodMs;
    this.liveBinaries--;
    if (this.closed || this.d.membership.state !== 'live') return false;
    let r: Awaited<ReturnType<ClusterStore['releaseIntoGrace']>>;
    try {
      r = await this.d.store.releaseIntoGrace(serverId, held.claimId, held.epoch, this.d.gracePeriodMs);
    } catch (err) {
      // Redis did not answer: the store's slot is resolved by probe/takeover or reaping; keep nothing here.
      if (s.held === held) this.dropHeld(serverId, s);
      throw err;
    }
    if (r.kind !== 'grace') {
      if (s.held === held) this.dropHeld(serverId, s);
      return false;
    }
    if (s.held === held) {
      held.cleanup = setTimeout(() => {
        if (s.held === held && held.inGrace) this.dropHeld(serverId, s);
      }, this.d.gracePeriodMs + CLEANUP_SLACK_MS);
      held.cleanup.unref();
    }
    return true;
  }

  async releaseAll(): Promise<void> {
    if (this.closed || this.d.membership.state !== 'live') return;
    const jobs: Promise<unknown>[] = [];
    for (const [serverId, s] of this.slots) {
      const held = s.held;
      if (held === undefined || held.inGrace) continue;
      held.inGrace = true;
      held.graceEnds = performance.now() + this.d.gracePeriodMs;
      this.liveBinaries--;
      jobs.push(this.d.store.releaseIntoGrace(serverId, held.claimId, held.epoch, this.d.gracePeriodMs).catch(() => undefined));
    }
    if (jobs.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(jobs),
      new Promise((r) => {
        timer = setTimeout(r, this.d.releaseAllTimeoutMs ?? 2000);
      }),
    ]);
    clearTimeout(timer);
  }

  // ---- Registry: synchronous views (the frame path) ----------------------------

  holder(serverId: string): BinaryEndpoint | undefined {
    const held = this.slots.get(serverId)?.held;
    return held !== undefined && !held.inGrace ? held.binary : undefined;
  }

  phone(serverId: string, connId: string): PhoneEndpoint | undefined {
    return this.slots.get(serverId)?.phones.get(connId);
  }

  phones(serverId: string): Iterable<PhoneEndpoint> {
    return this.slots.get(serverId)?.phones.values() ?? [];
  }

  counts(): RegistryCounts {
    return { binaries: this.liveBinaries, phones: this.phoneCount };
  }

  close(): Promise<void> {
    this.closed = true;
    for (const s of this.slots.values()) clearTimeout(s.held?.cleanup);
    for (const p of [...this.probes.values()]) p.settle(false);
    return Promise.resolve();
  }

  // ---- installs and evictions -------------------------------------------------

  /**
   * `binary` now holds the slot at `epoch`. Evicted phones on this node are
   * returned (the relay closes them 4404); the others' nodes are told.
   */
  private install(
    serverId: string,
    binary: BinaryEndpoint,
    claimId: string,
    epoch: number,
    evicted: PhoneRef[],
    reason: 1 | 2,
  ): PhoneEndpoint[] {
    const s = this.slot(serverId);
    const prev = s.held;
    if (prev !== undefined) {
      clearTimeout(prev.cleanup);
      if (!prev.inGrace) this.liveBinaries--;
    }
    const local: PhoneEndpoint[] = [];
    for (const p of evicted) {
      if (p.node === this.self) {
        const e = s.phones.get(p.connId);
        if (e !== undefined && !(e instanceof RemotePhone)) {
          s.phones.delete(p.connId);
          this.phoneCount--;
          local.push(e);
        }
      } else {
        this.bus.send(p.node, { kind: 'evict', serverId, epoch, connId: p.connId, code: CloseCode.noServer, reason });
      }
    }
    // Proxies belonged to the previous holder; their phones were among the evicted.
    this.dropProxies(s);
    s.held = { binary, claimId, epoch, inGrace: false, graceEnds: 0, cleanup: undefined };
    this.claims.set(binary, { claimId, epoch });
    this.liveBinaries++;
    return local;
  }

  private dropProxies(s: Slot): void {
    for (const [id, p] of s.phones) if (p instanceof RemotePhone) s.phones.delete(id);
    s.groups.clear();
  }

  private dropHeld(serverId: string, s: Slot): void {
    const held = s.held;
    if (held === undefined) return;
    clearTimeout(held.cleanup);
    if (!held.inGrace) this.liveBinaries--;
    s.held = undefined;
    this.dropProxies(s);
    this.gc(serverId, s);
  }

  /**
   * A claim whose reply was lost may still have run in Redis, leaving the slot held
   * by a binary that was closed for it. Replaying the same claim id returns the
   * stored answer if it ran (or claims now); either way the slot is then treated as
   * that binary's and released into grace, as any binary that leaves, so nothing
   * stays held for ever and phones it evicted are told.
   */
  private async settleLostClaim(serverId: string, binary: BinaryEndpoint, claimId: string, ref: NodeRef): Promise<void> {
    let r: Awaited<ReturnType<ClusterStore['claim']>>;
    try {
      r = await this.d.store.claim(serverId, claimId);
    } catch {
      return; // Redis is still away: a fence (and the reap of this incarnation) or the next claim settles it
    }
    if (this.closed || ref !== this.self || this.d.membership.state !== 'live') return;
    if (r.kind !== 'claimed' && r.kind !== 'reclaimed') return;
    const local = this.install(serverId, binary, claimId, r.epoch, r.kind === 'reclaimed' ? r.evicted : [], EvictReason.reclaimed);
    for (const p of local) p.closeNow(CloseCode.noServer, Reason.reclaimed);
    if (local.length > 0) this.hooks.changed?.();
    await this.releaseBinary(serverId, binary).catch(() => undefined);
  }

  private incumbent(serverId: string, h: Holder): BinaryEndpoint {
    if (h.node === this.self) {
      const held = this.slots.get(serverId)?.held;
      if (held !== undefined && held.claimId === h.claimId) return held.binary;
    }
    // Probed by its node; one of ours we no longer know answers "not alive".
    return new RemoteBinary(this, h.node, serverId, h.epoch);
  }

  probe(node: NodeRef, serverId: string, epoch: number, timeoutMs: number): Promise<boolean> {
    if (node === this.self || this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const requestId = this.nextProbe;
      this.nextProbe = (this.nextProbe % 0xfffffffe) + 1;
      const timer = setTimeout(() => settle(false), timeoutMs);
      timer.unref();
      const settle = (alive: boolean): void => {
        if (this.probes.get(requestId) !== pending) return;
        this.probes.delete(requestId);
        clearTimeout(timer);
        resolve(alive);
      };
      const pending: PendingProbe = { node, serverId, epoch, settle };
      this.probes.set(requestId, pending);
      if (!this.bus.send(node, { kind: 'probeRequest', serverId, epoch, requestId })) settle(false);
    });
  }

  // ---- inbound bus messages -----------------------------------------------------

  private route(src: NodeRef, m: BusMessage): void {
    if (this.closed || m.kind === 'selfProbe') return;
    const s = this.slots.get(m.serverId);
    switch (m.kind) {
      case 'frameToBinary': {
        const held = s?.held;
        const p = s?.phones.get(m.connId);
        if (held === undefined || held.epoch !== m.epoch || !(p instanceof RemotePhone) || p.node !== src) {
          return this.refuse(src, m.serverId, m.epoch, m.connId);
        }
        if (held.inGrace || held.binary.state !== 'active') {
          // The binary is in grace: the frame cannot reach it, the phone redials (as on one node).
          s!.phones.delete(m.connId);
          return this.refuse(src, m.serverId, m.epoch, m.connId);
        }
        held.binary.fromPhone(p, m.frame);
        return;
      }
      case 'frameToPhone':
      case 'closeDirective': {
        const p = s?.phones.get(m.connId);
        const rb = p === undefined ? undefined : this.bound.get(p);
        if (p === undefined || rb === undefined || rb.node !== src || rb.epoch !== m.epoch) {
          this.dropped++;
          return;
        }
        // Copied: a queued frame must not pin the whole bus batch it arrived in.
        if (m.kind === 'frameToPhone') p.sendFrame(Buffer.from(m.frame));
        else p.closeByBinary(m.frame === undefined ? undefined : Buffer.from(m.frame), m.code);
        return;
      }
      case 'phoneJoin': {
        const held = s?.held;
        if (s === undefined || held === undefined || held.epoch !== m.epoch) return this.refuse(src, m.serverId, m.epoch, m.connId);
        if (s.phones.has(m.connId)) {
          this.dropped++;
          return;
        }
        let g = s.groups.get(src);
        if (g === undefined) s.groups.set(src, (g = new RemoteGroup(src, m.serverId, held.epoch)));
        const proxy = new RemotePhone(this, g, m.connId);
        s.phones.set(m.connId, proxy);
        if (held.binary.phonesPaused) proxy.pause();
        return;
      }
      case 'phoneLeave': {
        // From the phone's node, or from a node that reaped it.
        const p = s?.phones.get(m.connId);
        if (s === undefined || !(p instanceof RemotePhone) || p.epoch !== m.epoch) {
          this.dropped++;
          return;
        }
        s.phones.delete(m.connId);
        const held = s.held;
        if (m.code !== 0 && held !== undefined && held.epoch === m.epoch && !held.inGrace && held.binary.state === 'active') {
          held.binary.phoneLeft(m.connId, m.code);
        }
        return;
      }
      case 'evict':
        return this.evicted(s, m);
      case 'pause':
      case 'resume': {
        if (s === undefined) return;
        const pause = m.kind === 'pause';
        const rb = s.remote;
        if (rb !== undefined && rb.node === src && rb.epoch === m.epoch) rb.peerPaused = pause;
        for (const p of s.phones.values()) {
          const b = this.bound.get(p);
          if (b === undefined || b.node !== src || b.epoch !== m.epoch) continue;
          b.peerPaused = pause;
          if (pause) p.pause();
          else if (!b.phonesPaused) p.resume(); // the link to src may still be congested
        }
        return;
      }
      case 'probeRequest': {
        const held = s?.held;
        const answer = (alive: boolean): void => {
          this.bus.send(src, { kind: 'probeAnswer', serverId: m.serverId, epoch: m.epoch, requestId: m.requestId, alive });
        };
        if (held === undefined || held.epoch !== m.epoch || held.inGrace || held.binary.state !== 'active') return answer(false);
        void held.binary.probe(this.d.conflictProbeTimeoutMs).then(answer);
        return;
      }
      case 'probeAnswer': {
        const p = this.probes.get(m.requestId);
        if (p === undefined || p.node !== src || p.serverId !== m.serverId || p.epoch !== m.epoch) {
          this.dropped++;
          return;
        }
        p.settle(m.alive);
        return;
      }
    }
  }

  /** A message for a pair this node does not (or no longer) hold: that phone's node closes it 4404. */
  private refuse(src: NodeRef, serverId: string, epoch: number, connId: string): void {
    this.dropped++;
    this.bus.send(src, { kind: 'evict', serverId, epoch, connId, code: CloseCode.noServer, reason: EvictReason.noServer });
  }

  private evicted(s: Slot | undefined, m: Extract<BusMessage, { kind: 'evict' }>): void {
    if (s === undefined) {
      this.dropped++;
      return;
    }
    if (m.connId === undefined) {
      // Our binary was taken over by another node's newcomer: close it 1011, forget the slot.
      const held = s.held;
      if (held === undefined || held.epoch !== m.epoch) {
        this.dropped++;
        return;
      }
      this.dropHeld(m.serverId, s);
      held.binary.state = 'gone';
      held.binary.close(m.code, Reason.heartbeatTimeout);
      this.hooks.changed?.();
      return;
    }
    const p = s.phones.get(m.connId);
    if (p === undefined || p instanceof RemotePhone) {
      this.dropped++;
      return;
    }
    const epoch = this.bound.get(p)?.epoch ?? s.held?.epoch ?? 0;
    if (epoch > m.epoch) {
      this.dropped++;
      return;
    }
    s.phones.delete(m.connId);
    this.phoneCount--;
    // A newer epoch elsewhere ends a grace window this node still remembers.
    if (s.held !== undefined && s.held.inGrace && s.held.epoch < m.epoch) this.dropHeld(m.serverId, s);
    this.gc(m.serverId, s);
    p.closeNow(m.code, evictText(m.reason));
    this.hooks.changed?.();
  }

  // ---- faults -------------------------------------------------------------------

  /**
   * Every pair crossing the link to `peer` (or every link, when undefined) is
   * closed 1012: this node's phones whose binary is there, and a close notice
   * 1012 to this node's binaries for their phones there.
   */
  private closeCrossing(peer: NodeRef | undefined): number {
    let n = 0;
    for (const [serverId, s] of this.slots) {
      const held = s.held;
      for (const [id, p] of s.phones) {
        if (p instanceof RemotePhone) {
          if (peer !== undefined && p.node !== peer) continue;
          s.phones.delete(id);
          n++;
          if (held !== undefined && !held.inGrace && held.binary.state === 'active') held.binary.phoneLeft(id, CloseCode.serviceRestart);
        } else {
          const rb = this.bound.get(p);
          if (rb === undefined || (peer !== undefined && rb.node !== peer)) continue;
          s.phones.delete(id);
          this.phoneCount--;
          n++;
          p.closeNow(CloseCode.serviceRestart, Reason.routeLost);
        }
      }
      if (peer === undefined) s.groups.clear();
      else s.groups.delete(peer);
      this.gc(serverId, s);
    }
    for (const p of [...this.probes.values()]) if (peer === undefined || p.node === peer) p.settle(false);
    if (n > 0) this.hooks.changed?.();
    return n;
  }

  private linkLost(peer: NodeRef, reason: LinkLostReason): void {
    const count = this.closeCrossing(peer);
    this.d.logger.warn('cluster_link_lost', { node: this.d.nodeId, peer, reason, count });
  }

  /** Cut off from Redis: stop acting for the cluster; every connection is closed 1012. */
  private fenced(reason: FenceReason): void {
    this.d.logger.error('cluster_fenced', { node: this.d.nodeId, reason });
    this.reasserting = false;
    for (const s of this.slots.values()) {
      const held = s.held;
      if (held !== undefined) {
        clearTimeout(held.cleanup);
        held.binary.state = 'gone';
        held.binary.close(CloseCode.serviceRestart, Reason.routeLost);
      }
      for (const p of s.phones.values()) {
        if (p instanceof RemotePhone) {
          // The bus may still work: the phone's node closes it at once rather than after a reap.
          p.closeNow(CloseCode.serviceRestart);
          continue;
        }
        this.bound.get(p)?.phoneLeft(p.connId, CloseCode.serviceRestart);
        p.closeNow(CloseCode.serviceRestart, Reason.routeLost);
      }
    }
    this.slots.clear();
    this.liveBinaries = 0;
    this.phoneCount = 0;
    for (const p of [...this.probes.values()]) p.settle(false);
    this.hooks.changed?.();
  }

  private rejoined(ref: NodeRef, previousReaped: ReapResult | undefined): void {
    this.log('cluster_rejoined', {});
    void ref;
    if (previousReaped !== undefined) this.sendReapShares(previousReaped, false);
  }

  /** Redis restarted empty: old epochs are void; cross-node pairs close 1012, local ones are re-asserted. */
  private generation(generation: string): void {
    void generation;
    this.reasserting = true;
    const count = this.closeCrossing(undefined);
    this.d.logger.warn('cluster_generation_changed', { node: this.d.nodeId, count });
  }

  private reassertSlots(): ReassertSlot[] {
    const out: ReassertSlot[] = [];
    const now = performance.now();
    for (const [serverId, s] of this.slots) {
      const held = s.held;
      if (held === undefined) continue;
      const phones: string[] = [];
      for (const p of s.phones.values()) if (!(p instanceof RemotePhone) && this.bound.get(p) === undefined) phones.push(p.connId);
      out.push({ serverId, claimId: held.claimId, graceLeftMs: held.inGrace ? Math.max(0, held.graceEnds - now) : undefined, phones });
    }
    return out;
  }

  private reasserted(outcomes: ReassertOutcome[]): void {
    this.reasserting = false;
    let lost = 0;
    for (const o of outcomes) {
      const s = this.slots.get(o.serverId);
      const held = s?.held;
      if (s === undefined || held === undefined) continue;
      if (o.kind === 'ok') {
        held.epoch = o.epoch;
        this.claims.set(held.binary, { claimId: held.claimId, epoch: o.epoch });
        continue;
      }
      // Someone else holds it now: this pair ends (1012), the clients redial.
      lost++;
      this.dropHeld(o.serverId, s);
      if (held.binary.state === 'active') {
        held.binary.state = 'gone';
        held.binary.close(CloseCode.serviceRestart, Reason.routeLost);
      }
      for (const [id, p] of s.phones) {
        s.phones.delete(id);
        this.phoneCount--;
        p.closeNow(CloseCode.serviceRestart, Reason.routeLost);
      }
      this.gc(o.serverId, s);
    }
    this.log('cluster_reasserted', { count: outcomes.length });
    if (lost > 0) this.hooks.changed?.();
  }

  /**
   * The bus link to `peer` passed its high-water mark (or fell back under the low
   * one): stop (resume) reading this node's phones whose binary is there, so a fast
   * phone meets backpressure rather than the link's loss bound (cluster.md §2).
   */
  private pauseToward(peer: NodeRef, pause: boolean): void {
    for (const s of this.slots.values()) {
      if (s.remote?.node !== peer) continue;
      for (const p of s.phones.values()) {
        const b = this.bound.get(p);
        if (b === undefined || b.node !== peer) continue;
        if (pause) p.pause();
        else if (!b.phonesPaused) p.resume();
      }
    }
  }

  /** This node reaped dead nodes: act on its own share, send the others theirs. */
  private reaped(r: ReapResult): void {
    for (const n of r.nodes) this.bus.forget(n);
    this.log('cluster_node_reaped', { count: r.nodes.length });
    this.sendReapShares(r, true);
  }

  /**
   * The phones removed with a reaped node owe their binaries a 1001 notice; the
   * slots of a reaped node are in grace, so this node's phones under them stay
   * (a frame now closes them 4404, as on one node).
   */
  sendReapShares(r: ReapResult, includeOwn: boolean): void {
    for (const [node, share] of reapShares(r)) {
      if (node !== this.self) {
        for (const p of share.phones) {
          this.bus.send(node, { kind: 'phoneLeave', serverId: p.serverId, epoch: p.epoch, connId: p.connId, code: CloseCode.goingAway });
        }
        continue;
      }
      if (!includeOwn) continue;
      for (const slot of share.slots) {
        const rb = this.slots.get(slot.serverId)?.remote;
        if (rb !== undefined && rb.epoch === slot.epoch) rb.state = 'gone';
      }
      for (const p of share.phones) {
        const s = this.slots.get(p.serverId);
        const proxy = s?.phones.get(p.connId);
        if (s === undefined || !(proxy instanceof RemotePhone)) continue;
        s.phones.delete(p.connId);
        const held = s.held;
        if (held !== undefined && held.epoch === p.epoch && !held.inGrace && held.binary.state === 'active') {
          held.binary.phoneLeft(p.connId, CloseCode.goingAway);
        }
      }
    }
  }

  /** Grace windows this node popped (exactly one node does each): 1000 everywhere, counted here once. */
  private expired(slots: ExpiredSlot[]): void {
    for (const e of slots) {
      const s = this.slots.get(e.serverId);
      const local: PhoneEndpoint[] = [];
      for (const p of e.phones) {
        if (p.node !== this.self) {
          this.bus.send(p.node, {
            kind: 'evict',
            serverId: e.serverId,
            epoch: e.epoch,
            connId: p.connId,
            code: CloseCode.normal,
            reason: EvictReason.graceExpired,
          });
          continue;
        }
        const ep = s?.phones.get(p.connId);
        if (s === undefined || ep === undefined || ep instanceof RemotePhone) continue;
        s.phones.delete(p.connId);
        this.phoneCount--;
        local.push(ep);
      }
      if (s !== undefined) {
        if (s.held !== undefined && s.held.inGrace && s.held.epoch <= e.epoch) this.dropHeld(e.serverId, s);
        this.gc(e.serverId, s);
      }
      this.hooks.graceExpired(e.serverId, local);
    }
  }
}
