// The real retry: ioredis resends a command whose reply was lost when its
// connection dropped, so a script may run twice. Redis is frozen while a claim is
// in flight, the link is cut, and on reconnect the claim runs again: the node
// still gets `claimed` with the one epoch minted, not a conflict with itself.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RedisServer } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { sleep, startNode } from './nodes.js';

let redis: RedisServer;
let proxy: TcpProxy;
before(async () => {
  redis = await RedisServer.start();
  proxy = await TcpProxy.start(redis.port);
});
after(async () => {
  await proxy.close();
  await redis.stop();
});

async function scriptCalls(): Promise<number> {
  const info = await redis.command('INFO', 'commandstats');
  let n = 0;
  // Executions that did not fail (an EVALSHA answered NOSCRIPT does not count).
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),.*failed_calls=(\d+)/gm)) n += Number(m[1]) - Number(m[2]);
  return n;
}

test('a claim run twice by a resend after a dropped link is still one claim', async () => {
  const n = await startNode(proxy.port, 'resend');
  try {
    assert.equal((await n.store.claim('warm-up', 'w')).kind, 'claimed'); // the script is loaded
    await redis.command('CONFIG', 'RESETSTAT');
    const epochBefore = Number(await n.client.get('pr:epoch'));
    redis.pause();
    const pending = n.store.claim('sid', 'bin1');
    await sleep(150); // the request reaches Redis's socket; no reply while frozen
    proxy.cut();
    proxy.restore();
    redis.resume();
    const r = await pending;
    assert.equal(r.kind, 'claimed', JSON.stringify(r));
    assert.equal(r.kind === 'claimed' && r.epoch, epochBefore + 1);
    assert.equal(Number(await n.client.get('pr:epoch')), epochBefore + 1, 'one epoch minted');
    assert.equal(await scriptCalls(), 2, 'the script ran twice');
    assert.deepEqual(await n.client.hgetall('pr:s:' + Buffer.from('sid').toString('hex')), {
      o: n.store.self,
      b: 'bin1',
      e: String(epochBefore + 1),
    });
  } finally {
    n.close();
  }
});
