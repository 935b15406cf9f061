// The bus's PUBLISH writer against a real redis-server: what a subscriber receives is
// byte for byte the payload the encoder wrote (so ioredis sends the pre-encoded command
// verbatim: this fails loudly if a new ioredis stops calling toWritable as it is), the
// reply is the subscriber count, slabs are reused only after Redis answered, and a
// command that failed never hands its slab back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { PublishWriter } from '../../src/cluster/bus-publish.js';
import { createRedis, type RedisRole } from '../../src/cluster/redis-client.js';
import { RedisServer } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

let redis: RedisServer;
const clients: Redis[] = [];

async function connect(role: RedisRole): Promise<Redis> {
  const r = createRedis({ host: '127.0.0.1', port: redis.port, db: 0, tls: false }, role, () => undefined);
  clients.push(r);
  await r.connect();
  return r;
}

function publish(w: PublishWriter, channel: string, payload: Buffer): Promise<number> {
  return new Promise((resolve, reject) =>
    w.publish(
      channel,
      payload.length,
      (out, at) => at + payload.copy(out, at),
      (err, heard) => (err ? reject(err) : resolve(heard)),
    ),
  );
}

describe('PublishWriter', () => {
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis.stop();
  });

  test('a subscriber receives exactly the encoded payloads, in order, of every size', async () => {
    const pub = await connect('bus-pub');
    const sub = await connect('bus-sub');
    const channel = 'pb:bus:{n1:abc} ünïcode';
    const got: Buffer[] = [];
    sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => {
      assert.equal(ch.toString(), channel);
      got.push(msg);
    });
    await sub.subscribe(channel);
    // 0 bytes, a few, across the slab bound (64 KiB + framing) and well past it.
    const w = new PublishWriter(pub, 64 * 1024 + 1024, 2);
    const sent = [0, 1, 9, 10, 99, 100, 4096, 65_000, 64 * 1024 + 1024, 200_000].map((n) => randomBytes(n));
    const heard = await Promise.all(sent.map((p) => publish(w, channel, p)));
    assert.deepEqual(heard, Array<number>(sent.length).fill(1));
    await until(() => got.length >= sent.length, 3000, 'every message delivered');
    assert.equal(got.length, sent.length);
    for (let i = 0; i < sent.length; i++) assert.ok(got[i]!.equals(sent[i]!), `payload ${i} (${sent[i]!.length} bytes)`);
  });

  test('no subscriber: the reply is 0', async () => {
    const w = new PublishWriter(await connect('bus-pub'), 4096);
    assert.equal(await publish(w, 'pb:nobody', Buffer.from('x')), 0);
  });

  test('a slab comes back for reuse only once Redis answered, and never from a failed command', async () => {
    const pub = await connect('bus-pub');
    const w = new PublishWriter(pub, 4096, 1);
    const slabs: Buffer[] = [];
    const encodeInto = (out: Buffer, at: number): number => {
      slabs.push(out);
      out.fill(7, at, at + 10);
      return at + 10;
    };
    // Two in flight at once: neither can reuse the other's slab.
    await Promise.all(
      [0, 1].map(() => new Promise<void>((resolve, reject) => w.publish('pb:c', 10, encodeInto, (err) => (err ? reject(err) : resolve())))),
    );
    assert.notEqual(slabs[0]!.buffer, slabs[1]!.buffer);
    // Answered: the next command reuses one slab (at most maxFree = 1 were kept).
    await new Promise<void>((resolve, reject) => w.publish('pb:c', 10, encodeInto, (err) => (err ? reject(err) : resolve())));
    assert.ok(slabs[2]!.buffer === slabs[0]!.buffer || slabs[2]!.buffer === slabs[1]!.buffer);
    // A command that fails (the connection is gone, no offline queue) keeps its slab.
    pub.disconnect();
    const failed = await new Promise<Error | null | undefined>((resolve) => w.publish('pb:c', 10, encodeInto, (err) => resolve(err)));
    assert.ok(failed instanceof Error);
    await new Promise<void>((resolve) => w.publish('pb:c', 10, encodeInto, () => resolve()));
    assert.notEqual(slabs[4]!.buffer, slabs[3]!.buffer, 'the failed command’s slab was not reused');
  });

  test('an encoder that writes another length than announced is a bug: it throws before anything is sent', async () => {
    const w = new PublishWriter(await connect('bus-pub'), 4096);
    assert.throws(
      () =>
        w.publish(
          'pb:c',
          10,
          (_out, at) => at + 9,
          () => assert.fail('nothing was sent'),
        ),
      /9 bytes, announced 10/,
    );
  });
});
