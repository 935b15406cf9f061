// One binary connection on /v1/server. Besides the shared link state it owns
// the phone→binary backpressure of relay-behaviour.md §4: when its socket
// buffers more than the high-water mark, the server-id's phones stop being
// read until the socket drains. It is the local BinaryEndpoint (endpoints.ts).
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Clock } from './clock.js';
import { CloseCode, Reason } from '../protocol.js';
import type { BinaryEndpoint, BinaryState, PhoneSource } from './endpoints.js';
import { encodeCloseNotice } from './envelope.js';
import { Link, linkOf } from './link.js';
import { framePhoneFrame, sendFramed, sendText } from './wire.js';

export interface BinaryEvents {
  pausePhones(binary: BinaryLink): void;
  resumePhones(binary: BinaryLink): void;
}

function onDrain(this: Socket): void {
  linkOf<BinaryLink>(this).drained();
}

export class BinaryLink extends Link implements BinaryEndpoint {
  /** On the prototype, not per connection. */
  get drainFirst(): boolean {
    return false;
  }

  state: BinaryState = 'probing';
  phonesPaused = false;
  private stalledSince: number | undefined;
  /** Time of the last envelope_dropped log line, to bound log volume. */
  lastDropLogAt = 0;

  constructor(
    ws: WebSocket,
    socket: Socket,
    clock: Clock,
    remote: string,
    readonly serverId: string,
    readonly binaryConnId: string,
    readonly version: string,
    private readonly highWaterBytes: number,
    private readonly events: BinaryEvents,
  ) {
    super(ws, socket, clock, remote);
    socket.on('drain', onDrain);
  }

  /** The socket drained: writes progress again, phones may be read again. */
  drained(): void {
    this.stalledSince = undefined;
    if (this.phonesPaused) {
      this.phonesPaused = false;
      this.events.resumePhones(this);
    }
  }

  received(): void {
    this.countMessage();
  }

  /** Writes the close notice owed for a phone, if any. */
  phoneLeft(connId: string, notice: number | undefined): void {
    if (notice === undefined) return;
    sendText(this.ws, this.socket, encodeCloseNotice(connId, notice));
    this.afterWrite();
  }

  /** Wraps and writes a phone's frame: one allocation, the frame copied once. */
  fromPhone(phone: PhoneSource, frame: Buffer): void {
    sendFramed(this.ws, this.socket, framePhoneFrame(phone.wrapPrefix, frame));
    this.afterWrite();
  }

  private afterWrite(): void {
    const socket = this.socket;
    if (socket.writableNeedDrain) {
      if (this.stalledSince === undefined) this.stalledSince = this.clock.now();
      if (!this.phonesPaused && socket.writableLength > this.highWaterBytes) {
        this.phonesPaused = true;
        this.events.pausePhones(this);
      }
    }
  }

  writeStalledSince(): number | undefined {
    return this.stalledSince;
  }

  protected onWriteStalled(): void {
    this.close(CloseCode.internal, Reason.binaryWriteFailed);
  }
}
