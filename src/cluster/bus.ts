// The cluster frame bus (docs/decisions/0018-cluster-bus.md): ordered, loss-detecting
// node-to-node links over Redis pub/sub.
//
// Owns: batching the messages for each destination node into PUBLISHes on the
// destination's channel, per-link sequence numbers and their checks on receipt, the
// bounds on batch and queued bytes, and proving the node's own subscription (explicit
// SUBSCRIBE + a self-probe after every subscriber (re)connect, idle probes, subscriber
// restart when a probe is lost). Redis pub/sub is at-most-once, so nothing is ever
// replayed: every possible loss is declared as `linkLost` and the relay closes the
// pairs that crossed that link (1012). Does not own the Redis connections: the caller
// creates them with redis-client.ts (roles 'bus-pub' and 'bus-sub'), handles their
// errors and closes them.
//
// Link rules, per ordered pair of nodes (src → dst), decision 0018:
//  - the sender numbers batches 1, 2, … within a link epoch. Declaring the link lost
//    bumps the epoch, restarts at 1, drops what was queued and announces the new
//    epoch (an empty batch if nothing else goes), so the peer declares `reset`;
//  - the receiver accepts seq = expected; lower is a duplicate, an older epoch stale
//    (both dropped); higher is a gap. A gap or this node's own subscription loss means
//    inbound messages were lost: the node declares the link lost, drops everything of
//    the peer's current epoch and asks it (LinkFlag.restart) for a new one, which the
//    peer starts with LinkFlag.answer. So no batch after a loss is ever accepted in the
//    epoch the loss happened in, and a request or answer never triggers another.
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import {
  decodeBatch,
  encodeBatchInto,
  encodeSelfProbe,
  headerBytes,
  LinkFlag,
  messageBytes,
  MAX_MESSAGES_PER_BATCH,
  type BusMessage,
} from './bus-codec.js';
import { PublishWriter } from './bus-publish.js';
import { RespFramer } from './resp-framer.js';
import { filterRedisReads } from '../lib/internals.js';

/** Why a link was declared lost (a log/metric enum, never free text). */
export type LinkLostReason =
  | 'gap' // a batch from the peer was missed
  | 'reset' // the peer declared the link lost and started a new epoch
  | 'publish_failed' // PUBLISH to the peer errored (connection down, refused)
  | 'not_subscribed' // PUBLISH reached no subscriber: the peer's channel is gone
  | 'overflow' // more than maxQueuedBytes pending or in flight to the peer
  | 'subscriber_lost' // this node's subscriber connection dropped
  | 'probe_lost'; // this node's self-probe did not come back in time

export type FlushPolicy = 'immediate' | 'tick' | 'adaptive';

export interface FrameBusOptions {
  /** This node's `<nodeId>:<incarnation>`. */
  nodeRef: string;
  /** The pub/sub channel of a node (ClusterKeys.busChannel). */
  channelFor: (nodeRef: string) => string;
  /** PUBLISH connection, role 'bus-pub': no offline queue, no resend (a late frame is worse than a reset). */
  publisher: Redis;
  /** Dedicated subscriber connection, role 'bus-sub'. */
  subscriber: Redis;
  /** Largest PUBLISH payload; a single larger message goes alone. Default 128 KiB. */
  maxBatchBytes?: number;
  /** Bytes queued plus in flight per destination before its link is lost. Default 8 MiB. */
  maxQueuedBytes?: number;
  /**
   * Above this many bytes queued plus in flight to a destination the link is
   * `congested` until they fall to half of it (`drained`), so senders stop reading
   * well before the loss bound. Default a quarter of maxQueuedBytes.
   */
  highWaterBytes?: number;
  /** Probe the subscription when nothing arrived for this long. Default 5 s. */
  probeIntervalMs?: number;
  /** A probe not back within this → restart the subscriber. Default 2 s. */
  probeTimeoutMs?: number;
  /** Peers whose link state is kept; batches from further unknown sources are foreign. Default 1024. */
  maxPeers?: number;
  /** When queued messages are published (decision 0018). Default 'immediate'. */
  flush?: FlushPolicy;
  /** Counters to add to, so a node's successive buses (one per incarnation) share its series. */
  counters?: BusCounters;
}

/**
 * Counters read at scrape time by bus-metrics.ts (`pyrycode_relay_cluster_bus_*`):
 * plain fields, one add per batch or message, nothing per byte.
 */
export class BusCounters {
  batchesOut = 0;
  batchesIn = 0;
  messagesOut = 0;
  messagesIn = 0;
  /** frameToPhone / frameToBinary / closeDirective-with-frame messages. */
  framesOut = 0;
  framesIn = 0;
  bytesOut = 0;
  bytesIn = 0;
  /** Batches received after a missing one. */
  gaps = 0;
  /** Batches dropped as a duplicate or of a stale link epoch. */
  duplicates = 0;
  /** Payloads on the channel that are not a valid batch. */
  malformed = 0;
  /** Valid batches addressed to another node, or a probe from another node. */
  foreign = 0;
  publishFailures = 0;
  /** PUBLISHes that reached no subscriber. */
  publishUnheard = 0;
  /** Messages refused because their destination's queue bound was reached. */
  overflows = 0;
  readonly linksLost: Record<LinkLostReason, number> = {
    gap: 0,
    reset: 0,
    publish_failed: 0,
    not_subscribed: 0,
    overflow: 0,
    subscriber_lost: 0,
    probe_lost: 0,
  };
  probesSent = 0;
  probesLost = 0;
  /** Explicit SUBSCRIBEs after a subscriber (re)connect. */
  subscribes = 0;
}

interface BusEvents {
  message: [src: string, msg: BusMessage];
  linkLost: [peer: string, reason: LinkLostReason];
  congested: [peer: string];
  drained: [peer: string];
  ready: [];
  notReady: [];
}

/** Sending side of one link. */
class TxLink {
  epoch = 1;
  /** Last seq used in this epoch. */
  seq = 0;
  pending: BusMessage[] = [];
  /** messageBytes of each pending message, computed once in send(). */
  sizes: number[] = [];
  pendingBytes = 0;
  inflightBytes = 0;
  queued = false;
  /** Past the high-water mark and not yet back under the low one. */
  congested = false;
  /** Reset and nothing accepted since: a further refusal needs no new declaration. */
  fresh = false;
  /** LinkFlag bits of the current epoch, carried by each of its batches. */
  flags = 0;
  /** This node still needs the peer to restart its epoch toward us. */
  needRestart = false;
  /** The current epoch has not been announced (published) yet. */
  unannounced = false;
  constructor(
    readonly peer: string,
    readonly channel: string,
  ) {}
}

/** Receiving side of one link. */
interface RxLink {
  epoch: number;
  next: number;
  /** This node declared inbound loss: drop this epoch, wait for the peer's next one. */
  awaiting: boolean;
  /** This node asked the peer to restart and has not seen its answer yet. */
  requested: boolean;
}

const U32 = 0x1_0000_0000;
const DEFAULT_BATCH = 128 * 1024;
const DEFAULT_QUEUED = 8 * 1024 * 1024;
/** Flushes closer together than this count as busy for the adaptive policy. */
const BUSY_GAP_MS = 0.05;

/** Whether link epoch `a` is newer than `b` in u32 serial arithmetic. */
function newer(a: number, b: number): boolean {
  const d = (a - b + U32) % U32;
  return d !== 0 && d < U32 / 2;
}

function carriesFrame(m: BusMessage): boolean {
  return m.kind === 'frameToPhone' || m.kind === 'frameToBinary' || (m.kind === 'closeDirective' && m.frame !== undefined);
}

export class FrameBus extends EventEmitter<BusEvents> {
  readonly counters: BusCounters;
  readonly nodeRef: string;
  private readonly channel: string;
  private readonly channelBuf: Buffer;
  private readonly publisher: Redis;
  private readonly writer: PublishWriter;
  private readonly subscriber: Redis;
  private readonly channelFor: (nodeRef: string) => string;
  private readonly maxBatchBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly highWaterBytes: number;
  private readonly probeIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly policy: FlushPolicy;
  private readonly maxPeers: number;

  private readonly tx = new Map<string, TxLink>();
  private readonly rx = new Map<string, RxLink>();
  private readonly dirty: TxLink[] = [];
  private flushScheduled = false;
  private lastFlushAt = 0;

  private ready = false;
  /**
   * The subscriber was ready since the last all-links declaration, so a drop now may
   * have lost messages. Keeps failed reconnect attempts (each a 'close') from
   * re-declaring, yet a second drop after a reconnect is always declared.
   */
  private subscribedSinceDeclared = false;
  private probePending: number | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastRxAt = 0;
  private stopped = false;

  private readonly onSubReady = (): void => {
    // Whole RESP values only for ioredis's parser: see resp-framer.ts.
    filterRedisReads(this.subscriber, () => {
      const framer = new RespFramer();
      return (chunk, parse) => framer.push(chunk, parse);
    });
    this.subscribedSinceDeclared = true;
    void this.subscribeAndProbe();
  };
  private readonly onSubClose = (): void => this.subscriptionLost('subscriber_lost');
  private readonly onSubMessage = (channel: Buffer, payload: Buffer): void => this.receive(channel, payload);
  private readonly flushBound = (): void => this.flush();

  constructor(opts: FrameBusOptions) {
    super();
    this.counters = opts.counters ?? new BusCounters();
    this.nodeRef = opts.nodeRef;
    this.channelFor = opts.channelFor;
    this.channel = opts.channelFor(opts.nodeRef);
    this.channelBuf = Buffer.from(this.channel, 'latin1');
    this.publisher = opts.publisher;
    this.subscriber = opts.subscriber;
    this.maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_BATCH;
    // A slab holds a full batch plus its RESP framing (channel names are short).
    this.writer = new PublishWriter(this.publisher, this.maxBatchBytes + 1024, 32);
    this.maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_QUEUED;
    this.highWaterBytes = opts.highWaterBytes ?? this.maxQueuedBytes >> 2;
    this.probeIntervalMs = opts.probeIntervalMs ?? 5000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 2000;
    this.policy = opts.flush ?? 'immediate';
    this.maxPeers = opts.maxPeers ?? 1024;
  }

  /** Starts listening; `ready` follows once the node's own subscription is proven. */
  start(): void {
    this.subscriber.on('ready', this.onSubReady);
    this.subscriber.on('close', this.onSubClose);
    this.subscriber.on('messageBuffer', this.onSubMessage);
    this.idleTimer = setInterval(() => this.idleProbe(), Math.max(10, this.probeIntervalMs >> 1));
    this.idleTimer.unref();
    if (this.subscriber.status === 'ready') this.onSubReady();
  }

  /** Stops timers and listeners; the connections stay the caller's to close. */
  stop(): void {
    this.stopped = true;
    this.subscriber.off('ready', this.onSubReady);
    this.subscriber.off('close', this.onSubClose);
    this.subscriber.off('messageBuffer', this.onSubMessage);
    clearInterval(this.idleTimer);
    clearTimeout(this.probeTimer);
    this.probePending = undefined;
    this.ready = false;
  }

  /** Whether this node's subscription is proven (a self-probe came back since the last loss). */
  get isReady(): boolean {
    return this.ready;
  }

  /**
   * Queues `msg` for node `dst`; it leaves with everything else queued for `dst` in this
   * event-loop turn. False when the destination's bound was reached: the message is
   * dropped and the link declared lost (linkLost follows on the next tick).
   */
  send(dst: string, msg: BusMessage): boolean {
    if (this.stopped) return false;
    let l = this.tx.get(dst);
    if (l === undefined) {
      l = new TxLink(dst, this.channelFor(dst));
      this.tx.set(dst, l);
    }
    const n = messageBytes(msg);
    if (l.pendingBytes + l.inflightBytes + n > this.maxQueuedBytes) {
      this.counters.overflows++;
      if (!l.fresh) {
        this.resetTx(l, 0);
        // Deferred: the caller may be iterating its pairs when it sends.
        process.nextTick(() => this.lost(dst, 'overflow'));
      }
      return false;
    }
    l.fresh = false;
    l.pending.push(msg);
    l.sizes.push(n);
    l.pendingBytes += n;
    if (!l.congested && l.pendingBytes + l.inflightBytes > this.highWaterBytes) {
      l.congested = true;
      this.emit('congested', dst);
    }
    if (!l.queued) {
      l.queued = true;
      this.dirty.push(l);
      if (!this.flushScheduled) this.scheduleFlush();
    }
    return true;
  }

  /** Whether the link to `peer` is congested (see highWaterBytes). */
  isCongested(peer: string): boolean {
    return this.tx.get(peer)?.congested === true;
  }

  /** Forgets a peer that left the cluster (reaped), so its link state does not linger. */
  forget(peer: string): void {
    const l = this.tx.get(peer);
    if (l !== undefined) {
      l.pending = [];
      l.sizes = [];
      l.pendingBytes = 0;
      this.tx.delete(peer);
      if (l.congested) {
        l.congested = false;
        this.emit('drained', peer);
      }
    }
    this.rx.delete(peer);
  }

  /** Signals `drained` once a congested link is back under half its high-water mark. */
  private checkDrained(l: TxLink): void {
    if (l.congested && l.pendingBytes + l.inflightBytes <= this.highWaterBytes >> 1 && this.tx.get(l.peer) === l) {
      l.congested = false;
      this.emit('drained', l.peer);
    }
  }

  private scheduleFlush(): void {
    this.flushScheduled = true;
    if (this.policy === 'tick' || (this.policy === 'adaptive' && performance.now() - this.lastFlushAt >= BUSY_GAP_MS)) {
      process.nextTick(this.flushBound);
    } else {
      setImmediate(this.flushBound);
    }
  }

  /** Publishes everything queued: per destination, in order, in batches of ≤ maxBatchBytes. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.policy === 'adaptive') this.lastFlushAt = performance.now();
    const links = this.dirty.splice(0);
    for (const l of links) {
      l.queued = false;
      const msgs = l.pending;
      const sizes = l.sizes;
      if (msgs.length === 0) {
        if (l.unannounced && l.seq === 0) this.publishBatch(l, msgs, 0, 0, headerBytes(this.nodeRef, l.peer));
        continue;
      }
      l.pending = [];
      l.sizes = [];
      l.pendingBytes = 0;
      const head = headerBytes(this.nodeRef, l.peer);
      let from = 0;
      while (from < msgs.length) {
        // At least one message per batch; a message larger than the bound goes alone.
        let size = head + sizes[from]!;
        let to = from + 1;
        while (to < msgs.length && to - from < MAX_MESSAGES_PER_BATCH && size + sizes[to]! <= this.maxBatchBytes) size += sizes[to++]!;
        this.publishBatch(l, msgs, from, to, size);
        from = to;
      }
    }
  }

  private publishBatch(l: TxLink, msgs: BusMessage[], from: number, to: number, size: number): void {
    const epoch = l.epoch;
    const seq = ++l.seq;
    const flags = l.flags;
    l.unannounced = false;
    const header = { src: this.nodeRef, dst: l.peer, linkEpoch: epoch, seq, flags };
    const c = this.counters;
    c.batchesOut++;
    c.messagesOut += to - from;
    c.bytesOut += size;
    for (let i = from; i < to; i++) if (carriesFrame(msgs[i]!)) c.framesOut++;
    l.inflightBytes += size;
    this.writer.publish(
      l.channel,
      size,
      (out, at) => encodeBatchInto(out, at, header, msgs, from, to),
      (err, heard) => {
        l.inflightBytes -= size;
        this.checkDrained(l);
        if (!err && heard !== 0 && (flags & LinkFlag.restart) !== 0) l.needRestart = false;
        if ((err || heard === 0) && to === from && l.epoch === epoch && l.seq === 1) {
          // An empty announcement lost nothing: announce again later (the idle timer),
          // rather than declaring a loss per attempt while the peer is away.
          if (err) c.publishFailures++;
          else c.publishUnheard++;
          l.seq = 0;
          l.unannounced = true;
          return;
        }
        if (err) {
          c.publishFailures++;
          if (l.epoch === epoch) {
            this.resetTx(l, 0);
            this.lost(l.peer, 'publish_failed');
          }
        } else if (heard === 0) {
          c.publishUnheard++;
          if (l.epoch === epoch) {
            this.resetTx(l, 0);
            this.lost(l.peer, 'not_subscribed');
          }
        }
      },
    );
  }

  /**
   * Starts a new epoch on a link and drops what was queued. `flags` says why: 0 (this
   * node dropped outbound messages), restart (it lost inbound ones) or answer (the
   * peer asked). A restart request stays on every new epoch until one was heard.
   */
  private resetTx(l: TxLink, flags: number): void {
    l.epoch = (l.epoch + 1) % U32 || 1;
    l.seq = 0;
    l.pending = [];
    l.sizes = [];
    l.pendingBytes = 0;
    l.fresh = true;
    this.checkDrained(l);
    if (flags & LinkFlag.restart) l.needRestart = true;
    l.flags = (l.needRestart ? LinkFlag.restart : 0) | (flags & LinkFlag.answer);
    l.unannounced = true;
  }

  /** Publishes an empty batch for every new epoch not announced yet (rate: the idle timer). */
  private announce(): void {
    if (!this.ready) return; // an answer must not arrive before our subscription does
    for (const l of this.tx.values()) {
      if (l.unannounced && l.seq === 0 && !l.queued) {
        l.queued = true;
        this.dirty.push(l);
      }
    }
    if (this.dirty.length > 0 && !this.flushScheduled) this.scheduleFlush();
  }

  private lost(peer: string, reason: LinkLostReason): void {
    this.counters.linksLost[reason]++;
    this.emit('linkLost', peer, reason);
  }

  /** This node lost inbound messages from `peer`: declare, and ask it for a new epoch. */
  private lostInbound(peer: string, reason: LinkLostReason): void {
    let l = this.tx.get(peer);
    if (l === undefined) {
      l = new TxLink(peer, this.channelFor(peer));
      this.tx.set(peer, l);
    }
    this.resetTx(l, LinkFlag.restart);
    const r = this.rx.get(peer);
    if (r !== undefined) {
      r.awaiting = true;
      r.requested = true;
    } else {
      // Never heard from it: epoch 0 (never sent) so its next epoch reads as new, and
      // its answer to our request is recognised as one.
      this.rx.set(peer, { epoch: 0, next: 1, awaiting: false, requested: true });
    }
    this.lost(peer, reason);
  }

  private receive(channel: Buffer, payload: Buffer): void {
    if (this.stopped) return;
    const c = this.counters;
    c.bytesIn += payload.length;
    if (!channel.equals(this.channelBuf)) {
      c.foreign++;
      return;
    }
    const d = decodeBatch(payload);
    if (!d.ok) {
      c.malformed++;
      return;
    }
    const b = d.batch;
    if (b.dst !== this.nodeRef) {
      c.foreign++;
      return;
    }
    this.lastRxAt = performance.now();
    if (b.seq === 0) {
      const m = b.messages[0]!;
      if (b.src !== this.nodeRef || m.kind !== 'selfProbe') c.foreign++;
      else this.probeReturned(m.nonce);
      return;
    }
    let r = this.rx.get(b.src);
    let newEpoch = false;
    if (r === undefined) {
      if (this.rx.size >= this.maxPeers) {
        c.foreign++; // bounded state, whatever someone PUBLISHes
        return;
      }
      r = { epoch: b.linkEpoch, next: 1, awaiting: false, requested: false };
      this.rx.set(b.src, r);
      newEpoch = true;
      // A link that starts past epoch 1 was reset by the peer before we heard from it.
      if (b.linkEpoch !== 1 && b.seq === 1 && (b.flags & LinkFlag.answer) === 0) this.lost(b.src, 'reset');
    } else if (b.linkEpoch !== r.epoch) {
      if (!newer(b.linkEpoch, r.epoch)) {
        c.duplicates++;
        return;
      }
      const answered = r.requested && (b.flags & LinkFlag.answer) !== 0;
      if (answered) r.requested = false;
      r.epoch = b.linkEpoch;
      r.next = 1;
      r.awaiting = false;
      newEpoch = true;
      // The peer declared this link lost: close our side (unless it only answers our request).
      if (b.seq === 1 && !answered) this.lost(b.src, 'reset');
    } else if (r.awaiting) {
      c.duplicates++; // the epoch we lost messages in: nothing of it is trusted any more
      return;
    }
    if (b.seq < r.next) {
      c.duplicates++;
      return;
    }
    if (b.seq > r.next) {
      c.gaps++;
      this.lostInbound(b.src, 'gap');
      this.announce();
      return;
    }
    r.next = b.seq + 1;
    if (newEpoch) this.peerRestarted(b.src);
    if (newEpoch && (b.flags & LinkFlag.restart) !== 0) {
      // The peer lost our messages: restart our epoch toward it, as an answer.
      const l = this.tx.get(b.src);
      if (l !== undefined) {
        this.resetTx(l, LinkFlag.answer);
        this.announce();
      }
    }
    c.batchesIn++;
    const msgs = b.messages;
    c.messagesIn += msgs.length;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.kind === 'selfProbe') continue; // only valid at seq 0, see decodeBatch
      if (carriesFrame(m)) c.framesIn++;
      this.emit('message', b.src, m);
    }
  }

  /**
   * The peer started an epoch newer than any we lost messages in: that is all a
   * restart request asks for, so stop asking. Otherwise a request still waiting to be
   * heard (or whose PUBLISH reply is not read yet) rides on our answer to the peer's
   * own crossing request, the peer answers again, and that second answer reads as a
   * reset here. `requested` stays: the peer's answer to our request may still come.
   */
  private peerRestarted(peer: string): void {
    const l = this.tx.get(peer);
    if (l === undefined || !l.needRestart) return;
    l.needRestart = false;
    if (l.seq === 0) l.flags &= ~LinkFlag.restart; // not announced yet: announce without it
  }

  private async subscribeAndProbe(): Promise<void> {
    if (this.stopped) return;
    try {
      // Never trust the library's resubscription alone (cluster-notes rule 2).
      await this.subscriber.subscribe(this.channel);
      this.counters.subscribes++;
    } catch {
      return; // the connection dropped again; its next 'ready' retries
    }
    this.sendProbe();
  }

  private sendProbe(): void {
    if (this.stopped || this.probePending !== undefined) return;
    // Random, so a self-probe forged by another publisher cannot prove anything.
    const nonce = randomInt(0, 0xffffffff);
    this.probePending = nonce;
    this.counters.probesSent++;
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => this.probeTimedOut(nonce), this.probeTimeoutMs);
    this.probeTimer.unref();
    void this.publisher.publish(this.channel, encodeSelfProbe(this.nodeRef, nonce), (err) => {
      // The publisher is down: that proves nothing about the subscription. Retry later.
      if (err && this.probePending === nonce) {
        clearTimeout(this.probeTimer);
        this.probePending = undefined;
      }
    });
  }

  private probeReturned(nonce: number): void {
    if (nonce !== this.probePending) return;
    clearTimeout(this.probeTimer);
    this.probePending = undefined;
    if (!this.ready) {
      this.ready = true;
      this.emit('ready');
      this.announce();
    }
  }

  private probeTimedOut(nonce: number): void {
    if (this.stopped || nonce !== this.probePending) return;
    // After an event-loop stall the timers run before the I/O that arrived meanwhile
    // is read: give the probe's reply, if it is waiting in the socket, that one turn.
    setImmediate(() => this.probeLostFor(nonce));
  }

  private probeLostFor(nonce: number): void {
    if (this.stopped || nonce !== this.probePending) return;
    this.probePending = undefined;
    this.counters.probesLost++;
    this.subscriptionLost('probe_lost');
    // A connection that looks alive but delivers nothing: drop it and reconnect.
    // The probe went out on the publisher, which may be the silent one (a
    // black-holed link stays "ready" to the client): restart it too. Every link
    // is already declared lost, so failing its in-flight PUBLISHes costs nothing.
    this.subscriber.disconnect(true);
    this.publisher.disconnect(true);
  }

  private idleProbe(): void {
    this.announce(); // retries announcements whose PUBLISH failed, at this timer's pace
    if (this.stopped || this.probePending !== undefined || this.subscriber.status !== 'ready') return;
    if (!this.ready || performance.now() - this.lastRxAt >= this.probeIntervalMs) this.sendProbe();
  }

  /** The node's subscription may have missed messages: every link of this node is lost. */
  private subscriptionLost(reason: LinkLostReason): void {
    if (this.stopped) return;
    clearTimeout(this.probeTimer);
    this.probePending = undefined;
    if (this.ready) {
      this.ready = false;
      this.emit('notReady');
    }
    if (!this.subscribedSinceDeclared) return;
    this.subscribedSinceDeclared = false;
    const peers = new Set<string>([...this.tx.keys(), ...this.rx.keys()]);
    // Announced (with the restart request) once the new subscription is proven.
    for (const peer of peers) this.lostInbound(peer, reason);
  }
}
