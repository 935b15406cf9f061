// Real ws clients playing a binary and phones, with helpers to await the next
// message or the close, so tests read like the protocol.
import type { LookupFunction } from 'node:net';
import WebSocket from 'ws';

export interface Closed {
  code: number;
  reason: string;
}

export class TestClient {
  readonly messages: string[] = [];
  readonly closed: Promise<Closed>;
  private waiters: Array<(m: string) => void> = [];
  private closeInfo: Closed | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.binaryFrames++;
      const text = data.toString('utf8');
      const w = this.waiters.shift();
      if (w !== undefined) w(text);
      else this.messages.push(text);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => {});
  }

  binaryFrames = 0;

  get isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  /** The next message, or rejects after `ms`. */
  next(ms = 2000): Promise<string> {
    const queued = this.messages.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const waiter = (m: string): void => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(waiter);
    });
  }

  async nextJson(ms = 2000): Promise<Record<string, unknown>> {
    return JSON.parse(await this.next(ms)) as Record<string, unknown>;
  }

  /** Resolves true if no message arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    if (this.messages.length > 0) return false;
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }

  waitClose(ms = 3000): Promise<Closed> {
    return Promise.race([
      this.closed,
      new Promise<Closed>((_, reject) => setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms)),
    ]);
  }

  close(code?: number): void {
    this.ws.close(code);
  }
}

/** Socket options for a test client, e.g. `localAddress: '127.0.0.7'` to act as another client IP. */
export interface DialOptions {
  localAddress?: string;
  createConnection?: WebSocket.ClientOptions['createConnection'];
  /** wss:// tests: the root to trust and a resolver for the test domain. */
  ca?: string;
  lookup?: LookupFunction;
}

function open(url: string, headers: Record<string, string>, dial: DialOptions = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, ...dial });
    const client = new TestClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

let serial = 0;
export function newServerId(): string {
  serial++;
  return `0b8a2f4e-1c2d-4e5f-8a9b-${String(serial).padStart(12, '0')}`;
}

export function connectBinary(base: string, serverId: string, extra: Record<string, string> = {}, dial?: DialOptions): Promise<TestClient> {
  return open(
    `${base}/v1/server`,
    { 'X-Pyrycode-Server': serverId, 'X-Pyrycode-Version': '0.23.0', 'User-Agent': 'pyry/0.23.0', ...extra },
    dial,
  );
}

export function connectPhone(base: string, serverId: string, extra: Record<string, string> = {}, dial?: DialOptions): Promise<TestClient> {
  return open(
    `${base}/v1/client`,
    { 'X-Pyrycode-Server': serverId, 'X-Pyrycode-Token': 'a'.repeat(64), 'User-Agent': 'pyrycode-mobile/1.4.0', ...extra },
    dial,
  );
}

/** A realistic inner frame of about `bytes` bytes. */
export function noiseFrame(bytes: number, seq = 0): string {
  const head = `{"v":2,"type":"noise_msg","seq":${seq},"data":"`;
  const pad = Math.max(0, bytes - head.length - 2);
  return head + 'QUJD'.repeat(Math.ceil(pad / 4)).slice(0, pad) + '"}';
}

/** The phone's conn_id as its binary sees it: the phone says hello, the binary reads the envelope. */
export async function phoneConnId(phone: TestClient, binary: TestClient): Promise<string> {
  phone.send('{"hello":true}');
  return ((await binary.nextJson(3000)) as { conn_id: string }).conn_id;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
