// Proxies for connections held by another node (cluster.md §2, §4 "Routing";
// decision 0022). A RemoteBinary stands, on a phone's node, for the binary that
// holds the phone's server-id on node N; a RemotePhone stands, on the binary's
// node, for a phone on node N. Each endpoint call becomes one bus message to N on
// the ordered link, naming the server-id and the slot's fencing epoch, so N drops
// anything stale. Nothing is buffered here: the bus bounds what is queued per node
// and declares the link lost past it.
import { CloseCode } from '../protocol.js';
import type { BinaryEndpoint, BinaryState, PhoneEndpoint, PhoneSource } from '../relay/endpoints.js';
import { makeWrapPrefix } from '../relay/envelope.js';
import { EvictReason, type BusMessage } from './bus-codec.js';
import type { NodeRef } from './keys.js';

/** What the proxies need of their node: the bus, and probes answered by another node. */
export interface RemoteRouter {
  send(node: NodeRef, msg: BusMessage): boolean;
  /** Whether the bus link to `node` is past its high-water mark. */
  congested(node: NodeRef): boolean;
  probe(node: NodeRef, serverId: string, epoch: number, timeoutMs: number): Promise<boolean>;
}

/** The binary of a slot held on another node, as this node's phones of that slot see it. */
export class RemoteBinary implements BinaryEndpoint {
  /** 'gone' once its node is reaped: the slot is in grace and a phone's frame closes the phone. */
  state: BinaryState = 'active';
  /** Set by the binary's node (pause / resume messages). */
  peerPaused = false;
  readonly binaryConnId: string;

  constructor(
    private readonly router: RemoteRouter,
    readonly node: NodeRef,
    readonly serverId: string,
    readonly epoch: number,
  ) {
    this.binaryConnId = `@${node}`;
  }

  /** Its node asked, or the bus link to it is congested: the phones stay unread. */
  get phonesPaused(): boolean {
    return this.peerPaused || this.router.congested(this.node);
  }

  fromPhone(phone: PhoneSource, frame: Buffer): void {
    this.router.send(this.node, { kind: 'frameToBinary', serverId: this.serverId, epoch: this.epoch, connId: phone.connId, frame });
  }

  /** Always told, so the binary's node forgets its proxy; code 0 means no notice is owed. */
  phoneLeft(connId: string, notice: number | undefined): void {
    this.router.send(this.node, { kind: 'phoneLeave', serverId: this.serverId, epoch: this.epoch, connId, code: notice ?? 0 });
  }

  probe(timeoutMs: number): Promise<boolean> {
    return this.router.probe(this.node, this.serverId, this.epoch, timeoutMs);
  }

  /** Only a takeover closes a remote binary: its node closes it and forgets the slot. */
  close(code: number): void {
    this.router.send(this.node, {
      kind: 'evict',
      serverId: this.serverId,
      epoch: this.epoch,
      connId: undefined,
      code,
      reason: EvictReason.takenOver,
    });
  }
}

/** The proxies of one slot's phones on one node share their pause state: one message per node. */
export class RemoteGroup {
  paused = false;
  constructor(
    readonly node: NodeRef,
    readonly serverId: string,
    readonly epoch: number,
  ) {}
}

/** A phone on another node registered under a binary this node holds. */
export class RemotePhone implements PhoneEndpoint, PhoneSource {
  private prefix: Buffer | undefined;

  constructor(
    private readonly router: RemoteRouter,
    readonly group: RemoteGroup,
    readonly connId: string,
  ) {}

  get serverId(): string {
    return this.group.serverId;
  }

  get node(): NodeRef {
    return this.group.node;
  }

  get epoch(): number {
    return this.group.epoch;
  }

  /** The binary's node wraps the phone's frames, so it needs the prefix too. */
  get wrapPrefix(): Buffer {
    return (this.prefix ??= makeWrapPrefix(this.connId));
  }

  sendFrame(frame: Buffer): boolean {
    const g = this.group;
    return this.router.send(g.node, { kind: 'frameToPhone', serverId: g.serverId, epoch: g.epoch, connId: this.connId, frame });
  }

  closeByBinary(frame: Buffer | undefined, code: number): void {
    const g = this.group;
    this.router.send(g.node, { kind: 'closeDirective', serverId: g.serverId, epoch: g.epoch, connId: this.connId, code, frame });
  }

  closeNow(code: number): void {
    const g = this.group;
    const reason =
      code === CloseCode.normal ? EvictReason.graceExpired : code === CloseCode.noServer ? EvictReason.reclaimed : EvictReason.routeLost;
    this.router.send(g.node, { kind: 'evict', serverId: g.serverId, epoch: g.epoch, connId: this.connId, code, reason });
  }

  pause(): void {
    const g = this.group;
    if (g.paused) return;
    g.paused = true;
    this.router.send(g.node, { kind: 'pause', serverId: g.serverId, epoch: g.epoch });
  }

  resume(): void {
    const g = this.group;
    if (!g.paused) return;
    g.paused = false;
    this.router.send(g.node, { kind: 'resume', serverId: g.serverId, epoch: g.epoch });
  }
}
