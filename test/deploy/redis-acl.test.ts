// The Redis ACL of docs/cluster.md, taken from the doc itself: a node boots and runs
// every registry script and the bus under it, and the user can do nothing outside
// its prefix — no other key or channel, and none of the keyless commands that reach
// every prefix (FLUSHALL, SWAPDB, SCAN, CLIENT KILL, FUNCTION FLUSH …).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { bootCluster } from '../../src/cluster/boot.js';
import { documentedAcl } from '../helpers/balanced-cluster.js';
import { ROOT } from '../helpers/deploy.js';
import { RedisServer } from '../helpers/redis.js';
import { runEveryScript } from '../helpers/store-scripts.js';

const DOC = readFileSync(join(ROOT, 'docs/cluster.md'), 'utf8');

describe('the documented Redis ACL (docs/cluster.md)', () => {
  let redis: RedisServer;
  let other: Redis;
  let relay: Redis;
  before(async () => {
    redis = await RedisServer.start();
    await redis.command('ACL', 'SETUSER', 'relay', 'on', '>relay-pw', ...documentedAcl('acl'));
    other = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    relay = new Redis({
      host: '127.0.0.1',
      port: redis.port,
      username: 'relay',
      password: 'relay-pw',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    await Promise.all([other.connect(), relay.connect()]);
    await other.set('tenant:key', 'theirs');
  });
  after(async () => {
    other.disconnect();
    relay.disconnect();
    await redis.stop();
  });

  test('the ACL SETUSER command and the redis.conf line carry the same rules', () => {
    const cmd = /^ACL SETUSER relay on >PASSWORD (.*)$/m.exec(DOC)?.[1];
    const conf = /^user relay on >PASSWORD (.*)$/m.exec(DOC)?.[1];
    assert.ok(cmd !== undefined && conf !== undefined);
    assert.equal(cmd, conf);
    assert.match(cmd, /^resetkeys ~pyrycode-relay:\* resetchannels &pyrycode-relay:\* -@all /);
  });

  test('a node boots under it and runs every registry script and the bus', async () => {
    const node = await bootCluster(
      {
        redis: { host: '127.0.0.1', port: redis.port, db: 0, tls: false, username: 'relay', password: 'relay-pw' },
        prefix: 'acl',
        nodeId: 'acl-node',
        nodeTtlMs: 3000,
      },
      { graceMs: 1 },
    );
    try {
      await runEveryScript(node.store);
      await node.connections.busSub.subscribe(node.keys.busChannel(node.ref));
      assert.equal(await node.connections.busPub.publish(node.keys.busChannel(node.ref), 'x'), 1);
    } finally {
      await node.close();
    }
  });

  test('nothing outside the prefix: keys, channels, keyless commands that reach every prefix', async () => {
    const refused: Array<[string, ...string[]]> = [
      ['GET', 'tenant:key'],
      ['DEL', 'tenant:key'],
      ['PUBLISH', 'tenant:chan', 'x'],
      ['FLUSHALL'],
      ['FLUSHDB'],
      ['SWAPDB', '0', '1'],
      ['KEYS', '*'],
      ['SCAN', '0'],
      ['RANDOMKEY'],
      ['CLIENT', 'LIST'],
      ['CLIENT', 'KILL', 'ID', '1'],
      ['FUNCTION', 'FLUSH'],
      ['SCRIPT', 'FLUSH'],
      ['SCRIPT', 'KILL'],
      ['PUBSUB', 'CHANNELS'],
      ['CONFIG', 'GET', 'maxmemory'],
      ['MONITOR'],
    ];
    for (const [cmd, ...args] of refused) {
      await assert.rejects(() => relay.call(cmd, ...args), /NOPERM/, `${cmd} ${args.join(' ')}`);
    }
    await assert.rejects(() => relay.eval("return redis.call('GET', 'tenant:key')", 0), /NOPERM|can't access/);
    assert.equal(await other.get('tenant:key'), 'theirs');
    // Inside the prefix, as the relay needs.
    assert.equal(await relay.set('acl:x', '1'), 'OK');
    assert.equal(await relay.del('acl:x'), 1);
    assert.match(await relay.info('server'), /redis_version:/);
  });
});
