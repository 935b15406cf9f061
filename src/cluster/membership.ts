// Membership: this node's life in the cluster (cluster.md §1, §3). Joins before
// any listener opens, renews its heartbeat every TTL/3, and fences itself on the
// monotonic clock at (last successful renewal SENT + TTL − margin), strictly
// before any other node may reap it (reapers wait TTL + their own margin on
// Redis's clock from the renewal's execution, which is later than its sending).
// It reaps dead nodes and pops due grace windows on one short cadence, re-asserts
// the node's live state after a generation change, and reports it all as events
// for the relay to act on. A fenced node rejoins under a new incarnation.
import { EventEmitter } from 'node:events';
import { newIncarnation, parseNodeRef, nodeRef, type NodeRef } from './keys.js';
import { RedisUnavailableError, toClusterError, type ClusterRedisError } from './redis-client.js';
import {
  newRequestId,
  type ClusterStore,
  type ExpiredSlot,
  type JoinResult,
  type ReapResult,
  type ReassertOutcome,
  type ReassertSlot,
} from './store.js';

export type FenceReason = 'lease_expired' | 'reaped';
export type MembershipState = 'idle' | 'live' | 'fenced' | 'stopped';

export interface MembershipEvents {
  /** Close every connection with 1012 and answer 503 until `rejoined`. */
  fenced: [reason: FenceReason];
  /** Joined again under a new incarnation; the previous one has been reaped when `previousReaped`. */
  rejoined: [info: { ref: NodeRef; previous: NodeRef; previousReaped: ReapResult | undefined }];
  /** Redis was emptied: old-generation epochs and bus messages are void; re-assert runs now. */
  generation: [generation: string];
  /** Re-assert done: new epochs per slot; `lost` slots belong to someone else (close them 1012). */
  reasserted: [info: { generation: string; outcomes: ReassertOutcome[] }];
  /** Dead nodes removed: act on what concerns this node (grace slots, notices owed, remote phones). */
  reaped: [result: ReapResult];
  /** Grace windows this node expired (exactly once cluster-wide): close their phones with 1000. */
  expired: [slots: ExpiredSlot[]];
  /** A Redis command failed (reason only; never a URL or secret). */
  redisError: [err: ClusterRedisError];
}

export interface MembershipOptions {
  ttlMs: number;
  /** Grace window given to the slots of a reaped node (relay-behaviour §1). */
  graceMs: number;
  /** Fence this long before the lease ends. Default TTL/10 within [50, 1000] ms. */
  fenceMarginMs?: number;
  /** Reaper and grace-expiry cadence. Default 250 ms. */
  pollMs?: number;
  /** Delay before retrying a failed heartbeat, join or re-assert. Default TTL/15 within [50, 250] ms. */
  retryMs?: number;
  /** Monotonic clock in ms (injectable for tests). */
  now?: () => number;
  /** This node's live slots and their local phones, read at re-assert time. */
  reassertSource?: () => ReassertSlot[];
}

/** Default margins from the TTL; the reaper's margin (Redis side) is chosen alongside, see reapMarginFor. */
export function fenceMarginFor(ttlMs: number): number {
  return Math.min(1000, Math.max(50, Math.floor(ttlMs / 10)));
}

export function reapMarginFor(ttlMs: number): number {
  return Math.min(500, Math.max(50, Math.floor(ttlMs / 10)));
}

export class Membership extends EventEmitter<MembershipEvents> {
  private stateNow: MembershipState = 'idle';
  /** Monotonic send time of the last renewal Redis acknowledged. */
  private lastOk = -Infinity;
  private liveCount = 0;
  private hbTimer: NodeJS.Timeout | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private rejoinTimer: NodeJS.Timeout | undefined;
  private hbInFlight = false;
  private polling = false;
  private reasserting: string | undefined;
  private reapReq: string | undefined;
  /** Incarnations whose join timed out but may still run once Redis answers. */
  private abandoned: NodeRef[] = [];
  private expireReq: string | undefined;
  private readonly ttl: number;
  private readonly margin: number;
  private readonly pollMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  reassertSource: () => ReassertSlot[];

  constructor(
    readonly store: ClusterStore,
    private readonly opts: MembershipOptions,
  ) {
    super();
    this.ttl = opts.ttlMs;
    this.margin = opts.fenceMarginMs ?? fenceMarginFor(opts.ttlMs);
    this.pollMs = opts.pollMs ?? 250;
    this.retryMs = opts.retryMs ?? Math.min(250, Math.max(50, Math.floor(opts.ttlMs / 15)));
    this.now = opts.now ?? (() => performance.now());
    this.reassertSource = opts.reassertSource ?? (() => []);
    store.hooks = {
      generationChanged: (g) => this.onGeneration(g),
      fenced: () => this.fence('reaped'),
    };
  }

  get state(): MembershipState {
    return this.stateNow;
  }

  get ref(): NodeRef {
    return this.store.self;
  }

  /** Live nodes as of the last heartbeat (this one included), for /healthz. */
  get liveNodes(): number {
    return this.liveCount;
  }

  /** Whether the lease still holds right now (checked synchronously, even if a timer runs late). */
  get live(): boolean {
    return this.stateNow === 'live' && this.now() < this.lastOk + this.ttl - this.margin;
  }

  /** When the lease ends (monotonic ms) unless renewed. */
  get leaseDeadline(): number {
    return this.lastOk + this.ttl - this.margin;
  }

  /**
   * Boot: join within `deadline` (monotonic ms), retrying while Redis is
   * unreachable. Refused credentials fail at once. Throws RedisUnavailableError.
   */
  async join(deadline: number): Promise<JoinResult> {
    let last: ClusterRedisError | undefined;
    for (;;) {
      const sent = this.now();
      try {
        const r = await withDeadline(this.store.join(), deadline - sent);
        this.started(sent, r.liveNodes);
        return r;
      } catch (err) {
        last = toClusterError(err);
        if (last.reason === 'auth_failed' || last.reason === 'no_permission') break;
      }
      const left = deadline - this.now();
      if (left <= 0) break;
      await sleep(Math.min(this.retryMs, left));
    }
    throw new RedisUnavailableError(last?.reason ?? 'timeout', last?.code);
  }

  /** Graceful exit: this node's live slots enter grace and its phones are removed, then it leaves. */
  async leave(graceMs = this.opts.graceMs): Promise<ReapResult | undefined> {
    const wasLive = this.stateNow === 'live';
    this.stop();
    if (!wasLive) return undefined;
    const r = await this.store.reap(newRequestId(), graceMs, { force: this.store.self });
    return 'nodes' in r ? r : undefined;
  }

  stop(): void {
    this.stateNow = 'stopped';
    this.clearTimers();
  }

  private clearTimers(): void {
    clearTimeout(this.hbTimer);
    clearTimeout(this.fenceTimer);
    clearTimeout(this.rejoinTimer);
    clearInterval(this.pollTimer);
    this.hbTimer = this.fenceTimer = this.rejoinTimer = this.pollTimer = undefined;
  }

  private started(sent: number, liveNodes: number): void {
    this.stateNow = 'live';
    this.lastOk = sent;
    this.liveCount = liveNodes;
    this.reapReq = this.expireReq = undefined;
    this.armFence();
    this.scheduleHeartbeat(this.ttl / 3);
    this.pollTimer = setInterval(() => void this.poll(), this.pollMs);
    this.pollTimer.unref();
  }

  // ---- heartbeat and lease ------------------------------------------------

  private scheduleHeartbeat(delay: number): void {
    clearTimeout(this.hbTimer);
    this.hbTimer = setTimeout(() => void this.heartbeat(), Math.max(0, delay));
    this.hbTimer.unref();
  }

  private async heartbeat(): Promise<void> {
    if (this.stateNow !== 'live' || this.hbInFlight) return;
    this.hbInFlight = true;
    const sent = this.now();
    const ref = this.store.self;
    try {
      const r = await this.store.heartbeat();
      if (this.stateNow !== 'live' || ref !== this.store.self) return;
      if (r.kind === 'reaped') {
        this.fence('reaped');
        return;
      }
      this.lastOk = Math.max(this.lastOk, sent);
      this.armFence();
      if (r.kind === 'ok') this.liveCount = r.liveNodes;
      else this.onGeneration(r.generation);
      this.scheduleHeartbeat(sent + this.ttl / 3 - this.now());
    } catch (err) {
      if (this.stateNow !== 'live') return;
      this.emit('redisError', toClusterError(err));
      this.scheduleHeartbeat(this.retryMs);
    } finally {
      this.hbInFlight = false;
    }
  }

  private armFence(): void {
    clearTimeout(this.fenceTimer);
    this.fenceTimer = setTimeout(
      () => {
        if (this.stateNow !== 'live') return;
        if (this.now() >= this.leaseDeadline) this.fence('lease_expired');
        else this.armFence();
      },
      Math.max(0, this.leaseDeadline - this.now()),
    );
    this.fenceTimer.unref();
  }

  /** Stops acting for the cluster at once; rejoins under a new incarnation when Redis answers. */
  fence(reason: FenceReason): void {
    if (this.stateNow !== 'live') return;
    this.stateNow = 'fenced';
    this.clearTimers();
    this.reasserting = undefined;
    this.emit('fenced', reason);
    this.scheduleRejoin(this.retryMs);
  }

  private scheduleRejoin(delay: number): void {
    this.rejoinTimer = setTimeout(() => void this.rejoin(), delay);
    this.rejoinTimer.unref();
  }

  private async rejoin(): Promise<void> {
    if (this.stateNow !== 'fenced') return;
    if (!this.store.connected) {
      // A join queued while disconnected would run later under a ref nobody renews.
      this.scheduleRejoin(this.retryMs);
      return;
    }
    const previous = this.store.self;
    const parsed = parseNodeRef(previous);
    if (parsed === undefined) throw new Error('node ref of this node is malformed');
    const next = nodeRef(parsed.nodeId, newIncarnation());
    const sent = this.now();
    this.store.self = next;
    this.store.generation = '';
    let joined: JoinResult;
    try {
      joined = await withDeadline(this.store.join(), this.ttl);
    } catch (err) {
      this.abandoned.push(next);
      this.store.self = previous;
      if (this.stateNow !== 'fenced') return;
      this.emit('redisError', toClusterError(err));
      this.scheduleRejoin(this.retryMs);
      return;
    }
    if (this.stateNow !== 'fenced') return;
    this.started(sent, joined.liveNodes);
    // The previous life's slots go to grace now rather than after the TTL, so its
    // binaries reclaim elsewhere at once; a failure leaves it to the reapers.
    let previousReaped: ReapResult | undefined;
    const stray = this.abandoned;
    this.abandoned = [];
    try {
      const r = await this.store.reap(newRequestId(), this.opts.graceMs, { force: previous });
      if ('nodes' in r) previousReaped = r;
      for (const ref of stray) await this.store.reap(newRequestId(), this.opts.graceMs, { force: ref });
    } catch (err) {
      this.emit('redisError', toClusterError(err));
    }
    this.emit('rejoined', { ref: next, previous, previousReaped });
  }

  // ---- generation change --------------------------------------------------

  private onGeneration(generation: string): void {
    if (this.stateNow !== 'live') return;
    if (generation === '') {
      // Redis is empty and nobody has heartbeated yet: ours creates the generation.
      this.scheduleHeartbeat(0);
      return;
    }
    if (generation === this.store.generation || generation === this.reasserting) return;
    this.reasserting = generation;
    this.emit('generation', generation);
    void this.reassert(generation);
  }

  private async reassert(generation: string): Promise<void> {
    for (;;) {
      if (this.stateNow !== 'live' || this.reasserting !== generation) return;
      try {
        // Read and sent in one turn: an unregister issued later runs after it.
        const r = await this.store.reassert(generation, this.reassertSource());
        if (this.reasserting !== generation) return;
        this.reasserting = undefined;
        if (!Array.isArray(r)) {
          if (r.kind === 'generation_changed') this.onGeneration(r.generation);
          return;
        }
        this.emit('reasserted', { generation, outcomes: r });
        return;
      } catch (err) {
        this.emit('redisError', toClusterError(err));
        await sleep(this.retryMs);
      }
    }
  }

  // ---- reaper and grace expiry ----------------------------------------------

  private async poll(): Promise<void> {
    if (this.polling || this.stateNow !== 'live' || this.reasserting !== undefined || this.store.generation === '') return;
    this.polling = true;
    const ref = this.store.self;
    try {
      // A request id is kept until its answer arrives, so a retry replays a lost reply.
      this.reapReq ??= newRequestId();
      const reaped = await this.store.reap(this.reapReq, this.opts.graceMs);
      this.reapReq = undefined;
      if (ref !== this.store.self || this.stateNow !== 'live') return;
      if ('nodes' in reaped && reaped.nodes.length > 0) this.emit('reaped', reaped);
      this.expireReq ??= newRequestId();
      const expired = await this.store.expireGrace(this.expireReq);
      this.expireReq = undefined;
      if (ref !== this.store.self || this.stateNow !== 'live') return;
      if (Array.isArray(expired) && expired.length > 0) this.emit('expired', expired);
    } catch (err) {
      if (this.stateNow === 'live') this.emit('redisError', toClusterError(err));
    } finally {
      this.polling = false;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Rejects with a timeout after `ms` (the command itself may still complete later). */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) return Promise.reject(Object.assign(new Error('deadline passed'), { code: 'ETIMEDOUT' }));
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error('deadline passed'), { code: 'ETIMEDOUT' })), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
