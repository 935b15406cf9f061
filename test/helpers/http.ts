// Raw HTTP helpers for admission and metrics tests: requests from a chosen
// loopback source address, upgrade attempts that must fail with a status, and
// a Prometheus text scrape parsed into exact cells.
import { request } from 'node:http';
import { connect } from 'node:net';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Source address, e.g. 127.0.0.9, to act as a distinct client IP. */
  localAddress?: string;
}

export function httpRequest(port: number, path: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: opts.method ?? 'GET',
      headers: { Connection: 'close', ...opts.headers },
      localAddress: opts.localAddress,
      agent: false,
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

export const UPGRADE_HEADERS = {
  Connection: 'Upgrade',
  Upgrade: 'websocket',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version': '13',
};

/** A WebSocket upgrade attempt (status 101 means it was accepted and is dropped at once). */
export function upgrade(port: number, path: string, opts: RequestOptions = {}): Promise<Reply> {
  return httpRequest(port, path, { ...opts, headers: { ...UPGRADE_HEADERS, ...opts.headers } });
}

/** An upgrade whose pyrycode headers are missing, so it fails the header check (400) if admitted. */
export const headerless = (port: number, endpoint: 'server' | 'client', localAddress?: string): Promise<Reply> =>
  upgrade(port, `/v1/${endpoint}`, { localAddress });

export interface RawReply {
  status: number;
  /** Every header line in order, names lowercased, so duplicates stay visible. */
  headers: Array<[string, string]>;
  body: string;
}

/**
 * Writes `text` verbatim to a fresh TCP connection and parses the response
 * head (a 101 ends the exchange at the blank line; anything else is read to
 * the end of its Content-Length body).
 */
export function rawExchange(port: number, text: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (err !== undefined) {
          done = true;
          reject(err);
        }
        return;
      }
      const [statusLine = '', ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = lines.map((l): [string, string] => {
        const colon = l.indexOf(':');
        return [l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()];
      });
      const status = Number(statusLine.split(' ')[1]);
      const length = Number(headers.find(([k]) => k === 'content-length')?.[1] ?? 0);
      const body = buf.subarray(end + 4);
      if (status !== 101 && body.length < length && err === undefined) return;
      done = true;
      socket.destroy();
      resolve({ status, headers, body: body.subarray(0, length).toString() });
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      finish();
    });
    socket.on('end', () => finish(new Error(`connection ended after ${buf.length} bytes`)));
    socket.on('error', (e) => finish(e));
  });
}

/** The values of header `name` in a raw reply, in order. */
export const headerValues = (r: RawReply, name: string): string[] => r.headers.filter(([k]) => k === name).map(([, v]) => v);

export async function scrape(port: number): Promise<string> {
  const r = await httpRequest(port, '/metrics');
  if (r.status !== 200) throw new Error(`scrape answered ${r.status}`);
  return r.body;
}

/** Sample lines of a text-format scrape, keyed exactly as printed (`name{label="v",...}`). */
export function cells(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** Polls `probe` until it returns true, or fails after `ms`. */
export async function eventually(probe: () => boolean | Promise<boolean>, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what} not reached within ${ms} ms`);
}
