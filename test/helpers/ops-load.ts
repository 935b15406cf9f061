// A short scripted load for the operator-facing tests (dashboard, status page):
// real pairs exchanging frames, a phone refused with 4404, a duplicate claim
// refused with 4409, a burst from one IP that hits the rate limit, a phone closed
// for backlog and a grace expiry. Every server-id, conn_id and token it uses is
// distinctive and returned, so a test can prove none of them leaks.
import { randomBytes } from 'node:crypto';
import { connectBinary, connectPhone, noiseFrame, sleep, type TestClient } from './clients.js';
import { cells, scrape } from './http.js';

/** The relay flags (CLI spelling) the script relies on to reach each outcome quickly. */
export const LOAD_FLAGS = [
  '--rate-limit-burst',
  '8',
  '--phone-outbox-bytes',
  '65536',
  '--conflict-probe-timeout',
  '300ms',
  '--grace-period',
  '300ms',
];

export interface Pair {
  serverId: string;
  binary: TestClient;
  phone: TestClient;
  connId: string;
}

export interface Load {
  readonly pairs: Pair[];
  /** Server-ids, conn_ids, tokens and client IPs used: none may appear on an operator page. */
  readonly secrets: string[];
  /** Client IPs the load dialled from (loopback aliases). */
  readonly ips: string[];
  /** One frame each way on every pair, delivered. */
  roundTrip(): Promise<void>;
  /** Round trips every `everyMs` until the returned stop function is called. */
  pump(everyMs?: number): () => Promise<void>;
  close(): void;
}

const hex = (n: number): string => randomBytes(n).toString('hex');

async function counter(metricsPort: number, key: string): Promise<number> {
  return cells(await scrape(metricsPort)).get(key) ?? 0;
}

/** Runs the script against `base` (ws://host:port); `metricsPort` is the relay's metrics listener. */
export async function scriptedLoad(base: string, metricsPort: number, opts: { pairs?: number; pushWake?: boolean } = {}): Promise<Load> {
  const secrets: string[] = [];
  const ips: string[] = [];
  const pairs: Pair[] = [];
  const others: TestClient[] = [];
  const sid = (): string => {
    const s = `opsload-sid-${hex(8)}`;
    secrets.push(s);
    return s;
  };
  const token = (): string => {
    const t = `opsloadtok${hex(27)}`;
    secrets.push(t);
    return t;
  };
  // Each pair dials from its own loopback address, so the burst below is the only IP rate-limited.
  const from = (i: number): { localAddress: string } => {
    const ip = `127.0.0.${20 + i}`;
    if (!ips.includes(ip)) ips.push(ip);
    return { localAddress: ip };
  };

  async function pair(i: number, id = sid()): Promise<Pair> {
    const binary = await connectBinary(base, id, {}, from(i));
    const phone = await connectPhone(base, id, { 'X-Pyrycode-Token': token() }, from(i));
    phone.send(`{"hello":${i}}`);
    const connId = (JSON.parse(await binary.next(3000)) as { conn_id: string }).conn_id;
    secrets.push(connId);
    binary.send(`{"conn_id":"${connId}","frame":{"welcome":${i}}}`);
    await phone.next(3000);
    return { serverId: id, binary, phone, connId };
  }

  for (let i = 0; i < (opts.pairs ?? 3); i++) pairs.push(await pair(i));

  // A phone for a server-id nobody holds: 4404.
  const lost = await connectPhone(base, sid(), { 'X-Pyrycode-Token': token() }, from(10));
  await lost.waitClose(3000);
  // A second binary claiming a held server-id: the incumbent answers the probe, 4409.
  const first = pairs[0];
  if (first !== undefined) {
    const dup = await connectBinary(base, first.serverId, {}, from(11));
    await dup.waitClose(5000);
  }

  // A burst of upgrades from one IP: the bucket (--rate-limit-burst 8) runs dry and the rest get 429.
  const burstIp = { localAddress: '127.0.0.99' };
  ips.push(burstIp.localAddress);
  let limited = 0;
  for (let i = 0; i < 12; i++) {
    try {
      others.push(await connectBinary(base, sid(), {}, burstIp));
    } catch (err) {
      if (!/HTTP 429/.test(String(err))) throw err;
      limited++;
    }
  }
  if (limited === 0) throw new Error('the burst was never rate-limited');

  // A phone that stops reading while its binary floods it: closed 1011 for backlog.
  const slow = await pair(12);
  slow.phone.ws.pause();
  const flood = `{"conn_id":"${slow.connId}","frame":${noiseFrame(30_000)}}`;
  for (let sent = 0; ; sent++) {
    if (sent > 4000) throw new Error('the stalled phone was never closed for backlog');
    slow.binary.send(flood);
    if (sent % 8 === 7) {
      await sleep(5);
      if ((await counter(metricsPort, 'pyrycode_relay_phone_backlog_closes_total')) >= 1) break;
    }
  }
  slow.phone.ws.resume();
  others.push(slow.binary, slow.phone);

  // A daemon that leaves and does not come back within --grace-period: a grace expiry.
  const gone = await pair(13);
  gone.binary.close();
  for (let t = 0; (await counter(metricsPort, 'pyrycode_relay_grace_expiries_total')) < 1; t++) {
    if (t > 100) throw new Error('no grace expiry');
    await sleep(50);
  }
  others.push(gone.phone);

  if (opts.pushWake === true && first !== undefined) {
    const deviceToken = `opsload-device-${hex(8)}`;
    secrets.push(deviceToken);
    first.binary.send(`{"push_wake":{"platform":"fcm","token":"${deviceToken}"}}`);
  }

  let seq = 0;
  async function roundTrip(): Promise<void> {
    const n = seq++;
    await Promise.all(
      pairs.map(async (p) => {
        p.phone.send(`{"ping":${n}}`);
        await p.binary.next(3000);
        p.binary.send(`{"conn_id":"${p.connId}","frame":{"pong":${n}}}`);
        await p.phone.next(3000);
      }),
    );
  }

  return {
    pairs,
    secrets,
    ips,
    roundTrip,
    pump(everyMs = 50) {
      let on = true;
      const loop = (async () => {
        while (on) {
          await roundTrip();
          await sleep(everyMs);
        }
      })();
      return async () => {
        on = false;
        await loop;
      };
    },
    close() {
      for (const p of pairs) {
        p.phone.close();
        p.binary.close();
      }
      for (const c of others) c.close();
    },
  };
}
