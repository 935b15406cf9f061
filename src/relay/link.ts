// State every relay connection shares, binary or phone: its socket, the
// heartbeat, the inbound message deadline, the liveness probe and close
// bookkeeping. Checked by one periodic sweep (sweeper.ts) instead of timers per
// connection, so tens of thousands of idle connections cost no timer churn.
// Time comes from the injected clock (clock.ts).
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { closeCodeForWsError, receivingMessage } from '../lib/internals.js';
import { CloseCode, Reason } from '../protocol.js';
import type { Clock } from './clock.js';
import type { Swept, Timeouts } from './sweeper.js';

// Listeners are shared functions, not per-connection closures: at tens of
// thousands of idle connections each closure (and its context) is measurable
// RSS. The link is found from the emitter (ws or socket) through this symbol.
const kLink = Symbol('relay.link');

/** The link attached to a ws WebSocket or its TCP socket. */
export function linkOf<T extends Link>(emitter: object): T {
  return (emitter as Record<symbol, T>)[kLink] as T;
}

function onPong(this: WebSocket): void {
  linkOf(this).pong();
}

// ws has already answered a protocol error with a close frame; record its
// code for the close notice. Without this listener the error would be thrown.
function onError(this: WebSocket, err: Error): void {
  const link = linkOf(this);
  if (link.closeCodeSent === undefined) link.closeCodeSent = closeCodeForWsError(err);
}

export abstract class Link implements Swept {
  readonly openedAt: number;
  /** Code of the first close frame this relay sent, if it closed first. */
  closeCodeSent: number | undefined;
  closed = false;
  abstract get drainFirst(): boolean;

  private lastPingAt: number;
  private pingOutstandingSince = 0;
  private messages = 0;
  private partialSince = 0;
  private partialAtMessage = 0;
  private probeWaiters: Array<(alive: boolean) => void> | undefined;

  protected constructor(
    readonly ws: WebSocket,
    readonly socket: Socket,
    protected readonly clock: Clock,
    readonly remote: string,
  ) {
    this.openedAt = this.lastPingAt = clock.now();
    (ws as unknown as Record<symbol, Link>)[kLink] = this;
    (socket as unknown as Record<symbol, Link>)[kLink] = this;
    ws.on('pong', onPong);
    ws.on('error', onError);
  }

  /** Bumps the message counter the message deadline is measured against. */
  protected countMessage(): void {
    this.messages++;
  }

  /** Closes with a close frame; the first code sent wins. */
  close(code: number, reason: string): void {
    if (this.closeCodeSent === undefined && !this.closed) this.closeCodeSent = code;
    this.ws.close(code, reason);
    // A link held paused (pending registration, backpressure) must read the peer's close frame.
    this.ws.resume();
  }

  /** Shutdown's close: 1001. */
  goAway(): void {
    this.close(CloseCode.goingAway, Reason.shuttingDown);
  }

  /** Cuts the connection without a close handshake (end of a drain). */
  terminate(): void {
    this.ws.terminate();
  }

  /**
   * Liveness (conflict probe): pings, and resolves true on the next pong, false
   * after `timeoutMs` or when the connection closes first.
   */
  probe(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (alive: boolean): void => {
        this.clock.clearTimeout(timer);
        const waiters = this.probeWaiters;
        const i = waiters === undefined ? -1 : waiters.indexOf(settle);
        if (i !== -1) waiters!.splice(i, 1);
        resolve(alive);
      };
      const timer = this.clock.setTimeout(() => settle(false), timeoutMs);
      (this.probeWaiters ??= []).push(settle);
      this.ws.ping();
    });
  }

  /** The connection is gone: mark it, and answer pending probes with "not alive". */
  markClosed(): void {
    this.closed = true;
    this.settleProbes(false);
  }

  /** When writes last stopped making progress, or undefined. */
  abstract writeStalledSince(): number | undefined;
  protected abstract onWriteStalled(): void;

  /** One sweep step: heartbeat, message deadline, write progress. */
  tick(now: number, t: Timeouts): void {
    if (this.closed) return;
    if (this.pingOutstandingSince !== 0) {
      if (now - this.pingOutstandingSince >= t.heartbeatTimeoutMs) {
        this.close(CloseCode.internal, Reason.heartbeatTimeout);
        return;
      }
    } else if (now - this.lastPingAt >= t.heartbeatIntervalMs) {
      this.lastPingAt = now;
      this.pingOutstandingSince = now;
      this.ws.ping();
    }
    if (receivingMessage(this.ws)) {
      if (this.partialSince === 0 || this.partialAtMessage !== this.messages) {
        this.partialSince = now;
        this.partialAtMessage = this.messages;
      } else if (now - this.partialSince >= t.readMessageTimeoutMs) {
        this.close(CloseCode.policy, Reason.messageTimeout);
        return;
      }
    } else {
      this.partialSince = 0;
    }
    const stalled = this.writeStalledSince();
    if (stalled !== undefined && now - stalled >= t.writeTimeoutMs) this.onWriteStalled();
  }

  /** A pong arrived (called from the shared listener). */
  pong(): void {
    this.pingOutstandingSince = 0;
    this.settleProbes(true);
  }

  private settleProbes(alive: boolean): void {
    const waiters = this.probeWaiters;
    if (waiters !== undefined) {
      this.probeWaiters = undefined;
      for (const w of waiters) w(alive);
    }
  }
}
