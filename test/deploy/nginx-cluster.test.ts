// The documented cluster setup behind nginx, for real: Debian's nginx runs
// deploy/nginx-cluster.conf (rendered with test ports and a throwaway certificate) in
// front of three relay nodes sharing one redis-server. Binaries and phones of many
// server-ids dial through it over wss://; header affinity puts every server-id's
// phones on its binary's node, so the cluster bus carries no frames. nginx, openssl
// and redis-server are required: when missing this test fails, it does not skip.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  assertAffinitySpread,
  assertPairsFollowBinary,
  busFrames,
  crossNodePair,
  health,
  startLocalCluster,
  type LocalCluster,
} from '../helpers/balanced-cluster.js';
import { newServerId } from '../helpers/clients.js';
import { exited, findBinary, httpsBody, localNginxConf, makeCert, ROOT, startNginx, substitute } from '../helpers/deploy.js';
import { eventually } from '../helpers/http.js';
import { freePort } from '../helpers/process.js';

const FILE = 'deploy/nginx-cluster.conf';
const TEMPLATE = readFileSync(join(ROOT, FILE), 'utf8');
const DOC_NODES = ['10.0.0.11:8080', '10.0.0.12:8080', '10.0.0.13:8080'];

function render(dir: string, tlsPort: number, nodePorts: number[], cert: { cert: string; key: string }): string {
  let conf = TEMPLATE;
  DOC_NODES.forEach((addr, i) => (conf = substitute(conf, `server ${addr};`, `server 127.0.0.1:${nodePorts[i]};`, FILE)));
  return localNginxConf(conf, FILE, dir, tlsPort, cert);
}

describe('nginx in front of three cluster nodes (deploy/nginx-cluster.conf)', () => {
  let dir: string;
  let cert: { cert: string; key: string };
  let cluster: LocalCluster | undefined;
  let nginx: ChildProcess | undefined;
  let tlsPort: number;
  let base: string;

  before(async () => {
    const bin = findBinary('nginx', 'apt-get install -y nginx');
    dir = mkdtempSync(join(tmpdir(), 'relay-nginx-cluster-'));
    cert = makeCert(dir);
    cluster = await startLocalCluster(3, 'nginx-cluster');
    tlsPort = await freePort();
    base = `wss://localhost:${tlsPort}`;

    const confFile = join(dir, 'nginx.conf');
    writeFileSync(
      confFile,
      render(
        dir,
        tlsPort,
        cluster.nodes.map((n) => n.port),
        cert,
      ),
    );
    nginx = await startNginx(bin, dir, confFile, tlsPort);
  });

  after(async () => {
    nginx?.kill('SIGQUIT');
    await exited(nginx);
    await cluster?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('every node sees the whole cluster; /healthz through nginx names a node', async () => {
    const nodes = cluster!.nodes;
    // Each node learns the count at its next heartbeat (every TTL/3).
    for (const n of nodes) await eventually(async () => (await health(n)).cluster_nodes === 3, 10_000, `${n.nodeId} sees 3 nodes`);
    const body = JSON.parse(await httpsBody(`https://localhost:${tlsPort}/healthz`, cert.cert)) as Record<string, unknown>;
    assert.equal(body.status, 'ok');
    assert.ok(
      nodes.some((n) => n.nodeId === body.node_id),
      `node_id ${String(body.node_id)}`,
    );
  });

  test('with affinity, pairs of 12 server-ids spread over the nodes and the bus carries no frames', async () => {
    await assertAffinitySpread(base, cluster!.nodes, readFileSync(cert.cert, 'utf8'));
  });

  test('control: a pair split across two nodes (no balancer) does cross the bus, and is counted', async () => {
    const nodes = cluster!.nodes;
    const before = await busFrames(nodes);
    await crossNodePair(nodes[0]!, nodes[1]!, newServerId());
    assert.ok((await busFrames(nodes)) >= before + 2, 'frames out on one node and in on the other');
  });

  test('a stopped node: nginx sends its server-ids to the next node on the ring, binary and phones alike', async () => {
    const nodes = cluster!.nodes;
    const gone = nodes[2]!;
    gone.child.kill('SIGTERM');
    await exited(gone.child, 15_000);
    await assertPairsFollowBinary(base, nodes.slice(0, 2), readFileSync(cert.cert, 'utf8'), 6);
  });

  test('the documented idle timeouts outlast the relay heartbeat window (60 s); no compression', () => {
    for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const m = new RegExp(`${d} (\\d+)s;`).exec(TEMPLATE);
      assert.ok(m !== null, d);
      assert.ok(Number(m[1]) > 60, `${d} ${m[1]}s`);
    }
    assert.match(TEMPLATE, /^\s*hash \$http_x_pyrycode_server consistent;$/m);
    assert.match(TEMPLATE, /^\s*gzip off;$/m);
  });
});
