// A phone's outbound FIFO (relay-behaviour.md §3–§4). The binary's read loop
// hands frames here and never waits: while the phone's socket keeps up, frames
// go straight to it; once the socket's buffer passes its high-water mark they
// queue here, bounded by the per-phone byte budget and the relay-wide budget,
// and drain on the socket's 'drain' event. A close directive queues behind the
// frames before it; eviction and shutdown bypass the queue.
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { CloseCode } from '../protocol.js';
import type { Backlogged, BufferBudget } from './buffer-budget.js';
import type { Clock } from './clock.js';
import { sendText } from './wire.js';

/** Bytes charged per queued item on top of its length (matches the reference's accounting). */
export const ITEM_OVERHEAD = 64;

/**
 * A decoded frame is a view into the whole inbound message (and that often into a
 * larger socket chunk). Queued for a while, the view would pin the whole parent
 * while being charged only its own length, so small views of large parents are
 * copied before they wait.
 */
function compact(frame: Buffer): Buffer {
  return frame.buffer.byteLength > 2 * frame.length + 4096 ? Buffer.from(frame) : frame;
}

interface CloseItem {
  readonly frame: Buffer | undefined;
  readonly code: number;
}
type Item = Buffer | CloseItem;

export interface OutboxOwner {
  /** A frame was handed to the socket. */
  onFrameWritten(frame: Buffer): void;
  /** The per-phone or relay-wide budget overflowed: close with this code. */
  onOverflow(code: number, byDirective: boolean): void;
  /** A queued close directive reached the head and its frame was written. */
  onDirectiveClose(code: number): void;
}

// Shared 'drain' listener (no closure per phone); the outbox hangs off its socket.
const kOutbox = Symbol('relay.outbox');
function onSocketDrain(this: Socket): void {
  (this as unknown as Record<symbol, Outbox>)[kOutbox]!.drained();
}

/** The queue, created on first use: most phones never queue anything. */
const NO_ITEMS: Item[] = [];

export class Outbox implements Backlogged {
  private items: Item[] = NO_ITEMS;
  private head = 0;
  private queued = 0;
  /** Set once a close directive is accepted: later frames are refused. */
  private sealed = false;
  /** When the socket last stopped taking bytes; undefined while it keeps up. */
  stalledSince: number | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly limit: number,
    private readonly budget: BufferBudget,
    private readonly owner: OutboxOwner,
    private readonly clock: Clock,
  ) {
    (socket as unknown as Record<symbol, Outbox>)[kOutbox] = this;
    socket.on('drain', onSocketDrain);
  }

  get backlogBytes(): number {
    return this.queued;
  }

  /** Bytes this phone pins: queued plus written but not yet taken by the kernel. */
  get pinnedBytes(): number {
    return this.queued + this.socket.writableLength;
  }

  /** Returns false when the frame was refused (sealed or overflow). */
  sendFrame(frame: Buffer): boolean {
    if (this.sealed) return false;
    if (this.items.length === this.head && !this.socket.writableNeedDrain) {
      this.write(frame);
      return true;
    }
    return this.enqueue(compact(frame), frame.length, undefined);
  }

  /** Write `frame` (if any) then close with `code`, behind everything queued. */
  closeAfter(frame: Buffer | undefined, code: number): void {
    if (this.sealed) return;
    this.sealed = true;
    if (this.items.length === this.head && !this.socket.writableNeedDrain) {
      if (frame !== undefined) this.write(frame);
      this.owner.onDirectiveClose(code);
      return;
    }
    this.enqueue({ frame: frame && compact(frame), code }, frame?.length ?? 0, code);
  }

  /** Drops everything pending (immediate close paths) and releases the budget. */
  clear(): void {
    this.sealed = true;
    if (this.queued > 0) {
      const bytes = this.queued;
      this.queued = 0;
      this.budget.release(this, bytes);
    }
    this.items.length = 0;
    this.head = 0;
  }

  shed(): void {
    this.overflow(undefined);
  }

  private overflow(directiveCode: number | undefined): void {
    this.clear();
    this.owner.onOverflow(directiveCode ?? CloseCode.internal, directiveCode !== undefined);
  }

  private enqueue(item: Item, length: number, directiveCode: number | undefined): boolean {
    const charge = length + ITEM_OVERHEAD;
    if (this.pinnedBytes + charge > this.limit) {
      this.overflow(directiveCode);
      return false;
    }
    // The relay-wide budget may shed this very phone (shed() has then closed it).
    if (!this.budget.charge(this, charge)) return false;
    this.queued += charge;
    if (this.items === NO_ITEMS) this.items = [];
    this.items.push(item);
    if (this.stalledSince === undefined) this.stalledSince = this.clock.now();
    return true;
  }

  private write(frame: Buffer): void {
    sendText(this.ws, this.socket, frame);
    this.owner.onFrameWritten(frame);
    if (this.stalledSince === undefined && this.socket.writableNeedDrain) this.stalledSince = this.clock.now();
  }

  /** The socket's 'drain': write what is queued while it keeps up. */
  drained(): void {
    this.stalledSince = undefined;
    while (this.items.length > this.head && !this.socket.writableNeedDrain) {
      const item = this.items[this.head] as Item;
      this.items[this.head++] = undefined as unknown as Item; // release the buffer early
      const length = Buffer.isBuffer(item) ? item.length : (item.frame?.length ?? 0);
      this.queued -= length + ITEM_OVERHEAD;
      this.budget.release(this, length + ITEM_OVERHEAD);
      if (Buffer.isBuffer(item)) {
        this.write(item);
      } else {
        if (item.frame !== undefined) this.write(item.frame);
        this.items.length = 0;
        this.head = 0;
        this.owner.onDirectiveClose(item.code);
        return;
      }
    }
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }
}
