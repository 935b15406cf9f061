// Every access to a library's private state, in one place (decision 0011). Semver
// does not cover private fields, so each one is named here with what the relay
// relies on and the version it was checked against; test/lib/internals.test.ts is
// the canary that exercises each against a real ws server, client and sockets and
// fails loudly when an upgrade changes one. `ws` and `ioredis` are pinned to the
// tested minors (package.json `~8.23.0`, `~5.11.1`); move WS_TESTED_MINOR /
// IOREDIS_TESTED_MINOR and the pins together, after the
// canary passes. Nothing else in src/ or bench/ may read an underscore field of ws
// or Node: add it here instead.
//
// Relied on without a private field, and also checked by the canary:
//  - ws's Sender writes a frame to the socket synchronously and never queues it
//    while `perMessageDeflate` is off and no Blob is sent (ws 8.x `Sender#_state`
//    stays DEFAULT). src/relay/wire.ts writes pre-framed data frames to the
//    socket itself, interleaved with ws's pings, pongs and close frames; a queue
//    in ws would reorder them.
//  - ws corks the socket only around one frame and uncorks before returning, so
//    a corked socket in wire.ts is one wire.ts corked.
//  - the `closeTimeout` server option (ws ≥ 8.18, missing from @types/ws) bounds
//    the close handshake.
//  - ioredis 5 writes what a Command's toWritable returns to the socket as it is
//    (src/cluster/bus-publish.ts), and reads its socket through one 'data'
//    listener, prepended when the connection comes up (filterRedisReads below).
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import type { WebSocket } from 'ws';
import { CloseCode } from '../protocol.js';

/** The ws minor the canary last passed on; package.json pins `~<this>.0`. */
export const WS_TESTED_MINOR = '8.23';

/** The ioredis minor the canary last passed on; package.json pins `~<this>.1`. */
export const IOREDIS_TESTED_MINOR = '5.11';

/** ws 8.x Receiver (lib/receiver.js) fields read by receivingMessage. */
interface WsReceiver {
  /** Parser state; 0 is GET_INFO (waiting for a new frame header), checked since 8.0. */
  _state: number;
  /** Opcode of an unfinished fragmented message, 0 when none (since 8.0). */
  _fragmented: number;
  /** Bytes read from the socket but not yet parsed into a frame (since 8.0). */
  _bufferedBytes: number;
}

/**
 * Whether ws holds part of an inbound message: a frame header or payload not yet
 * complete, or a fragmented message without its final frame. The message
 * deadline (relay-behaviour.md §6) is measured while this is true. Reads three
 * numbers; called once per connection per sweep, never per frame.
 */
export function receivingMessage(ws: WebSocket): boolean {
  const r = (ws as unknown as { _receiver: WsReceiver })._receiver;
  return r._bufferedBytes > 0 || r._fragmented !== 0 || r._state !== 0;
}

/**
 * The close code ws sent for a receiver error. ws 8.x tags each error it raises
 * while parsing with a module-private symbol whose description is `status-code`
 * (lib/constants.js kStatusCode) and has already answered with a close frame of
 * that code. Falls back to 1002 (protocol error) if the tag is ever missing.
 */
export function closeCodeForWsError(err: Error): number {
  for (const sym of Object.getOwnPropertySymbols(err)) {
    if (sym.description === 'status-code') {
      const code = (err as unknown as Record<symbol, unknown>)[sym];
      if (typeof code === 'number') return code;
    }
  }
  return CloseCode.protocolError;
}

/** The TCP socket under a ws WebSocket (ws 8.x `_socket`; benchmarks and tests only). */
export function wsSocket(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

/**
 * The socket a TLSSocket wraps, when it was built on an existing one (Node's
 * `_parent`, lib/_tls_wrap.js; checked on Node 20 and 22). A tls.Server fed a
 * net.Socket through its 'connection' event (the PROXY v2 front) keeps that
 * socket here; undefined for anything else.
 */
export function parentSocket(socket: unknown): unknown {
  if (typeof socket !== 'object' || socket === null) return undefined;
  return (socket as { _parent?: unknown })._parent ?? undefined;
}

/** Streams whose reads already pass through a filter (one per connection: ioredis makes a new stream on reconnect). */
const filtered = new WeakSet<object>();

/**
 * Puts `filter` between the socket of `redis`'s current connection and ioredis's
 * parser: each read goes through it, and the parser gets what it passes on (any
 * number of buffers, in order). ioredis 5's DataHandler prepends the parser as the
 * socket's first 'data' listener when a connection comes up, so this must run
 * after that ('ready') and at a reply boundary; it runs once per connection. False
 * when there is no connection, it is already filtered, or no parser is listening.
 */
export function filterRedisReads(redis: Redis, filter: () => (chunk: Buffer, parse: (data: Buffer) => void) => void): boolean {
  const stream = redis.stream as NodeJS.EventEmitter | undefined;
  if (stream === undefined || filtered.has(stream)) return false;
  const parser = stream.listeners('data')[0] as ((chunk: Buffer) => void) | undefined;
  if (parser === undefined) return false;
  const f = filter();
  stream.removeListener('data', parser);
  stream.prependListener('data', (chunk: Buffer) => f(chunk, parser));
  filtered.add(stream);
  return true;
}
