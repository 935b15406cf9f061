// Raw HTTP helpers for admission and metrics tests: requests from a chosen
// loopback source address, upgrade attempts that must fail with a status, and
// a Prometheus text scrape parsed into exact cells.
import { request } from 'node:http';

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
