// Cluster soak, black box (cluster.md §3): three nodes on one Redis (the third
// through a TCP proxy), several server-ids whose binary and phones dial random
// nodes and exchange numbered frames both ways, redialling whenever they are
// closed, for about 60 s while the faults of §3 are injected in random order
// (each at least once): SIGKILL and SIGTERM of a node (restarted under the same
// id), Redis restarted empty, Redis frozen briefly, every pub/sub connection
// killed, the proxied node cut off long enough to fence. Every connection checks
// every frame on arrival: none may ever see a lost, duplicated or reordered frame,
// and once traffic stops everything sent on a connection that stayed open has
// arrived. When everyone has left, Redis holds only the live nodes' own keys.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { startNode, type RelayNode } from '../helpers/cluster.js';
import { NumberedBinary, type NumberedPhone, every, expectNoOrphans, nodeRefs } from '../helpers/cluster-traffic.js';
import { newServerId, sleep } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { waitExit } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const SOAK_MS = Number(process.env.SOAK_MS ?? 60_000);
/** No fault in the last stretch, so every pair can settle and be checked whole. */
const QUIET_MS = 8000;
const SESSIONS = 6;
const PHONES_PER_SESSION = 2;
const TTL_MS = 3000;
const ARGS = ['--grace-period', '3s', '--conflict-probe-timeout', '1s', '--drain-spread', '0s', '--drain-timeout', '2s'];

type Fault = 'sigkill' | 'sigterm' | 'redis_restart' | 'redis_pause' | 'pubsub_kill' | 'cut';
const FAULTS: Fault[] = ['sigkill', 'sigterm', 'redis_restart', 'redis_pause', 'pubsub_kill', 'cut'];

interface Slot {
  id: string;
  node: RelayNode | undefined;
  viaProxy: boolean;
}

describe('cluster soak', () => {
  let redis: RedisServer | undefined;
  let proxy: TcpProxy | undefined;
  const slots: Slot[] = [];

  after(async () => {
    await Promise.all(slots.flatMap((s) => (s.node === undefined ? [] : [s.node.stop()])));
    await proxy?.close();
    await redis?.stop();
  });

  test(`pairs across nodes under random faults for ${SOAK_MS / 1000} s: no lost, duplicated or reordered frame; no orphaned keys`, async (t) => {
    redis = await RedisServer.start();
    proxy = await TcpProxy.start(redis.port);
    const r = redis;
    const boot = async (s: Slot): Promise<void> => {
      s.node = await startNode(r, { nodeId: s.id, args: ARGS, redisUrl: s.viaProxy ? `redis://127.0.0.1:${proxy!.port}` : undefined });
    };
    for (const [id, viaProxy] of [
      ['soak-a', false],
      ['soak-b', false],
      ['soak-c', true],
    ] as const) {
      const s: Slot = { id, node: undefined, viaProxy };
      slots.push(s);
      await boot(s);
    }
    const up = (): RelayNode[] => slots.flatMap((s) => (s.node === undefined ? [] : [s.node]));
    const pick = (): RelayNode | undefined => {
      const live = up();
      return live.length === 0 ? undefined : live[randomInt(live.length)];
    };

    const violations: string[] = [];
    const closes = new Map<string, number>();
    const noteClose = (who: string, code: number, reason: string): void => {
      const k = `${who} ${code} ${reason}`;
      closes.set(k, (closes.get(k) ?? 0) + 1);
    };
    let running = true;
    const allPhones: NumberedPhone[] = [];
    const binaries: NumberedBinary[] = [];

    // A session: one server-id whose binary and phones keep redialling random nodes.
    const session = async (): Promise<void> => {
      const sid = newServerId();
      const labels = new Map<string, NumberedPhone>();
      let current: NumberedBinary | undefined;
      const binaryLoop = async (): Promise<void> => {
        while (running) {
          const node = pick();
          if (node === undefined) {
            await sleep(100);
            continue;
          }
          try {
            current = await NumberedBinary.dial(node.base, sid, violations, labels);
          } catch {
            await sleep(150);
            continue;
          }
          binaries.push(current);
          const c = await current.client.closed;
          if (running) noteClose('binary', c.code, c.reason);
          await sleep(100 + randomInt(200));
        }
      };
      const phoneLoop = async (): Promise<void> => {
        await sleep(1000); // the first claim is visible cluster-wide within 1 s
        while (running) {
          const b = current;
          const node = pick();
          if (b === undefined || !b.open || node === undefined) {
            await sleep(100);
            continue;
          }
          let p: NumberedPhone;
          try {
            p = await b.addPhone(node.base);
          } catch {
            await sleep(150);
            continue;
          }
          labels.set(p.label, p);
          allPhones.push(p);
          const c = await p.client.closed;
          if (running) noteClose('phone', c.code, c.reason);
          await sleep(100 + randomInt(200));
        }
      };
      await Promise.all([binaryLoop(), ...Array.from({ length: PHONES_PER_SESSION }, phoneLoop)]);
    };
    const sessions = Array.from({ length: SESSIONS }, session);
    const stopPump = every(40, () => {
      for (const p of allPhones) {
        if (!p.open) continue;
        p.send();
        p.reply();
      }
    });

    // Faults: each kind once in random order, then random ones, until the quiet stretch.
    const order = [...FAULTS].sort(() => randomInt(3) - 1);
    const injected: string[] = [];
    const start = Date.now();
    const restartNode = async (s: Slot, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> => {
      const n = s.node!;
      s.node = undefined;
      n.kill(signal);
      await waitExit(n.child, 15_000).catch(() => n.kill('SIGKILL'));
      if (signal === 'SIGKILL') await sleep(500);
      await boot(s);
    };
    try {
      await sleep(3000);
      for (let i = 0; Date.now() - start < SOAK_MS - QUIET_MS - 6000; i++) {
        const f = order[i] ?? FAULTS[randomInt(FAULTS.length)]!;
        injected.push(f);
        t.diagnostic(`${((Date.now() - start) / 1000).toFixed(1)} s: ${f}`);
        switch (f) {
          case 'sigkill':
          case 'sigterm':
            await restartNode(slots[randomInt(slots.length)]!, f === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
            break;
          case 'redis_restart':
            await r.restart(300);
            break;
          case 'redis_pause':
            r.pause();
            await sleep(600);
            r.resume();
            break;
          case 'pubsub_kill':
            await r.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
            break;
          case 'cut': {
            proxy.cut();
            await sleep(TTL_MS + 1500);
            proxy.restore();
            const c = slots[2]!.node!;
            await eventually(async () => (await c.healthz()).status === 200, 10_000, 'the cut node rejoined');
            break;
          }
        }
        await sleep(3000 + randomInt(2000));
      }
      await sleep(Math.max(0, SOAK_MS - (Date.now() - start)));
    } finally {
      stopPump();
    }
    t.diagnostic(`faults: ${injected.join(', ')}`);
    for (const f of FAULTS) assert.ok(injected.includes(f), `${f} injected`);

    // Traffic stops; everything sent on a connection still open must arrive.
    await eventually(() => allPhones.every((p) => !p.open || !p.owner.open || p.settled), 5000, 'open pairs settled');
    running = false;
    const openPairs = allPhones.filter((p) => p.open && p.owner.open);
    const frames = allPhones.reduce((n, p) => n + p.gotAtBinary + p.gotAtPhone, 0);
    t.diagnostic(`phones: ${allPhones.length}, open at the end: ${openPairs.length}, frames delivered: ${frames}`);
    t.diagnostic(`closes: ${[...closes].map(([k, v]) => `${k} ×${v}`).join('; ')}`);
    assert.deepEqual(violations, []);
    assert.ok(openPairs.length >= SESSIONS, `pairs recovered after the last fault (${openPairs.length} open)`);
    assert.ok(frames > 10_000, `traffic flowed (${frames} frames)`);
    // Every node is up (none crashed), and everyone leaves.
    for (const n of up()) assert.equal(n.child.exitCode, null, `${n.nodeId} running`);
    for (const p of allPhones) p.client.close();
    for (const b of binaries) b.client.close();
    await Promise.all(sessions);
    await expectNoOrphans(r, 'rt', 3000 + TTL_MS + 2000); // the last grace windows (3 s) end first
    const refs = await nodeRefs(r, 'rt');
    assert.deepEqual(refs.map((x) => x.split(':')[0]).sort(), ['soak-a', 'soak-b', 'soak-c']);
  });
});
