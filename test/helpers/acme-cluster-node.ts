// Run as a child process by the cluster ACME tests: one relay node in ACME mode
// wired as src/cluster/runtime.ts wires it — bootCluster, then openClusterAcme(node)
// passed to startApp as `acme` — with the short lock and retry timings a test needs
// (they are not flags; the CLI test covers the real wiring with the defaults). Logs JSON lines on stderr like the CLI; SIGTERM drains and exits 0.
// Spawned with spawnAcmeNode(); the spec comes in ACME_NODE_SPEC.
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import { startApp } from '../../src/app.js';
import { bootCluster } from '../../src/cluster/boot.js';
import { openClusterAcme } from '../../src/cluster/acme-redis.js';
import { defaultConfig, type RelayConfig } from '../../src/ops/config.js';
import { createLogger } from '../../src/ops/logger.js';
import { reap } from './process.js';

export interface AcmeNodeSpec {
  redisPort: number;
  prefix: string;
  nodeId: string;
  domain: string;
  httpPort: number;
  httpsPort: number;
  cacheDir: string;
  directoryUrl: string;
  lockTtlMs: number;
  lockWaitMs: number;
  syncIntervalMs: number;
}

const SELF = fileURLToPath(import.meta.url);

export type AcmeNodeChild = ChildProcess & { out: { stdout: string; stderr: string } };

export function spawnAcmeNode(spec: AcmeNodeSpec, extraCaFile: string): AcmeNodeChild {
  const child = spawn(process.execPath, [SELF], {
    env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: extraCaFile, ACME_NODE_SPEC: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as AcmeNodeChild;
  child.out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (child.out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (child.out.stderr += d.toString()));
  reap(child);
  return child;
}

async function main(spec: AcmeNodeSpec): Promise<void> {
  const logger = createLogger('debug');
  const node = await bootCluster(
    { redis: { host: '127.0.0.1', port: spec.redisPort, db: 0, tls: false }, prefix: spec.prefix, nodeId: spec.nodeId, nodeTtlMs: 3000 },
    { graceMs: 2000 },
  );
  const acme = await openClusterAcme(node, { lockTtlMs: spec.lockTtlMs });
  const at = (port: number): RelayConfig['httpListen'] => ({ host: '127.0.0.1', port, text: `127.0.0.1:${port}` });
  const config: RelayConfig = {
    ...defaultConfig(homedir()),
    domain: spec.domain,
    httpsListen: at(spec.httpsPort),
    httpListen: at(spec.httpPort),
    certCache: spec.cacheDir,
    acmeDirectory: spec.directoryUrl,
    metricsListen: undefined,
    headerTimeoutMs: 2000,
  };
  const app = await startApp(config, config.httpsListen, {
    logger,
    acme,
    tls: { lockWaitMs: spec.lockWaitMs, syncIntervalMs: spec.syncIntervalMs, retryBaseMs: 500, pollMinMs: 100 },
  });
  logger.info('relay_started', { mode: 'tls', addr: config.httpsListen.text, domain: spec.domain });
  process.once('SIGTERM', () => {
    void (async () => {
      await app.drain();
      acme.close();
      await node.close();
      logger.info('shutdown_complete', {});
      process.exit(0);
    })();
  });
}

if (process.argv[1] === SELF) {
  const raw = process.env.ACME_NODE_SPEC;
  if (raw === undefined) throw new Error('ACME_NODE_SPEC is not set');
  main(JSON.parse(raw) as AcmeNodeSpec).catch((err: unknown) => {
    // The error's name and Node's code (EADDRINUSE…): never a message that could carry a secret.
    const code = (err as { code?: unknown } | undefined)?.code;
    process.stderr.write(`acme node failed: ${err instanceof Error ? err.name : 'error'}${typeof code === 'string' ? ` ${code}` : ''}\n`);
    process.exit(1);
  });
}
