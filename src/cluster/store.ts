// ClusterStore: the registry's shared state in Redis (cluster.md §2, §4). One
// method per Lua script (scripts/lua.ts), each one atomic and idempotent under
// retry, each reply decoded into a small typed union. The store knows this node's
// ref and the generation it has adopted; a reply naming another generation (Redis
// restarted empty) or telling this node it was reaped is reported to the hooks
// that Membership installs, and returned to the caller, who answers 503.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { encodeServerId, decodeServerId, type ClusterKeys, type NodeRef } from './keys.js';
import * as lua from './scripts/lua.js';

/** The registry's scripts, one Redis round trip each; also the `op` label of their latency. */
export const SCRIPT_NAMES = [
  'claim',
  'resolve',
  'registerPhone',
  'unregisterPhone',
  'release',
  'expireGrace',
  'heartbeat',
  'join',
  'reap',
  'reassert',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

const SCRIPTS: Record<ScriptName, string> = {
  claim: lua.CLAIM,
  resolve: lua.RESOLVE,
  registerPhone: lua.REGISTER_PHONE,
  unregisterPhone: lua.UNREGISTER_PHONE,
  release: lua.RELEASE,
  expireGrace: lua.EXPIRE_GRACE,
  heartbeat: lua.HEARTBEAT,
  join: lua.JOIN,
  reap: lua.REAP,
  reassert: lua.REASSERT,
};

/** Replies every mutating script may give instead of its own outcome. */
export type Interrupted =
  /** Redis holds another generation (restarted empty): re-assert first; the caller answers 503. */
  | { kind: 'generation_changed'; generation: string }
  /** This node's heartbeat is missing or expired: it must fence. */
  | { kind: 'fenced' }
  /** Redis restarted less than a TTL ago; an unknown slot may still be re-asserted: 503. */
  | { kind: 'settling' };

/** A phone as the store knows it: its conn_id and the node holding its connection. */
export interface PhoneRef {
  connId: string;
  node: NodeRef;
}

export type ClaimResult =
  | { kind: 'claimed'; epoch: number }
  /** The slot was in grace (or its holder's node is gone): installed at once, every phone evicted. */
  | { kind: 'reclaimed'; epoch: number; previous: Holder; evicted: PhoneRef[] }
  /** A live binary holds the slot: probe it on its node, then resolveConflict. */
  | { kind: 'conflict'; incumbent: Holder }
  | Interrupted;

export type ResolveResult =
  | { kind: 'claimed'; epoch: number }
  | { kind: 'reclaimed'; epoch: number; previous: Holder; evicted: PhoneRef[] }
  | { kind: 'takeover'; epoch: number; previous: Holder; evicted: PhoneRef[] }
  /** 4409: the incumbent answered, or the slot changed hands during the probe. */
  | { kind: 'rejected' }
  | Interrupted;

/** A slot's holder: node, claim id and fencing epoch. */
export interface Holder {
  node: NodeRef;
  claimId: string;
  epoch: number;
}

export type RegisterResult =
  | { kind: 'registered'; binaryNode: NodeRef; epoch: number; inGrace: boolean }
  | { kind: 'no_server' }
  | { kind: 'at_cap' }
  /** Another live phone of this server-id has the conn_id: draw a new one. */
  | { kind: 'duplicate' }
  | Interrupted;

export type ReleaseResult = { kind: 'grace'; deadline: number; epoch: number } | { kind: 'not_holder' };

export interface ExpiredSlot {
  serverId: string;
  epoch: number;
  phones: PhoneRef[];
}

export interface ReapedSlot {
  serverId: string;
  epoch: number;
  /** Redis ms when its grace ends. */
  deadline: number;
  /** Phones still registered (on live nodes); they stay through grace. */
  phones: PhoneRef[];
}

export interface ReapedPhone {
  connId: string;
  serverId: string;
  /** The node holding the phone's binary ('' when the slot is gone), which owes it a close notice. */
  binaryNode: string;
  epoch: number;
}

export interface ReapResult {
  nodes: NodeRef[];
  /** The dead nodes' live slots, now in grace. */
  slots: ReapedSlot[];
  /** The dead nodes' phones, now removed. */
  phones: ReapedPhone[];
}

export type HeartbeatResult =
  | { kind: 'ok'; now: number; liveNodes: number }
  | { kind: 'generation_changed'; generation: string; now: number; settleUntil: number }
  | { kind: 'reaped' };

export interface JoinResult {
  generation: string;
  now: number;
  settleUntil: number;
  liveNodes: number;
}

export interface ReassertSlot {
  serverId: string;
  claimId: string;
  /** Set while the slot's binary is gone: the grace time left (ms). */
  graceLeftMs?: number | undefined;
  /** conn_ids of this node's phones of the slot (phones on other nodes are not re-asserted). */
  phones: readonly string[];
}

export type ReassertOutcome = { serverId: string; kind: 'ok'; epoch: number } | { serverId: string; kind: 'lost' };

export interface StoreHooks {
  generationChanged(generation: string): void;
  fenced(): void;
}

export interface StoreOptions {
  ttlMs: number;
  /** Extra age beyond the TTL before a node is reaped, so it fences first (Redis clock). */
  reapMarginMs: number;
}

const CONN_ID_TAIL = /^-[0-9a-f]{8}$/;
/** Slots per re-assert script call, so one script never holds Redis for long. */
const REASSERT_CHUNK = 64;

export class ClusterStore {
  /** The generation this node has joined and re-asserted in ('' before join). */
  generation = '';
  hooks: StoreHooks | undefined;
  /** Told each script's round trip (answered or failed), for the latency series. Lifecycle only: never per frame. */
  observe: ((op: ScriptName, seconds: number) => void) | undefined;
  private readonly pfx: string;
  private readonly call: Record<ScriptName, (...args: string[]) => Promise<unknown>>;

  constructor(
    private readonly client: Redis,
    readonly keys: ClusterKeys,
    public self: NodeRef,
    readonly options: StoreOptions,
  ) {
    this.pfx = `${keys.prefix}:`;
    const call = {} as Record<ScriptName, (...args: string[]) => Promise<unknown>>;
    for (const [name, source] of Object.entries(SCRIPTS) as [ScriptName, string][]) {
      const cmd = `pyry_${name}`;
      // EVALSHA, falling back to EVAL on NOSCRIPT (e.g. after Redis restarted).
      if (!(cmd in client)) client.defineCommand(cmd, { numberOfKeys: 0, lua: source });
      const fn = (client as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[cmd];
      if (fn === undefined) throw new Error(`script ${name} not defined`);
      call[name] = fn.bind(client);
    }
    this.call = call;
  }

  /** Whether the registry connection is up (commands would be sent now, not queued). */
  get connected(): boolean {
    return this.client.status === 'ready';
  }

  private run(name: ScriptName, ...args: (string | number)[]): Promise<string[]> {
    const observe = this.observe;
    const t0 = observe === undefined ? 0 : performance.now();
    const sent = this.call[name](this.pfx, this.generation, this.self, ...args.map(String)) as Promise<string[]>;
    if (observe === undefined) return sent;
    const took = (): void => observe(name, (performance.now() - t0) / 1000);
    return sent.then(
      (r) => {
        took();
        return r;
      },
      (err: unknown) => {
        took();
        throw err;
      },
    );
  }

  private interrupted(r: string[]): Interrupted | undefined {
    const head = r[0];
    if (head === 'gen') {
      const generation = r[1] ?? '';
      this.hooks?.generationChanged(generation);
      return { kind: 'generation_changed', generation };
    }
    if (head === 'fenced') {
      this.hooks?.fenced();
      return { kind: 'fenced' };
    }
    if (head === 'settling') return { kind: 'settling' };
    return undefined;
  }

  /** Adds this node to the cluster (creating the generation when Redis is empty). */
  async join(): Promise<JoinResult> {
    const r = (await this.call.join(this.pfx, '', this.self, String(this.options.ttlMs), newGeneration())) as string[];
    expectHead(r, 'joined');
    this.generation = str(r, 1);
    return { generation: this.generation, now: num(r, 2), settleUntil: num(r, 3), liveNodes: num(r, 4) };
  }

  async heartbeat(): Promise<HeartbeatResult> {
    const r = await this.run('heartbeat', this.options.ttlMs, newGeneration());
    switch (r[0]) {
      case 'ok':
        return { kind: 'ok', now: num(r, 1), liveNodes: num(r, 2) };
      case 'gen':
        return { kind: 'generation_changed', generation: str(r, 1), now: num(r, 2), settleUntil: num(r, 3) };
      case 'reaped':
        return { kind: 'reaped' };
    }
    throw unexpected(r);
  }

  async claim(serverId: string, claimId: string): Promise<ClaimResult> {
    const r = await this.run('claim', this.options.ttlMs, encodeServerId(serverId), claimId);
    const res = this.installed(r);
    if (res === undefined) return conflict(r);
    // A claim never takes over; a replayed resolve result can only be reached by resolveConflict.
    if (res.kind === 'takeover') throw unexpected(r);
    return res;
  }

  /** Settles a conflict probe of `incumbentEpoch`: `alive` when the incumbent answered in time. */
  async resolveConflict(serverId: string, claimId: string, incumbentEpoch: number, alive: boolean): Promise<ResolveResult> {
    const r = await this.run('resolve', this.options.ttlMs, encodeServerId(serverId), claimId, incumbentEpoch, alive ? '1' : '0');
    const res = this.installed(r);
    if (res !== undefined) return res;
    if (r[0] === 'rejected') return { kind: 'rejected' };
    throw unexpected(r);
  }

  private installed(r: string[]): Exclude<ResolveResult, { kind: 'rejected' }> | undefined {
    const i = this.interrupted(r);
    if (i !== undefined) return i;
    const head = r[0];
    if (head === 'claimed') return { kind: 'claimed', epoch: num(r, 1) };
    if (head === 'reclaimed' || head === 'takeover') {
      const previous = { node: str(r, 2), claimId: str(r, 3), epoch: num(r, 4) };
      return { kind: head, epoch: num(r, 1), previous, evicted: pairs(r, 5, (r.length - 5) / 2) };
    }
    return undefined;
  }

  /** Cap check and insert in one step: 4404 before 4429, allowed during grace. */
  async registerPhone(serverId: string, connId: string, cap: number): Promise<RegisterResult> {
    checkConnId(serverId, connId);
    const r = await this.run('registerPhone', this.options.ttlMs, encodeServerId(serverId), connId, cap);
    const i = this.interrupted(r);
    if (i !== undefined) return i;
    switch (r[0]) {
      case 'registered':
        return { kind: 'registered', binaryNode: str(r, 1), epoch: num(r, 2), inGrace: r[3] === '1' };
      case 'no_server':
      case 'at_cap':
      case 'duplicate':
        return { kind: r[0] };
    }
    throw unexpected(r);
  }

  /** Removes this node's phone; false when it was not registered (evicted, reaped, expired). */
  async unregisterPhone(serverId: string, connId: string): Promise<boolean> {
    const r = await this.run('unregisterPhone', encodeServerId(serverId), connId);
    return r[0] === 'removed';
  }

  /** The binary's connection ended: only the claim that holds the slot arms grace. */
  async releaseIntoGrace(serverId: string, claimId: string, epoch: number, graceMs: number): Promise<ReleaseResult> {
    const r = await this.run('release', encodeServerId(serverId), claimId, epoch, graceMs);
    if (r[0] === 'grace') return { kind: 'grace', deadline: num(r, 1), epoch: num(r, 2) };
    if (r[0] === 'not_holder') return { kind: 'not_holder' };
    throw unexpected(r);
  }

  /**
   * Pops due grace windows (exactly one node gets each). Pass the same `requestId`
   * when retrying a call whose reply was lost: the stored result comes back.
   */
  async expireGrace(requestId: string, limit = 256): Promise<ExpiredSlot[] | Interrupted> {
    const r = await this.run('expireGrace', requestId, limit, this.options.ttlMs);
    const i = this.interrupted(r);
    if (i !== undefined) return i;
    if (r[0] !== 'expired') throw unexpected(r);
    const out: ExpiredSlot[] = [];
    let at = 1;
    while (at < r.length) {
      const n = num(r, at + 2);
      out.push({ serverId: decodeServerId(str(r, at)), epoch: num(r, at + 1), phones: pairs(r, at + 3, n) });
      at += 3 + 2 * n;
    }
    return out;
  }

  /**
   * Reaps nodes whose heartbeat is older than TTL + margin (or exactly `force`,
   * e.g. this node's own previous incarnation, or itself when leaving).
   */
  async reap(requestId: string, graceMs: number, opts: { limit?: number; force?: NodeRef } = {}): Promise<ReapResult | Interrupted> {
    const r = await this.run('reap', requestId, this.options.ttlMs, this.options.reapMarginMs, graceMs, opts.limit ?? 16, opts.force ?? '');
    const i = this.interrupted(r);
    if (i !== undefined) return i;
    if (r[0] !== 'reaped') throw unexpected(r);
    let at = 1;
    const nn = num(r, at++);
    const nodes = r.slice(at, at + nn);
    at += nn;
    const ns = num(r, at++);
    const slots: ReapedSlot[] = [];
    for (let k = 0; k < ns; k++) {
      const n = num(r, at + 3);
      slots.push({
        serverId: decodeServerId(str(r, at)),
        epoch: num(r, at + 1),
        deadline: num(r, at + 2),
        phones: pairs(r, at + 4, n),
      });
      at += 4 + 2 * n;
    }
    const np = num(r, at++);
    const phones: ReapedPhone[] = [];
    for (let k = 0; k < np; k++, at += 4) {
      const epoch = r[at + 3] === '' ? 0 : num(r, at + 3);
      phones.push({ connId: str(r, at), serverId: decodeServerId(str(r, at + 1)), binaryNode: str(r, at + 2), epoch });
    }
    return { nodes, slots, phones };
  }

  /**
   * After a generation change: re-installs this node's live slots and their local
   * phones under `generation` with fresh epochs, then adopts it. Every chunk is
   * sent in this same turn, so an unregister issued afterwards runs after them.
   */
  async reassert(generation: string, slots: readonly ReassertSlot[]): Promise<ReassertOutcome[] | Interrupted> {
    const calls: Promise<string[]>[] = [];
    for (let i = 0; i < slots.length || i === 0; i += REASSERT_CHUNK) {
      const chunk = slots.slice(i, i + REASSERT_CHUNK);
      const args: string[] = [String(this.options.ttlMs), String(chunk.length)];
      for (const s of chunk) {
        args.push(encodeServerId(s.serverId), s.claimId, s.graceLeftMs === undefined ? '' : String(Math.max(0, Math.round(s.graceLeftMs))));
        args.push(String(s.phones.length), ...s.phones);
      }
      calls.push(this.call.reassert(this.pfx, generation, this.self, ...args) as Promise<string[]>);
    }
    const replies = await Promise.all(calls);
    const out: ReassertOutcome[] = [];
    for (const r of replies) {
      if (r[0] === 'gen') return { kind: 'generation_changed', generation: str(r, 1) };
      if (r[0] !== 'reasserted') throw unexpected(r);
      for (let at = 1; at < r.length; at += 3) {
        const serverId = decodeServerId(str(r, at));
        out.push(r[at + 1] === 'ok' ? { serverId, kind: 'ok', epoch: num(r, at + 2) } : { serverId, kind: 'lost' });
      }
    }
    this.generation = generation;
    return out;
  }
}

/** A random generation id (96 bits). */
export function newGeneration(): string {
  return randomBytes(12).toString('hex');
}

/** A fresh request id for expire/reap (retries reuse it). */
export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

function checkConnId(serverId: string, connId: string): void {
  // The reaper finds a phone's server-id inside its conn_id, so the format is load-bearing.
  const head = `client-${serverId}`;
  if (!connId.startsWith(head) || !CONN_ID_TAIL.test(connId.slice(head.length))) {
    throw new RangeError('conn_id must be client-<server-id>-<8 hex>');
  }
}

function conflict(r: string[]): ClaimResult {
  if (r[0] !== 'conflict') throw unexpected(r);
  return { kind: 'conflict', incumbent: { epoch: num(r, 1), node: str(r, 2), claimId: str(r, 3) } };
}

function pairs(r: string[], at: number, n: number): PhoneRef[] {
  const out: PhoneRef[] = [];
  for (let k = 0; k < n; k++) out.push({ connId: str(r, at + 2 * k), node: str(r, at + 2 * k + 1) });
  return out;
}

function str(r: string[], i: number): string {
  const v = r[i];
  if (typeof v !== 'string') throw unexpected(r);
  return v;
}

function num(r: string[], i: number): number {
  const v = Number(str(r, i));
  if (!Number.isSafeInteger(v)) throw unexpected(r);
  return v;
}

function expectHead(r: string[], head: string): void {
  if (!Array.isArray(r) || r[0] !== head) throw unexpected(r);
}

function unexpected(r: unknown): Error {
  const head = Array.isArray(r) ? String(r[0]) : typeof r;
  return new Error(`unexpected registry script reply: ${head.slice(0, 32)}`);
}

/**
 * Splits a reap result by the live node that must act on each part: a node gets
 * the reaped slots its phones belong to (with only its own phones) and the
 * removed phones whose binary it holds (each owes that binary a close notice).
 * The reaping node acts on its own share and sends the others theirs.
 */
export function reapShares(result: ReapResult): Map<NodeRef, ReapResult> {
  const out = new Map<NodeRef, ReapResult>();
  const share = (ref: NodeRef): ReapResult => {
    let s = out.get(ref);
    if (s === undefined) {
      s = { nodes: result.nodes, slots: [], phones: [] };
      out.set(ref, s);
    }
    return s;
  };
  for (const slot of result.slots) {
    const byNode = new Map<NodeRef, PhoneRef[]>();
    for (const p of slot.phones) {
      const list = byNode.get(p.node);
      if (list === undefined) byNode.set(p.node, [p]);
      else list.push(p);
    }
    for (const [ref, phones] of byNode) share(ref).slots.push({ ...slot, phones });
  }
  for (const p of result.phones) if (p.binaryNode !== '') share(p.binaryNode).phones.push(p);
  return out;
}

/** Splits expired grace windows by the node holding each phone (each closes its own with 1000). */
export function expiredShares(slots: readonly ExpiredSlot[]): Map<NodeRef, ExpiredSlot[]> {
  const out = new Map<NodeRef, ExpiredSlot[]>();
  for (const slot of slots) {
    const byNode = new Map<NodeRef, PhoneRef[]>();
    for (const p of slot.phones) {
      const list = byNode.get(p.node);
      if (list === undefined) byNode.set(p.node, [p]);
      else list.push(p);
    }
    for (const [ref, phones] of byNode) {
      const list = out.get(ref);
      const part = { ...slot, phones };
      if (list === undefined) out.set(ref, [part]);
      else list.push(part);
    }
  }
  return out;
}
