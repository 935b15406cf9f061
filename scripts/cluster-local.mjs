// `npm run cluster:local`: cluster mode on one machine, to try it. Starts a throwaway
// redis-server (loopback, persistence off, in a temp dir, the relay confined by the ACL
// of docs/cluster.md), three relay nodes, and nginx with deploy/nginx-cluster.conf
// (plain HTTP on loopback instead of TLS on 443) in front of them; prints where to
// point a client; stops everything, in order, on Ctrl-C or SIGTERM.
//
//   node scripts/cluster-local.mjs [--port 8080] [--nodes 3]
//
// --port 0 (or 8080 taken) picks a free port. Needs redis-server and nginx on PATH or
// in /usr/sbin (Debian: apt-get install redis-server nginx) and a built relay (the npm
// script builds first). Decision 0021 says why it is shaped this way.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const NGINX_CONF = join(ROOT, 'deploy/nginx-cluster.conf');
const PREFIX = 'pyrycode-relay';
// The ACL of docs/cluster.md ("Redis access"), as a redis.conf `user` line.
const ACL_RULES =
  `resetkeys ~${PREFIX}:* resetchannels &${PREFIX}:* -@all +@read +@write +@scripting +@pubsub +@connection -@dangerous +info +time` +
  ' -scan -randomkey -function -script|flush -script|kill -pubsub|channels -pubsub|shardchannels';

const { values: opts } = parseArgs({
  options: { port: { type: 'string', default: '8080' }, nodes: { type: 'string', default: '3' } },
  strict: true,
});
const wantPort = Number(opts.port);
const nodeCount = Number(opts.nodes);
if (!Number.isInteger(wantPort) || wantPort < 0 || wantPort > 65535) fail('--port must be 0-65535');
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 3) fail('--nodes must be 1-3 (deploy/nginx-cluster.conf lists three)');

function fail(message) {
  process.stderr.write(`cluster:local: ${message}\n`);
  process.exit(1);
}

function findBinary(name, hint) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/sbin'])) {
    const p = join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  return fail(`${name} not found (${hint})`);
}

/** A loopback port that is free now (0 → any); undefined when `port` is taken. */
function tryPort(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const got = s.address().port;
      s.close(() => resolve(got));
    });
  });
}

function waitListening(port, ms, child, what) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`${what} exited at start`));
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`${what} did not listen on ${port} within ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Exactly one occurrence, so a drifted config fails loudly instead of half-rendering. */
function substitute(text, from, to) {
  const n = text.split(from).length - 1;
  if (n !== 1) fail(`deploy/nginx-cluster.conf should contain ${JSON.stringify(from)} exactly once (found ${n})`);
  return text.replace(from, to);
}

/** deploy/nginx-cluster.conf on loopback: plain HTTP, these node ports, paths in `dir`. */
function renderNginx(dir, listenPort, nodePorts) {
  let conf = readFileSync(NGINX_CONF, 'utf8');
  conf = substitute(conf, 'listen 443 ssl;', `listen 127.0.0.1:${listenPort};`);
  const before = conf.length;
  conf = conf.replace(/^\s*ssl_[a-z_]+ .*\n/gm, '');
  if (conf.length === before) fail('deploy/nginx-cluster.conf has no ssl_ lines to drop');
  const docNodes = ['10.0.0.11:8080', '10.0.0.12:8080', '10.0.0.13:8080'];
  docNodes.forEach((addr, i) => {
    conf = substitute(conf, `        server ${addr};\n`, i < nodePorts.length ? `        server 127.0.0.1:${nodePorts[i]};\n` : '');
  });
  conf = substitute(conf, 'worker_processes auto;', 'worker_processes 1;');
  conf = substitute(conf, 'worker_rlimit_nofile 65536;\n', '');
  conf = substitute(conf, 'worker_connections 16384;', 'worker_connections 1024;');
  const temp = ['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'];
  const httpPaths = [`    access_log off;`, ...temp.map((d) => `    ${d} ${join(dir, d)};`)].join('\n');
  conf = substitute(conf, 'http {\n', `http {\n${httpPaths}\n`);
  return `daemon off;\npid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'nginx.log')} warn;\n${conf}`;
}

const children = []; // { name, child, log }
let stopping = false;
let ready = false;

function start(name, cmd, args, env, dir) {
  const log = join(dir, `${name}.log`);
  const out = createWriteStream(log);
  // Own process group: a terminal Ctrl-C reaches only this script, which then stops
  // the children in order (nodes drain while Redis is still up).
  const child = spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const entry = { name, child, log, stderr: '' };
  child.stderr.on('data', (d) => {
    if (entry.stderr.length < 65536) entry.stderr += d.toString();
  });
  child.once('exit', (code, signal) => {
    if (stopping) return;
    // A node going away is a fault worth watching (the others reap it); Redis, nginx
    // or the last node going away ends the demo.
    const nodesLeft = children.filter((c) => c.name.startsWith('local-') && c.child.exitCode === null && c.child.signalCode === null);
    if (name.startsWith('local-') && nodesLeft.length > 0 && ready) {
      process.stderr.write(`cluster:local: ${name} exited (${signal ?? code}); the other nodes reap it within about 12 s\n`);
      return;
    }
    process.stderr.write(`cluster:local: ${name} exited (${signal ?? code}); stopping the rest. Its log:\n${tail(log)}\n`);
    void stopAll(1);
  });
  children.push(entry);
  return entry;
}

function tail(file) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Signals the child's whole process group (nginx's worker too); it is the group leader. */
function signal(child, sig) {
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
}

function exited(child, ms) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => signal(child, 'SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

let dir;

/**
 * In order: the nodes drain (SIGTERM; their 1001 closes still pass through nginx and
 * their slots go into grace in Redis), then nginx stops (SIGTERM, fast: nothing is left
 * to finish), then Redis.
 */
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const name of ['node', 'nginx', 'redis']) {
    const group = children.filter((c) => (name === 'node' ? c.name.startsWith('local-') : c.name === name));
    for (const c of group) signal(c.child, 'SIGTERM');
    await Promise.all(group.map((c) => exited(c.child, 15_000)));
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  process.stdout.write('cluster:local: stopped\n');
  process.exit(code);
}

// Last resort if this script itself crashes: never leave a child behind.
process.once('exit', () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) signal(c.child, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void stopAll(0));
// If whatever started this script dies without a signal reaching us (npm killed
// hard, a closed terminal's shell), stop too rather than leave a cluster running.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stopAll(0);
}, 1000).unref();

async function main() {
  if (!existsSync(CLI)) fail(`${CLI} is missing: run npm run build (npm run cluster:local builds first)`);
  const redisBin = findBinary('redis-server', 'apt-get install -y redis-server');
  const nginxBin = findBinary('nginx', 'apt-get install -y nginx');
  dir = mkdtempSync(join(tmpdir(), 'pyrycode-cluster-'));

  // Redis: loopback only, nothing on disk, noeviction (a full Redis must fail loudly),
  // and the relay confined to its prefix by the documented ACL.
  const redisPort = await tryPort(0);
  const password = randomBytes(16).toString('hex');
  const redisConf = [
    `port ${redisPort}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    'save ""',
    'appendonly no',
    'maxmemory-policy noeviction',
    'daemonize no',
    'loglevel warning',
    `user relay on >${password} ${ACL_RULES}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'redis.conf'), redisConf, { mode: 0o600 });
  const redis = start('redis', redisBin, [join(dir, 'redis.conf')], { PATH: process.env.PATH }, dir);
  await waitListening(redisPort, 10_000, redis.child, 'redis-server');

  const nodes = [];
  for (let i = 1; i <= nodeCount; i++) {
    const port = await tryPort(0);
    const metricsPort = await tryPort(0);
    const nodeId = `local-${i}`;
    const env = { PATH: process.env.PATH, PYRYCODE_RELAY_REDIS_URL: `redis://relay:${password}@127.0.0.1:${redisPort}` };
    const args = [
      '--max-semi-space-size=4',
      CLI,
      '--insecure-listen',
      `127.0.0.1:${port}`,
      '--metrics-listen',
      `127.0.0.1:${metricsPort}`,
      '--trust-x-forwarded-for',
      '--node-id',
      nodeId,
      '--cluster-prefix',
      PREFIX,
      // Short enough to watch a killed node being reaped (TTL + 2 s), long enough for a laptop.
      '--cluster-node-ttl',
      '10s',
      '--drain-timeout',
      '3s',
    ];
    nodes.push({ nodeId, port, metricsPort, entry: start(nodeId, process.execPath, args, env, dir) });
  }
  await Promise.all(nodes.map((n) => waitListening(n.port, 30_000, n.entry.child, n.nodeId)));

  const port = wantPort === 0 ? await tryPort(0) : ((await tryPort(wantPort)) ?? (await tryPort(0)));
  writeFileSync(
    join(dir, 'nginx.conf'),
    renderNginx(
      dir,
      port,
      nodes.map((n) => n.port),
    ),
  );
  const nginx = start(
    'nginx',
    nginxBin,
    ['-p', dir, '-e', join(dir, 'nginx.log'), '-c', join(dir, 'nginx.conf')],
    { PATH: process.env.PATH },
    dir,
  );
  await waitListening(port, 15_000, nginx.child, 'nginx');

  const base = `127.0.0.1:${port}`;
  const lines = [
    `pyrycode-relay cluster: ${nodeCount} nodes behind nginx (affinity on X-Pyrycode-Server), Redis on 127.0.0.1:${redisPort}`,
    ...(wantPort !== 0 && port !== wantPort ? [`  (port ${wantPort} is taken; nginx listens on ${port})`] : []),
    `  binaries (pyry):  ws://${base}/v1/server`,
    `  phones:           ws://${base}/v1/client`,
    `  health:           http://${base}/healthz`,
    ...nodes.map(
      (n) =>
        `  node ${n.nodeId}:    ws://127.0.0.1:${n.port}  metrics http://127.0.0.1:${n.metricsPort}/metrics  status http://127.0.0.1:${n.metricsPort}/status`,
    ),
    `  redis:            redis-cli -p ${redisPort} --scan --pattern '${PREFIX}:*'`,
    `  logs and state:   ${dir} (removed on exit)`,
    `  processes:        ${children.map((c) => `${c.name} ${c.child.pid}`).join(', ')}`,
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  ready = true;
}

main().catch((err) => {
  process.stderr.write(`cluster:local: ${err.message}\n`);
  for (const c of children) process.stderr.write(`--- ${c.name} log:\n${tail(c.log)}\n`);
  void stopAll(1);
});
