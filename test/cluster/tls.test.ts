// rediss:// against a real redis-server with TLS: a certificate from an unknown CA
// fails at once with reason `tls`; the same CA given through NODE_EXTRA_CA_CERTS
// (read by Node at start, so in a child process) boots the node.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectBy, createRedis, RedisUnavailableError } from '../../src/cluster/redis-client.js';
import { freePort } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis.js';

const BOOT = fileURLToPath(new URL('../../src/cluster/boot.js', import.meta.url));

let dir: string;
let redis: RedisServer;
let tlsPort: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-redis-tls-'));
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=relay-test-ca',
  );
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=localhost');
  writeFileSync(f('ext'), 'subjectAltName=DNS:localhost\n');
  ssl(
    'x509',
    '-req',
    '-in',
    f('srv.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('srv.pem'),
    '-days',
    '2',
    '-extfile',
    f('ext'),
  );
  tlsPort = await freePort();
  redis = await RedisServer.start([
    '--tls-port',
    String(tlsPort),
    '--tls-cert-file',
    f('srv.pem'),
    '--tls-key-file',
    f('srv.key'),
    '--tls-ca-cert-file',
    f('ca.pem'),
    '--tls-auth-clients',
    'no',
  ]);
});
after(async () => {
  await redis?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test('an untrusted server certificate fails at once with reason tls', async () => {
  const c = createRedis({ host: 'localhost', port: tlsPort, db: 0, tls: true }, 'registry', () => undefined);
  const t0 = performance.now();
  const err = await connectBy(c, performance.now() + 10_000).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof RedisUnavailableError, String(err));
  assert.equal(err.reason, 'tls');
  assert.ok(performance.now() - t0 < 5000);
});

test('rediss:// with the CA in NODE_EXTRA_CA_CERTS boots and joins', async () => {
  const script = `
    import { bootCluster } from ${JSON.stringify(BOOT)};
    const node = await bootCluster(
      { redis: { host: 'localhost', port: ${tlsPort}, db: 0, tls: true }, prefix: 'tls', nodeId: 'tls-node', nodeTtlMs: 3000 },
      { graceMs: 30000 },
    );
    console.log('joined', node.membership.state, node.server.version);
    await node.close();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, out);
  assert.match(out, /^joined live \d+\.\d+/m);
});
