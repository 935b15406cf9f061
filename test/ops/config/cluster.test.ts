// Cluster settings (cluster.md §1): the three flags' rules in both modes, and how
// they combine with PYRYCODE_RELAY_REDIS_URL and FLY_MACHINE_ID into ClusterConfig.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCommandLine, resolveCluster, UsageError, type RelayConfig } from '../../../src/ops/config.js';
import { hostNodeId } from '../../../src/ops/config/cluster.js';
import { readEnvironment, type RelayEnvironment } from '../../../src/ops/env.js';

const INSECURE = ['--insecure-listen', ':8080'];
const ACME = ['--domain', 'relay.example.com'];
const FACTS = { hostname: 'relay-host', randomHex: '0a1b2c' };

function run(...argv: string[]): RelayConfig {
  const out = parseCommandLine(argv, { homedir: '/home/relay' });
  assert.equal(out.kind, 'run');
  return (out as { config: RelayConfig }).config;
}

function usage(argv: string[], flag: string, rule: RegExp): void {
  assert.throws(
    () => parseCommandLine(argv, { homedir: '/home/relay' }),
    (e: unknown) => e instanceof UsageError && e.flag === flag && e.message.includes(`--${flag}`) && rule.test(e.message),
  );
}

function environment(env: Record<string, string>): RelayEnvironment {
  const r = readEnvironment(env);
  assert.ok(r.ok);
  return r.value;
}

const REDIS = { PYRYCODE_RELAY_REDIS_URL: 'redis://:pw@127.0.0.1:6390/1' };

describe('cluster flags', () => {
  test('defaults, in either mode, with or without the variable', () => {
    for (const base of [INSECURE, ACME]) {
      const c = run(...base);
      assert.equal(c.clusterPrefix, 'pyrycode-relay');
      assert.equal(c.nodeId, undefined);
      assert.equal(c.clusterNodeTtlMs, 30_000);
      assert.equal(c.cluster, undefined, 'flags alone never turn cluster mode on');
    }
  });

  test('valid values are taken as given', () => {
    const c = run(...INSECURE, '--cluster-prefix', 'eu-1:relay.v2_x', '--node-id=web-01.eu_1', '--cluster-node-ttl', '1m30s');
    assert.equal(c.clusterPrefix, 'eu-1:relay.v2_x');
    assert.equal(c.nodeId, 'web-01.eu_1');
    assert.equal(c.clusterNodeTtlMs, 90_000);
    assert.equal(run(...ACME, '--cluster-prefix', 'p'.repeat(64)).clusterPrefix, 'p'.repeat(64));
    assert.equal(run(...ACME, '--node-id', 'n'.repeat(64)).nodeId, 'n'.repeat(64));
  });

  test('--cluster-prefix: 1-64 of [A-Za-z0-9._:-]', () => {
    for (const bad of ['', 'p'.repeat(65), 'has space', 'a/b', 'a*', 'é', '{tag}']) {
      usage([...INSECURE, `--cluster-prefix=${bad}`], 'cluster-prefix', /1-64 characters of A-Z a-z 0-9 \. _ : -/);
    }
  });

  test('--node-id: 1-64 of [A-Za-z0-9._-] (no colon: it separates node and incarnation)', () => {
    for (const bad of ['', 'n'.repeat(65), 'a:b', 'a b', 'node/1', 'ñ']) {
      usage([...ACME, `--node-id=${bad}`], 'node-id', /1-64 characters of A-Z a-z 0-9 \. _ -/);
    }
  });

  test('--cluster-node-ttl: a Go duration from 3s to 10m', () => {
    for (const [v, ms] of [
      ['3s', 3000],
      ['10m', 600_000],
      ['2m', 120_000],
      ['3000ms', 3000],
    ] as const) {
      assert.equal(run(...INSECURE, `--cluster-node-ttl=${v}`).clusterNodeTtlMs, ms);
    }
    for (const bad of ['2.999s', '0s', '-30s', '10m0.001s', '1h'])
      usage([...INSECURE, `--cluster-node-ttl=${bad}`], 'cluster-node-ttl', /from 3s to 10m/);
    for (const bad of ['30', 'soon', '']) usage([...INSECURE, `--cluster-node-ttl=${bad}`], 'cluster-node-ttl', /must be a duration/);
  });
});

describe('resolveCluster', () => {
  test('without PYRYCODE_RELAY_REDIS_URL: single node, whatever the flags say', () => {
    const c = run(...INSECURE, '--node-id', 'x', '--cluster-prefix', 'p');
    assert.deepEqual(resolveCluster(c, environment({ FLY_MACHINE_ID: 'bad id!' }), FACTS), { ok: true, cluster: undefined });
  });

  test('with it: the parsed target, the flags, and --node-id when given', () => {
    const env = environment({ ...REDIS, FLY_MACHINE_ID: '3d8d9e3a12e389' });
    const r = resolveCluster(run(...INSECURE, '--node-id', 'web-1', '--cluster-prefix', 'p1', '--cluster-node-ttl', '5s'), env, FACTS);
    assert.ok(r.ok);
    assert.equal(r.cluster?.redis, env.redis);
    assert.deepEqual({ ...r.cluster, redis: undefined }, { redis: undefined, prefix: 'p1', nodeId: 'web-1', nodeTtlMs: 5000 });
    assert.deepEqual({ ...r.cluster?.redis }, { host: '127.0.0.1', port: 6390, username: undefined, password: 'pw', db: 1, tls: false });
  });

  test('default node id: FLY_MACHINE_ID when set, else <hostname>-<6 hex>', () => {
    const fly = resolveCluster(run(...INSECURE), environment({ ...REDIS, FLY_MACHINE_ID: '3d8d9e3a12e389' }), FACTS);
    assert.ok(fly.ok);
    assert.equal(fly.cluster?.nodeId, '3d8d9e3a12e389');
    for (const env of [REDIS, { ...REDIS, FLY_MACHINE_ID: '' }]) {
      const host = resolveCluster(run(...INSECURE), environment(env), FACTS);
      assert.ok(host.ok);
      assert.equal(host.cluster?.nodeId, 'relay-host-0a1b2c');
    }
  });

  test('a FLY_MACHINE_ID that is not a valid node id is refused naming the variable, unless --node-id is given', () => {
    for (const bad of ['has space', 'a:b', 'm'.repeat(65)]) {
      const r = resolveCluster(run(...INSECURE), environment({ ...REDIS, FLY_MACHINE_ID: bad }), FACTS);
      assert.equal(r.ok, false);
      if (r.ok) continue;
      assert.equal(r.refusal.envVar, 'FLY_MACHINE_ID');
      assert.match(r.refusal.reason, /1-64 characters of A-Z a-z 0-9 \. _ -.*give --node-id/);
      assert.ok(!r.refusal.reason.includes(bad));
      const given = resolveCluster(run(...INSECURE, '--node-id', 'ok'), environment({ ...REDIS, FLY_MACHINE_ID: bad }), FACTS);
      assert.ok(given.ok && given.cluster?.nodeId === 'ok');
    }
  });

  test('a hostname-derived id always fits the rule: odd characters become -, long names are cut', () => {
    const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
    for (const [hostname, expected] of [
      ['relay-host', 'relay-host-0a1b2c'],
      ['ip-10-0-0-1.ec2.internal', 'ip-10-0-0-1.ec2.internal-0a1b2c'],
      ['weird host:name', 'weird-host-name-0a1b2c'],
      ['', 'node-0a1b2c'],
      ['h'.repeat(100), 'h'.repeat(57) + '-0a1b2c'],
    ]) {
      const id = hostNodeId({ hostname: hostname as string, randomHex: '0a1b2c' });
      assert.equal(id, expected);
      assert.match(id, NODE_ID);
    }
  });
});
