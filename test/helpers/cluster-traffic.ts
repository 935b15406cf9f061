// Numbered-frame traffic for the cluster fault tests (cluster.md §3): a binary and
// its phones where every frame carries a per-connection, per-direction sequence
// number checked on arrival, so a test can assert that no open connection ever saw
// a lost, duplicated or reordered frame, and, once traffic stops, that everything
// sent on a connection that stayed open arrived. Also reads the cluster's keys.
import { connectBinary, connectPhone, type TestClient } from './clients.js';
import type { RedisServer } from './redis.js';

let phoneSerial = 0;

/** One phone of a NumberedBinary, seen from both ends. */
export class NumberedPhone {
  /** Next number the phone sends / the binary expects from it. */
  sent = 0;
  gotAtBinary = 0;
  /** Next number the binary sends to it / the phone expects. */
  sentByBinary = 0;
  gotAtPhone = 0;
  connId: string | undefined;
  /** Close notices the binary received for this phone. */
  readonly notices: number[] = [];

  constructor(
    readonly client: TestClient,
    /** The binary connection it talks to (a redialled binary adopts phones it did not dial). */
    public owner: NumberedBinary,
    readonly label: string,
  ) {
    client.ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      const m = /^\{"m":(\d+)\}$/.exec(text);
      if (m === null) return owner.violation(`${label}: unexpected frame ${text.slice(0, 80)}`);
      const n = Number(m[1]);
      if (n !== this.gotAtPhone) owner.violation(`${label}: got m=${n}, expected ${this.gotAtPhone} (open: ${!client.isClosed})`);
      this.gotAtPhone = n + 1;
    });
  }

  /** Phone → binary, one numbered frame (the first one also tells the binary the conn_id). */
  send(): void {
    if (this.client.isClosed || this.client.ws.readyState !== this.client.ws.OPEN) return;
    this.client.send(`{"n":${this.sent++},"p":"${this.label}"}`);
  }

  /** Binary → phone, one numbered frame, once the binary knows the conn_id. */
  reply(): void {
    const b = this.owner.client;
    if (this.connId === undefined || b.isClosed || b.ws.readyState !== b.ws.OPEN) return;
    b.send(`{"conn_id":"${this.connId}","frame":{"m":${this.sentByBinary++}}}`);
  }

  get open(): boolean {
    return !this.client.isClosed;
  }

  /** Both directions complete: everything sent arrived. */
  get settled(): boolean {
    return this.connId !== undefined && this.gotAtBinary === this.sent && this.gotAtPhone === this.sentByBinary;
  }
}

/** A binary whose phones all speak numbered frames; violations are collected, never thrown. */
export class NumberedBinary {
  readonly phones: NumberedPhone[] = [];
  readonly violations: string[] = [];
  private readonly byConn = new Map<string, NumberedPhone>();

  /**
   * `sink` collects every violation of a group of binaries; `byLabel` may be shared
   * by the successive binary connections of one server-id, so a phone dialled while
   * one was closing is still recognised by the one it reached.
   */
  constructor(
    readonly client: TestClient,
    readonly serverId: string,
    private readonly sink: string[] = [],
    private readonly byLabel = new Map<string, NumberedPhone>(),
  ) {
    client.ws.on('message', (data: Buffer) => this.fromRelay(data.toString('utf8')));
  }

  static async dial(base: string, serverId: string, sink?: string[], byLabel?: Map<string, NumberedPhone>): Promise<NumberedBinary> {
    return new NumberedBinary(await connectBinary(base, serverId), serverId, sink, byLabel);
  }

  violation(text: string): void {
    this.violations.push(text);
    this.sink.push(`${this.serverId}: ${text}`);
  }

  /** Dials a phone of this binary's server-id on `base` and sends its first frame. */
  async addPhone(base: string): Promise<NumberedPhone> {
    const label = `${this.serverId.slice(-4)}-${++phoneSerial}`;
    const p = new NumberedPhone(await connectPhone(base, this.serverId), this, label);
    this.phones.push(p);
    this.byLabel.set(label, p);
    p.send();
    return p;
  }

  private fromRelay(text: string): void {
    let env: { conn_id: string; frame?: { n: number; p: string }; close_code?: number };
    try {
      env = JSON.parse(text) as typeof env;
    } catch {
      return this.violation(`binary got a non-JSON message: ${text.slice(0, 80)}`);
    }
    if (env.close_code !== undefined) {
      const p = this.byConn.get(env.conn_id);
      if (p === undefined) return this.violation(`notice for unknown ${env.conn_id}`);
      p.notices.push(env.close_code);
      if (p.notices.length > 1) this.violation(`${p.label}: second close notice ${env.close_code}`);
      return;
    }
    const f = env.frame;
    const p = f === undefined ? undefined : this.byLabel.get(f.p);
    if (f === undefined || p === undefined) return this.violation(`frame from an unknown phone: ${text.slice(0, 80)}`);
    if (p.owner !== this) {
      if (p.connId !== undefined) return this.violation(`${p.label}: frame reached a second binary connection`);
      p.owner = this;
    }
    if (p.connId === undefined) {
      p.connId = env.conn_id;
      this.byConn.set(env.conn_id, p);
    } else if (p.connId !== env.conn_id) {
      return this.violation(`${p.label}: conn_id changed ${p.connId} → ${env.conn_id}`);
    }
    if (p.notices.length > 0) this.violation(`${p.label}: frame after its close notice`);
    if (f.n !== p.gotAtBinary) this.violation(`${p.label}: binary got n=${f.n}, expected ${p.gotAtBinary} (phone open: ${p.open})`);
    p.gotAtBinary = f.n + 1;
  }

  /** One round: every open phone sends a frame, the binary one to every phone it knows. */
  pump(): void {
    for (const p of this.phones) {
      p.send();
      p.reply();
    }
  }

  get open(): boolean {
    return !this.client.isClosed;
  }
}

/** Runs `fn` every `ms` until the returned stop() is called. */
export function every(ms: number, fn: () => void): () => void {
  const t = setInterval(fn, ms);
  return () => clearInterval(t);
}

/** All keys under `prefix:` (the cluster writes nothing else). */
export async function clusterKeys(redis: RedisServer, prefix: string): Promise<string[]> {
  const reply = await redis.command('KEYS', `${prefix}:*`);
  return [...reply.matchAll(/\$\d+\r\n([^\r]*)\r\n/g)].map((m) => m[1]!).sort();
}

/** The node refs (`<node-id>:<incarnation>`) in the cluster's nodes set. */
export async function nodeRefs(redis: RedisServer, prefix: string): Promise<string[]> {
  const reply = await redis.command('ZRANGE', `${prefix}:nodes`, '0', '-1');
  return [...reply.matchAll(/\$\d+\r\n([^\r]*)\r\n/g)].map((m) => m[1]!).sort();
}

/**
 * The keys that may remain once every connection has ended (cluster.md §3): the
 * generation, the epoch counter, the nodes set and each live node's own `lr:` key.
 * Returns whatever else is there. A binary's last close opens a grace window, so a
 * caller waits for the grace period before expecting nothing (as a single relay
 * keeps the window in memory).
 */
export async function orphanKeys(redis: RedisServer, prefix: string): Promise<string[]> {
  const refs = new Set(await nodeRefs(redis, prefix));
  const allowed = (k: string): boolean => {
    const rest = k.slice(prefix.length + 1);
    if (rest === 'gen' || rest === 'epoch' || rest === 'nodes') return true;
    return rest.startsWith('lr:') && refs.has(rest.slice(3));
  };
  return (await clusterKeys(redis, prefix)).filter((k) => !allowed(k));
}

/** Waits up to `ms` for orphanKeys to be empty; fails naming what is left. */
export async function expectNoOrphans(redis: RedisServer, prefix: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  let left = await orphanKeys(redis, prefix);
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    left = await orphanKeys(redis, prefix);
  }
  if (left.length > 0) throw new Error(`keys left behind after ${ms} ms: ${left.join(', ')}`);
}
