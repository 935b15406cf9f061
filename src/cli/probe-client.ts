// One probe WebSocket: dials a relay endpoint and turns "the next message" and
// "the close" into promises with deadlines, so each probe check reads as a
// short script. Messages keep their opcode: the relay must send text frames only.
import { isIP, type LookupFunction } from 'node:net';
import WebSocket from 'ws';

export interface Received {
  text: string;
  isBinary: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface DialOptions {
  timeoutMs: number;
  /** PEM CA bundle trusted for wss:// (in addition to nothing else: it replaces the system store). */
  ca?: Buffer;
  /** Connect to this IP instead of resolving the URL's host (which still names SNI and Host). */
  resolve?: string;
}

/** A DNS lookup that always answers `ip`, like curl's --resolve. */
function fixedLookup(ip: string): LookupFunction {
  const family = isIP(ip);
  return (_host, options, cb) => {
    if (typeof options === 'object' && options.all) {
      (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: ip, family }]);
    } else cb(null, ip, family);
  };
}

export class ProbeSocket {
  private readonly queue: Received[] = [];
  private waiter: ((m: Received) => void) | undefined;
  private closeInfo: CloseInfo | undefined;
  private closeWaiters: Array<(c: CloseInfo) => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const m = { text: data.toString('utf8'), isBinary };
      const w = this.waiter;
      this.waiter = undefined;
      if (w !== undefined) w(m);
      else this.queue.push(m);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      for (const w of this.closeWaiters) w(this.closeInfo);
      this.closeWaiters = [];
    });
    ws.on('error', () => {}); // surfaced through open() or as a close
  }

  /** Resolves once the upgrade completes (101); rejects with what went wrong instead. */
  static open(url: string, headers: Record<string, string>, opts: DialOptions): Promise<ProbeSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers,
        perMessageDeflate: false,
        handshakeTimeout: opts.timeoutMs,
        followRedirects: false,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        ...(opts.resolve !== undefined ? { lookup: fixedLookup(opts.resolve) } : {}),
      });
      const sock = new ProbeSocket(ws);
      ws.once('open', () => resolve(sock));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        reject(new Error(`HTTP ${res.statusCode ?? '?'} instead of 101`));
      });
      ws.once('error', (err: Error) => reject(new Error(err.message)));
    });
  }

  /** The next message, or rejects after `ms`. */
  next(ms: number): Promise<Received> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(this.closeInfo ? `closed with ${this.closeInfo.code} before any message` : `no message within ${ms} ms`));
      }, ms);
      this.waiter = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }

  /** Resolves with the next message, or undefined if none arrives within `ms`. */
  async quietFor(ms: number): Promise<Received | undefined> {
    try {
      return await this.next(ms);
    } catch {
      return undefined;
    }
  }

  /** The close code and reason, or rejects after `ms`. */
  closed(ms: number): Promise<CloseInfo> {
    if (this.closeInfo !== undefined) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms);
      this.closeWaiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }

  /** The close, or undefined if the socket is still open after `ms`. */
  async closedWithin(ms: number): Promise<CloseInfo | undefined> {
    try {
      return await this.closed(ms);
    } catch {
      return undefined;
    }
  }

  send(text: string): void {
    this.ws.send(text);
  }

  close(code?: number): void {
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(code);
  }

  /** Drop the connection without a handshake (cleanup). */
  terminate(): void {
    this.ws.terminate();
  }
}
