// A fake TCP socket and ws WebSocket for unit tests of the relay core's
// per-connection parts (outbox, links, sweeper). The socket records each text
// frame written and lets the test decide when it backs up and drains; the ws
// records pings, closes and pause state. Nothing touches the network.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { headerLength } from '../../src/relay/wire.js';

export class FakeSocket extends EventEmitter {
  /** Payloads of the text frames written, in order. */
  readonly frames: Buffer[] = [];
  writableNeedDrain = false;
  writableLength = 0;
  writableCorked = 0;
  /** After this many more frames the socket backs up (writableNeedDrain); undefined = never. */
  backUpAfter: number | undefined;
  private pendingHeader: number | undefined;

  cork(): void {
    this.writableCorked++;
  }

  uncork(): void {
    if (this.writableCorked > 0) this.writableCorked--;
  }

  write(chunk: Buffer): boolean {
    if (this.pendingHeader !== undefined) {
      // The payload of a large frame, written after its header.
      this.pendingHeader = undefined;
      this.frameDone(chunk);
    } else {
      const len = chunk[1]! & 0x7f;
      const payloadLen = len < 126 ? len : len === 126 ? chunk.readUInt16BE(2) : chunk.readUInt32BE(6);
      const h = headerLength(payloadLen);
      if (chunk.length === h) this.pendingHeader = payloadLen;
      else this.frameDone(chunk.subarray(h));
    }
    return !this.writableNeedDrain;
  }

  /** The kernel took everything: clear the backup and emit 'drain'. */
  drain(): void {
    this.writableNeedDrain = false;
    this.writableLength = 0;
    this.emit('drain');
  }

  text(): string[] {
    return this.frames.map((f) => f.toString());
  }

  private frameDone(payload: Buffer): void {
    this.frames.push(payload);
    if (this.backUpAfter !== undefined && --this.backUpAfter <= 0) {
      this.backUpAfter = undefined;
      this.writableNeedDrain = true;
    }
  }
}

export class FakeWs extends EventEmitter {
  readyState = 1; // OPEN
  pings = 0;
  paused = false;
  terminated = false;
  readonly closes: Array<{ code: number; reason: string }> = [];
  /** The ws Receiver fields link.ts reads to tell a partly received message. */
  readonly _receiver = { _state: 0, _fragmented: 0, _bufferedBytes: 0 };

  ping(): void {
    this.pings++;
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    this.readyState = 2; // CLOSING
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  terminate(): void {
    this.terminated = true;
  }
}

export function fakePair(): { ws: FakeWs; socket: FakeSocket; asWs: WebSocket; asSocket: Socket } {
  const ws = new FakeWs();
  const socket = new FakeSocket();
  return { ws, socket, asWs: ws as unknown as WebSocket, asSocket: socket as unknown as Socket };
}

/** Lets the write path's coalescing flush (nextTick / setImmediate) run. */
export function flushWrites(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
