// Cluster boot: joins within one TTL, refuses a Redis older than 6.2 naming the
// version, and gives up on an unreachable Redis at the TTL with redis_unavailable.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { bootCluster } from '../../src/cluster/boot.js';
import { RedisUnavailableError, RedisVersionError } from '../../src/cluster/redis-client.js';
import { freePort } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis.js';
import { PREFIX, target } from './nodes.js';

let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis.stop();
});

/** A fake server speaking just enough RESP: INFO reports `version`, anything else is +OK. */
async function fakeRedis(version: string): Promise<{ server: Server; port: number }> {
  const server = createServer((sock: Socket) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const cmd = parseCommand(buf);
        if (cmd === undefined) return;
        buf = buf.slice(cmd.used);
        if (cmd.args[0]?.toUpperCase() === 'INFO') {
          const body = `# Server\r\nredis_version:${version}\r\nloading:0\r\n`;
          sock.write(`$${Buffer.byteLength(body)}\r\n${body}\r\n`);
        } else sock.write('+OK\r\n');
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return { server, port: addr.port };
}

function parseCommand(s: string): { args: string[]; used: number } | undefined {
  if (!s.startsWith('*')) return undefined;
  let at = s.indexOf('\r\n');
  if (at === -1) return undefined;
  const n = Number(s.slice(1, at));
  at += 2;
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    const eol = s.indexOf('\r\n', at);
    if (eol === -1) return undefined;
    const len = Number(s.slice(at + 1, eol));
    if (s.length < eol + 2 + len + 2) return undefined;
    args.push(s.slice(eol + 2, eol + 2 + len));
    at = eol + 2 + len + 2;
  }
  return { args, used: at };
}

test('boot joins within the TTL and reports the server facts', async () => {
  const node = await bootCluster({ redis: target(redis.port), prefix: PREFIX, nodeId: 'boot-a', nodeTtlMs: 3000 }, { graceMs: 30_000 });
  try {
    assert.equal(node.membership.state, 'live');
    assert.equal(node.server.maxmemoryPolicy, 'noeviction');
    assert.ok(node.ref.startsWith('boot-a:'));
    assert.equal(await node.connections.busPub.ping(), 'PONG');
    assert.equal(node.connections.busSub.status, 'ready');
    const names = await node.connections.registry.client('LIST');
    assert.match(String(names), new RegExp(`name=pyrycode-relay:registry:${node.ref}`));
  } finally {
    await node.close();
  }
});

test('a Redis older than 6.2 is refused, naming its version', async () => {
  const fake = await fakeRedis('6.0.9');
  try {
    const err = await bootCluster({ redis: target(fake.port), prefix: PREFIX, nodeId: 'old', nodeTtlMs: 3000 }, { graceMs: 30_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RedisVersionError, String(err));
    assert.equal(err.version, '6.0.9');
    assert.equal(err.event, 'redis_unavailable');
    assert.match(err.message, /6\.0\.9/);
  } finally {
    fake.server.close();
  }
});

test('an unreachable Redis fails boot at the TTL with redis_unavailable, never naming the password', async () => {
  const port = await freePort();
  const t0 = performance.now();
  const err = await bootCluster(
    { redis: { ...target(port), password: 'secret-pw' }, prefix: PREFIX, nodeId: 'lost', nodeTtlMs: 1200 },
    { graceMs: 30_000 },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  const took = performance.now() - t0;
  assert.ok(err instanceof RedisUnavailableError, String(err));
  assert.equal(err.reason, 'unreachable');
  assert.ok(took >= 1150 && took < 3000, `gave up after ${Math.round(took)} ms`);
  assert.ok(!err.message.includes('secret-pw'));
});
