// Redis memory per registered phone (target ≤ 512 bytes): 64 server-ids (UUIDs,
// as the daemon draws them) × 16 phones spread over two nodes, measured with
// INFO memory before and after the phones register, plus MEMORY USAGE per key.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { RedisServer } from '../helpers/redis.js';
import { conn, startNode, type TestNode } from './nodes.js';

let redis: RedisServer;
const nodes: TestNode[] = [];
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  for (const n of nodes) n.close();
  await redis.stop();
});

async function usedMemory(n: TestNode): Promise<number> {
  const info = await n.client.info('memory');
  const m = /^used_memory:(\d+)/m.exec(info);
  assert.ok(m);
  return Number(m[1]);
}

test('memory per registered phone stays under 512 bytes', async (t) => {
  const a = await startNode(redis.port, 'node-a-0123');
  const b = await startNode(redis.port, 'node-b-4567');
  nodes.push(a, b);
  const sids = Array.from({ length: 64 }, () => randomUUID());
  for (const s of sids) assert.equal((await a.store.claim(s, 'b' + s.slice(0, 7))).kind, 'claimed');
  const before = await usedMemory(a);
  let phones = 0;
  for (const s of sids) {
    for (let i = 0; i < 16; i++) {
      const r = await (i % 2 === 0 ? a : b).store.registerPhone(s, conn(s, 0x10000000 + i * 7919), 16);
      assert.equal(r.kind, 'registered');
      phones++;
    }
  }
  const afterMem = await usedMemory(a);
  const perPhone = (afterMem - before) / phones;
  const phonesKey = Number(await a.client.call('MEMORY', 'USAGE', a.store.keys.phones(sids[0] ?? ''), 'SAMPLES', '0'));
  const nodeSet = Number(await a.client.call('MEMORY', 'USAGE', a.store.keys.nodePhones(a.store.self), 'SAMPLES', '0'));
  const keysPerPhone = (phonesKey * sids.length + nodeSet * 2) / phones;
  t.diagnostic(`used_memory delta per phone: ${perPhone.toFixed(1)} bytes over ${phones} phones`);
  t.diagnostic(
    `MEMORY USAGE per phone: ${keysPerPhone.toFixed(1)} bytes (phones hash ${phonesKey} B per server-id, node set ${nodeSet} B per 512 phones)`,
  );
  assert.ok(perPhone <= 512, `${perPhone} bytes per phone`);
  assert.ok(keysPerPhone <= 512, `${keysPerPhone} bytes per phone`);
});
