// The relay's write path for data frames. Two mechanics, no behaviour change:
//  - Pre-framed writes: a text frame's WebSocket header is built by hand and
//    written straight to the TCP socket, skipping ws's per-send option objects
//    and header/payload split. Server frames are never masked and the relay
//    never compresses, so the bytes are exactly what ws.send would write. ws
//    still owns reading, control frames and the close handshake; writes stop
//    once it leaves OPEN, as ws.send would drop them. This relies on ws's Sender
//    writing its own frames through to the socket without queueing (listed in
//    src/lib/internals.ts, checked by its canary test).
//  - Coalescing: a socket is corked on its first write and uncorked together
//    with every other corked socket in one flush, so the frames produced
//    meanwhile for a socket leave in one writev instead of one syscall each.
//    When the relay is busy (the last flush was under BUSY_GAP_MS ago) the flush
//    waits for the end of the event-loop turn (setImmediate), so a binary
//    gets one writev for all the phones read in that turn. When it is idle the
//    flush runs right after the current I/O callback (nextTick): a lone frame
//    leaves at once, without the cost of an extra loop phase (5–10 µs of CPU per
//    frame on the benchmark machine at workload (i), docs/performance.md).
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

const OPEN = 1; // WebSocket.OPEN
const FIN_TEXT = 0x81;
/** Payloads up to this size are copied behind their header into one buffer. */
const COPY_LIMIT = 8192;

export function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** Writes an unmasked FIN text-frame header for `len` payload bytes at buf[0..]. */
export function writeHeader(buf: Buffer, len: number): void {
  buf[0] = FIN_TEXT;
  if (len < 126) {
    buf[1] = len;
  } else if (len < 65536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    buf.writeUInt32BE(len >>> 0, 6);
  }
}

/** Flushes closer together than this (ms) mean load: batch per event-loop turn. */
export const BUSY_GAP_MS = 0.05;

const corked: Socket[] = [];
let scheduled = false;
let lastFlushAt = -Infinity;

function schedule(): void {
  if (!scheduled) {
    scheduled = true;
    if (performance.now() - lastFlushAt < BUSY_GAP_MS) setImmediate(flush);
    else process.nextTick(flush);
  }
}

function flush(): void {
  scheduled = false;
  for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
  corked.length = 0;
  lastFlushAt = performance.now();
}

/** Corks `socket` until the next flush (see the header). */
export function coalesce(socket: Socket): void {
  // ws corks only around a single frame and uncorks before returning, so a
  // corked socket here is one this module corked since the last flush.
  if (socket.writableCorked !== 0) return;
  socket.cork();
  corked.push(socket);
  schedule();
}

/** Sends `payload` as one text frame; false if the connection is no longer open. */
export function sendText(ws: WebSocket, socket: Socket, payload: Buffer): boolean {
  if (ws.readyState !== OPEN) return false;
  coalesce(socket);
  const len = payload.length;
  const h = headerLength(len);
  if (len <= COPY_LIMIT) {
    const out = Buffer.allocUnsafe(h + len);
    writeHeader(out, len);
    out.set(payload, h);
    socket.write(out);
  } else {
    const head = Buffer.allocUnsafe(h);
    writeHeader(head, len);
    socket.write(head);
    socket.write(payload);
  }
  return true;
}

/** Sends a buffer that already starts with its frame header (see framePhoneFrame). */
export function sendFramed(ws: WebSocket, socket: Socket, framed: Buffer): boolean {
  if (ws.readyState !== OPEN) return false;
  coalesce(socket);
  socket.write(framed);
  return true;
}

/**
 * The phone → binary envelope `prefix + frame + '}'` as one complete text frame
 * (header included): one allocation, the frame copied once.
 */
export function framePhoneFrame(prefix: Buffer, frame: Buffer): Buffer {
  const plen = prefix.length;
  const len = plen + frame.length + 1;
  const h = headerLength(len);
  const out = Buffer.allocUnsafe(h + len);
  writeHeader(out, len);
  out.set(prefix, h);
  out.set(frame, h + plen);
  out[h + len - 1] = 0x7d; // }
  return out;
}
