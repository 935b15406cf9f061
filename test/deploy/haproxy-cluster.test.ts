// The documented cluster setup behind HAProxy, for real: Debian's haproxy runs
// deploy/haproxy-cluster.cfg (rendered with test ports and a throwaway certificate)
// in front of three relay nodes sharing one redis-server. Binaries and phones of many
// server-ids dial through it over wss://; `balance hdr(X-Pyrycode-Server)` puts every
// server-id's phones on its binary's node, so the cluster bus carries no frames; a
// stopped node leaves the ring through the /healthz check. haproxy, openssl and
// redis-server are required: when missing this test fails, it does not skip.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  assertAffinitySpread,
  assertPairsFollowBinary,
  health,
  startLocalCluster,
  type LocalCluster,
} from '../helpers/balanced-cluster.js';
import { exited, findBinary, httpsBody, makeCert, ROOT, substitute, waitListening } from '../helpers/deploy.js';
import { eventually } from '../helpers/http.js';
import { freePort } from '../helpers/process.js';

const FILE = 'deploy/haproxy-cluster.cfg';
const TEMPLATE = readFileSync(join(ROOT, FILE), 'utf8');
const DOC_NODES = ['10.0.0.11:8080', '10.0.0.12:8080', '10.0.0.13:8080'];

function render(tlsPort: number, nodePorts: number[], pem: string): string {
  const sub = (text: string, from: string, to: string): string => substitute(text, from, to, FILE);
  let conf = TEMPLATE;
  conf = sub(conf, 'bind :443 ssl crt /etc/haproxy/certs/relay.example.com.pem', `bind 127.0.0.1:${tlsPort} ssl crt ${pem}`);
  DOC_NODES.forEach((addr, i) => (conf = sub(conf, ` ${addr}\n`, ` 127.0.0.1:${nodePorts[i]}\n`)));
  // Unprivileged here: HAProxy cannot raise the descriptor limit its maxconn needs (2 per connection).
  conf = sub(conf, 'maxconn 16384', 'maxconn 2048');
  // Fast health checks, so the node-down test needs no long wait.
  conf = sub(conf, 'check inter 2s fall 2 rise 2', 'check inter 200ms fall 2 rise 2');
  return conf;
}

describe('HAProxy in front of three cluster nodes (deploy/haproxy-cluster.cfg)', () => {
  let dir: string;
  let ca: string;
  let cluster: LocalCluster | undefined;
  let haproxy: ChildProcess | undefined;
  let haproxyOut = '';
  let tlsPort: number;
  let base: string;

  before(async () => {
    const bin = findBinary('haproxy', 'apt-get install -y haproxy');
    dir = mkdtempSync(join(tmpdir(), 'relay-haproxy-cluster-'));
    const cert = makeCert(dir);
    ca = readFileSync(cert.cert, 'utf8');
    // HAProxy reads the certificate and its key from one file.
    const pem = join(dir, 'relay.pem');
    writeFileSync(pem, readFileSync(cert.cert, 'utf8') + readFileSync(cert.key, 'utf8'));
    cluster = await startLocalCluster(3, 'haproxy-cluster');
    tlsPort = await freePort();
    base = `wss://localhost:${tlsPort}`;

    const confFile = join(dir, 'haproxy.cfg');
    writeFileSync(
      confFile,
      render(
        tlsPort,
        cluster.nodes.map((n) => n.port),
        pem,
      ),
    );
    const check = spawnSync(bin, ['-c', '-q', '-f', confFile], { encoding: 'utf8' });
    assert.equal(check.status, 0, `haproxy -c rejected the documented config: ${check.stdout}${check.stderr}`);
    // -db: foreground, no daemon; logs to stderr.
    haproxy = spawn(bin, ['-db', '-f', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout?.on('data', (d: Buffer) => (haproxyOut += d.toString()));
    haproxy.stderr?.on('data', (d: Buffer) => (haproxyOut += d.toString()));
    await waitListening(tlsPort, 15_000).catch((err: Error) => assert.fail(`${err.message}; haproxy said: ${haproxyOut}`));
  });

  after(async () => {
    // SIGUSR1: soft stop (finish the sessions, then exit).
    haproxy?.kill('SIGUSR1');
    await exited(haproxy);
    await cluster?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** How many of `n` consecutive /healthz requests through HAProxy answer ok. */
  async function healthzRun(n: number): Promise<number> {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const body = await httpsBody(`https://localhost:${tlsPort}/healthz`, join(dir, 'cert.pem')).catch(() => '');
      if (body.startsWith('{"status":"ok"')) ok++;
    }
    return ok;
  }

  test('/healthz through HAProxy names a node of the cluster', async () => {
    const body = JSON.parse(await httpsBody(`https://localhost:${tlsPort}/healthz`, join(dir, 'cert.pem'))) as Record<string, unknown>;
    assert.equal(body.status, 'ok');
    assert.equal(typeof body.cluster_nodes, 'number');
    for (const n of cluster!.nodes) await eventually(async () => (await health(n)).cluster_nodes === 3, 10_000, `${n.nodeId} sees 3 nodes`);
    assert.ok(
      cluster!.nodes.some((n) => n.nodeId === body.node_id),
      `node_id ${String(body.node_id)}`,
    );
  });

  test('with affinity, pairs of 12 server-ids spread over the nodes and the bus carries no frames', async () => {
    await assertAffinitySpread(base, cluster!.nodes, ca);
  });

  test('a stopped node leaves the ring: its server-ids pair on the remaining nodes', async () => {
    const nodes = cluster!.nodes;
    const gone = nodes[2]!;
    gone.child.kill('SIGTERM');
    await exited(gone.child, 15_000);
    await eventually(async () => (await health(nodes[0]!)).cluster_nodes === 2, 15_000, 'the cluster sees two nodes');
    // /healthz carries no header, so HAProxy round-robins it: three answers in a row
    // from the two live nodes mean the check (fall 2 × inter 200ms) took the third out.
    await eventually(async () => (await healthzRun(3)) === 3, 5000, 'the stopped node out of the ring');
    await assertPairsFollowBinary(base, nodes.slice(0, 2), ca, 6);
  });

  test('the documented tunnel timeout outlasts the relay heartbeat window (60 s); no compression', () => {
    const m = /^\s*timeout tunnel (\d+)s$/m.exec(TEMPLATE);
    assert.ok(m !== null);
    assert.ok(Number(m[1]) > 60, `timeout tunnel ${m[1]}s`);
    assert.match(TEMPLATE, /^\s*balance hdr\(X-Pyrycode-Server\)$/m);
    assert.match(TEMPLATE, /^\s*hash-type consistent$/m);
    assert.doesNotMatch(TEMPLATE, /^\s*compression /m);
  });
});
