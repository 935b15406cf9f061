// One phone connection on /v1/client: its conn_id, the binary it registered
// under, its outbox, and whether the binary asked for its close (which
// suppresses the close notice, relay-behaviour.md §5). It is the local
// PhoneEndpoint (endpoints.ts).
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { BufferBudget } from './buffer-budget.js';
import type { Clock } from './clock.js';
import { CloseCode, Reason } from '../protocol.js';
import type { BinaryEndpoint, PhoneEndpoint } from './endpoints.js';
import { makeWrapPrefix } from './envelope.js';
import { Link } from './link.js';
import { Outbox, type OutboxOwner } from './outbox.js';

export interface PhoneEvents {
  onFrameWritten(frame: Buffer): void;
  onBacklogClose(phone: PhoneLink): void;
}

export class PhoneLink extends Link implements PhoneEndpoint, OutboxOwner {
  /** On the prototype, not per connection. */
  get drainFirst(): boolean {
    return true;
  }

  readonly outbox: Outbox;
  private prefix: Buffer | undefined;
  /** The binary holding the slot when this phone registered; set once registration settles. */
  binary: BinaryEndpoint | undefined;
  /** True once the binary sent a close directive for this phone. */
  closeRequestedByBinary = false;

  constructor(
    ws: WebSocket,
    socket: Socket,
    clock: Clock,
    remote: string,
    readonly serverId: string,
    readonly connId: string,
    readonly deviceName: string | undefined,
    outboxLimit: number,
    budget: BufferBudget,
    private readonly events: PhoneEvents,
  ) {
    super(ws, socket, clock, remote);
    this.outbox = new Outbox(ws, socket, outboxLimit, budget, this, clock);
  }

  /**
   * `{"conn_id":"<id>","frame":` — built on the first frame (idle phones never
   * need it), then prefixed to every frame.
   */
  get wrapPrefix(): Buffer {
    return (this.prefix ??= makeWrapPrefix(this.connId));
  }

  /** Message counted for the inbound deadline. */
  received(): void {
    this.countMessage();
  }

  /** A frame from the binary (the frame path: no wrapper beyond this call). */
  sendFrame(frame: Buffer): boolean {
    return this.outbox.sendFrame(frame);
  }

  pause(): void {
    this.ws.pause();
  }

  /** Reading starts only once registration settled (the relay holds it paused until then). */
  resume(): void {
    if (this.binary !== undefined) this.ws.resume();
  }

  /** The binary's close directive: frame (if any) then close, behind the queue. */
  closeByBinary(frame: Buffer | undefined, code: number): void {
    this.closeRequestedByBinary = true;
    this.outbox.closeAfter(frame, code);
  }

  /** Eviction, grace expiry, shutdown: close now, dropping anything queued. */
  closeNow(code: number, reason: string): void {
    this.outbox.clear();
    this.close(code, reason);
  }

  override goAway(): void {
    this.closeNow(CloseCode.goingAway, Reason.shuttingDown);
  }

  onFrameWritten(frame: Buffer): void {
    this.events.onFrameWritten(frame);
  }

  onOverflow(code: number, byDirective: boolean): void {
    if (byDirective) {
      this.close(code, '');
    } else {
      this.events.onBacklogClose(this);
      this.close(CloseCode.internal, Reason.backlogFull);
    }
  }

  onDirectiveClose(code: number): void {
    this.close(code, '');
  }

  writeStalledSince(): number | undefined {
    return this.outbox.stalledSince;
  }

  protected onWriteStalled(): void {
    this.closeNow(CloseCode.internal, Reason.phoneWriteFailed);
  }
}
