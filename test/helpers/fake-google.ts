// A real loopback HTTP server playing Google's OAuth token endpoint and the FCM
// v1 send endpoint, with a generated RSA service-account key. Tests swap the
// reply handlers per case and read back every request it received.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Resolves when the client's connection closed (before or after the reply). */
  closed: Promise<void>;
}

export type Handler = (req: Recorded, res: ServerResponse) => void;

export const PROJECT = 'test-project';
export const CLIENT_EMAIL = 'relay@test-project.iam.gserviceaccount.com';

let keys: { privateKey: KeyObject; publicKey: KeyObject; pem: string } | undefined;

/** One RSA key per process: generation is the slow part. */
function testKeys(): { privateKey: KeyObject; publicKey: KeyObject; pem: string } {
  if (keys === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    keys = { privateKey, publicKey, pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
  }
  return keys;
}

/** The test key's PEM, for leak checks. */
export function testKeyPem(): string {
  return testKeys().pem;
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export class FakeGoogle {
  readonly tokenRequests: Recorded[] = [];
  readonly sendRequests: Recorded[] = [];
  readonly otherRequests: Recorded[] = [];
  private issued = 0;
  /** Default: a fresh `ya29.test-N` token valid for an hour. */
  tokenHandler: Handler = (_req, res) => json(res, 200, this.nextToken(3600));
  /** Default: 200 with a message name. */
  sendHandler: Handler = (_req, res) => json(res, 200, { name: `projects/${PROJECT}/messages/0:1500415314455276%31bd1c96` });
  private readonly held = new Set<ServerResponse>();
  private listeners: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(): Promise<FakeGoogle> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fake = new FakeGoogle(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: Recorded = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          closed: new Promise((resolve) => res.once('close', () => resolve())),
        };
        if (rec.path === '/token') {
          fake.tokenRequests.push(rec);
          fake.tokenHandler(rec, res);
        } else if (rec.path === `/v1/projects/${PROJECT}/messages:send`) {
          fake.sendRequests.push(rec);
          fake.sendHandler(rec, res);
        } else {
          fake.otherRequests.push(rec);
          json(res, 200, { name: `projects/${PROJECT}/messages/redirected` });
        }
        for (const l of fake.listeners.splice(0)) l();
      });
    });
    return fake;
  }

  get tokenUri(): string {
    return `${this.base}/token`;
  }

  get sendUrl(): string {
    return `${this.base}/v1/projects/${PROJECT}/messages:send`;
  }

  get publicKey(): KeyObject {
    return testKeys().publicKey;
  }

  serviceAccountJson(): string {
    return JSON.stringify({
      type: 'service_account',
      project_id: PROJECT,
      private_key_id: 'k1',
      private_key: testKeys().pem,
      client_email: CLIENT_EMAIL,
      token_uri: this.tokenUri,
    });
  }

  nextToken(expiresIn: number): { access_token: string; expires_in: number; token_type: string } {
    this.issued++;
    return { access_token: `ya29.test-${this.issued}`, expires_in: expiresIn, token_type: 'Bearer' };
  }

  /** A handler that never answers until release(). */
  readonly hang: Handler = (_req, res) => {
    this.held.add(res);
    res.once('close', () => this.held.delete(res));
  };

  get heldCount(): number {
    return this.held.size;
  }

  /** Answers every held request with `reply`. */
  release(reply: Handler = (_req, res) => json(res, 200, { name: 'projects/p/messages/late' })): void {
    for (const res of this.held) reply({} as Recorded, res);
    this.held.clear();
  }

  /** Resolves once `pred` holds, re-checked after every request (bounded by `ms`). */
  async until(pred: () => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('condition not met in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.listeners.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
