// Boot checks (operations.md §3), unit level: each check on synthetic facts,
// including /proc/self/status contents, and the order in which they refuse.
// The same checks run for real in test/cli/boot.test.
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { describe, test } from 'node:test';
import {
  checkCapabilities,
  inspectorFlags,
  plannedListeners,
  runBootChecks,
  unexpectedCapabilities,
  type BootFacts,
} from '../../src/ops/boot-checks.js';
import { parseCommandLine, type RelayConfig } from '../../src/ops/config.js';
import type { RelayEnvironment } from '../../src/ops/env.js';

function config(...args: string[]): RelayConfig {
  const out = parseCommandLine(args, { homedir: homedir() });
  assert.equal(out.kind, 'run');
  return (out as { config: RelayConfig }).config;
}

const status = (capEff: string): string =>
  `Name:\tnode\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

const facts = (over: Partial<BootFacts> = {}): BootFacts => ({
  env: {},
  platform: 'linux',
  euid: 1000,
  procSelfStatus: status('0000000000000000'),
  execArgv: [],
  inspectorUrl: undefined,
  hostname: 'relay-host',
  randomHex: 'a1b2c3',
  ...over,
});

const env = (production: boolean): RelayEnvironment => ({
  production,
  singleInstanceBypass: false,
  fcmCredentials: undefined,
  fcmUrl: undefined,
  flyAppName: undefined,
  redis: undefined,
  flyMachineId: undefined,
});

const insecure = config('--insecure-listen', '127.0.0.1:8080');
const acme = config('--domain', 'relay.example');

describe('capabilities', () => {
  test('CapEff parsing: only CAP_NET_BIND_SERVICE (bit 10) is allowed', () => {
    assert.deepEqual(unexpectedCapabilities(status('0000000000000000')), []);
    assert.deepEqual(unexpectedCapabilities(status('0000000000000400')), []);
    assert.deepEqual(unexpectedCapabilities(status('0000000000002400')), ['CAP_NET_RAW']);
    assert.deepEqual(unexpectedCapabilities(status('00000000a80425fb')), [
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_FOWNER',
      'CAP_FSETID',
      'CAP_KILL',
      'CAP_SETGID',
      'CAP_SETUID',
      'CAP_SETPCAP',
      'CAP_NET_RAW',
      'CAP_SYS_CHROOT',
      'CAP_MKNOD',
      'CAP_AUDIT_WRITE',
      'CAP_SETFCAP',
    ]); // Docker's default set
    const all = unexpectedCapabilities(status('000001ffffffffff'));
    assert.equal(all?.length, 40);
    assert.ok(all?.includes('CAP_CHECKPOINT_RESTORE'));
    assert.deepEqual(unexpectedCapabilities(status('0000800000000000')), ['CAP_47']);
    for (const broken of ['', 'CapEff:\n', 'CapEff:\tzz\n', 'CapPrm:\t0000000000000000\n']) {
      assert.equal(unexpectedCapabilities(broken), undefined);
    }
  });

  test('production refuses naming each capability; otherwise one warning; other platforms skip', () => {
    const raw = status('0000000000003000'); // NET_ADMIN, NET_RAW
    const prod = checkCapabilities(env(true), 'linux', raw);
    assert.equal(prod.refusal?.fields.capabilities, 'CAP_NET_ADMIN,CAP_NET_RAW');
    assert.equal(prod.warning, undefined);
    const dev = checkCapabilities(env(false), 'linux', raw);
    assert.equal(dev.refusal, undefined);
    assert.equal(dev.warning?.event, 'unexpected_capabilities');
    assert.equal(dev.warning?.fields.capabilities, 'CAP_NET_ADMIN,CAP_NET_RAW');
    assert.deepEqual(checkCapabilities(env(true), 'darwin', undefined), {});
    assert.deepEqual(checkCapabilities(env(true), 'linux', status('0000000000000400')), {});
    assert.ok(checkCapabilities(env(true), 'linux', undefined).refusal, 'unverifiable in production: refuse');
    assert.equal(checkCapabilities(env(false), 'linux', undefined).warning?.event, 'capabilities_unverified');
  });
});

describe('listeners and inspector', () => {
  test('planned listeners are exactly the flags plus metrics', () => {
    assert.deepEqual(
      plannedListeners(insecure).map((l) => [l.flag, l.addr.text]),
      [
        ['insecure-listen', '127.0.0.1:8080'],
        ['metrics-listen', '127.0.0.1:9090'],
      ],
    );
    assert.deepEqual(
      plannedListeners(config('--domain', 'r.example', '--metrics-listen=')).map((l) => l.flag),
      ['https-listen', 'http-listen'],
    );
  });

  test('two listeners on one port are refused, naming the flag', () => {
    const clash = (...args: string[]) => runBootChecks(config(...args), facts());
    const a = clash('--insecure-listen', ':9090');
    assert.equal(a.ok, false);
    assert.equal((a as { refusal: { fields: { flag?: string } } }).refusal.fields.flag, 'metrics-listen');
    const b = clash('--domain', 'r.example', '--https-listen', ':8443', '--http-listen', '0.0.0.0:8443');
    assert.equal((b as { refusal: { fields: { flag?: string } } }).refusal.fields.flag, 'http-listen');
    assert.ok(clash('--insecure-listen', '127.0.0.2:9090').ok, 'different hosts, same port: fine');
    assert.ok(clash('--insecure-listen', ':9091').ok);
  });

  test('inspector flags from execArgv and NODE_OPTIONS', () => {
    assert.deepEqual(inspectorFlags(['--inspect'], undefined), ['--inspect']);
    assert.deepEqual(inspectorFlags(['--max-old-space-size=100'], ' --inspect-brk=0.0.0.0:9229  --trace-warnings'), ['--inspect-brk']);
    assert.deepEqual(inspectorFlags(['--inspect-port=1', '--inspect-wait'], '--debug-port=2'), [
      '--inspect-port',
      '--inspect-wait',
      '--debug-port',
    ]);
    assert.deepEqual(inspectorFlags(['--inspector-thing', '--no-inspect'], '--enable-source-maps'), []);
  });

  test('an inspector refuses in production and warns otherwise', () => {
    const nonRootProd = facts({ env: { PYRYCODE_RELAY_PRODUCTION: '1' }, execArgv: ['--inspect=127.0.0.1:0'] });
    const refused = runBootChecks(acme, nonRootProd);
    assert.equal(refused.ok, false);
    assert.match(JSON.stringify(refused), /--inspect/);
    const viaUrl = runBootChecks(acme, facts({ env: { PYRYCODE_RELAY_PRODUCTION: '1' }, inspectorUrl: 'ws://127.0.0.1:9229/x' }));
    assert.equal(viaUrl.ok, false);
    const dev = runBootChecks(insecure, facts({ env: { NODE_OPTIONS: '--inspect' } }));
    assert.ok(dev.ok);
    assert.deepEqual(
      dev.warnings.map((w) => w.event),
      ['inspector_enabled'],
    );
  });
});

describe('runBootChecks order', () => {
  const refusalOf = (cfg: RelayConfig, f: BootFacts): Record<string, unknown> => {
    const v = runBootChecks(cfg, f);
    assert.equal(v.ok, false);
    return (v as { refusal: { fields: Record<string, unknown> } }).refusal.fields;
  };
  const everything: BootFacts = facts({
    env: { PYRYCODE_RELAY_PRODUCTION: '1', FLY_APP_NAME: 'relay', NODE_OPTIONS: '--inspect' },
    euid: 0,
    procSelfStatus: status('000001ffffffffff'),
  });

  test('environment, single instance, insecure listen, uid 0, capabilities, listeners, inspector', () => {
    assert.equal(
      refusalOf(insecure, { ...everything, env: { ...everything.env, PYRYCODE_RELAY_FCM_URL: 'x' } }).env_var,
      'PYRYCODE_RELAY_FCM_URL',
    );
    const single = refusalOf(insecure, everything);
    assert.equal(single.env_var, 'FLY_APP_NAME');
    assert.match(String(single.reason), /multi-instance deploy detected/);
    assert.match(String(single.reason), /PYRYCODE_RELAY_SINGLE_INSTANCE/);
    const bypass = { ...everything, env: { ...everything.env, PYRYCODE_RELAY_SINGLE_INSTANCE: '1' } };
    assert.equal(refusalOf(insecure, bypass).flag, 'insecure-listen');
    assert.match(String(refusalOf(acme, bypass).reason), /uid 0/);
    assert.equal(refusalOf(acme, { ...bypass, euid: 1000 }).capabilities !== undefined, true);
    const clean = { ...bypass, euid: 1000, procSelfStatus: status('0000000000000400') };
    const clash = config('--domain', 'r.example', '--http-listen', ':9090', '--metrics-listen', '127.0.0.1:9090');
    assert.equal(refusalOf(clash, clean).flag, 'metrics-listen');
    assert.match(String(refusalOf(acme, clean).reason), /inspector/);
    const ok = runBootChecks(acme, { ...clean, env: { ...clean.env, NODE_OPTIONS: '' } });
    assert.ok(ok.ok);
    assert.equal(ok.environment.production, true);
  });

  test('outside production: warnings only, and FLY_APP_NAME with the bypass passes', () => {
    const v = runBootChecks(
      insecure,
      facts({ euid: 0, procSelfStatus: status('000001ffffffffff'), env: { FLY_APP_NAME: 'x', PYRYCODE_RELAY_SINGLE_INSTANCE: '1' } }),
    );
    assert.ok(v.ok);
    assert.deepEqual(
      v.warnings.map((w) => w.event),
      ['unexpected_capabilities'],
    );
  });
});

describe('cluster mode (cluster.md §1)', () => {
  const REDIS_URL = 'redis://:pw@127.0.0.1:6390';

  test('with PYRYCODE_RELAY_REDIS_URL set the single-instance check passes on Fly, no bypass needed', () => {
    const v = runBootChecks(
      insecure,
      facts({ env: { FLY_APP_NAME: 'relay', PYRYCODE_RELAY_REDIS_URL: REDIS_URL, FLY_MACHINE_ID: '3d8d9e3a12e389' } }),
    );
    assert.ok(v.ok, JSON.stringify(v));
    assert.equal(v.cluster?.nodeId, '3d8d9e3a12e389');
    assert.equal(v.cluster?.prefix, 'pyrycode-relay');
    assert.equal(v.cluster?.nodeTtlMs, 30_000);
    assert.equal(v.cluster?.redis.port, 6390);
    // The refusal says how to run several instances properly.
    const single = runBootChecks(insecure, facts({ env: { FLY_APP_NAME: 'relay' } }));
    assert.equal(single.ok, false);
    if (!single.ok) assert.match(String(single.refusal.fields.reason), /set PYRYCODE_RELAY_REDIS_URL to run them as one cluster/);
  });

  test('without the variable the verdict carries no cluster; the node id defaults from the host facts', () => {
    const plain = runBootChecks(insecure, facts());
    assert.ok(plain.ok);
    assert.equal(plain.cluster, undefined);
    const host = runBootChecks(insecure, facts({ env: { PYRYCODE_RELAY_REDIS_URL: REDIS_URL } }));
    assert.ok(host.ok);
    assert.equal(host.cluster?.nodeId, 'relay-host-a1b2c3');
  });

  test('a malformed URL or an unusable FLY_MACHINE_ID default is an environment refusal, before single instance', () => {
    const url = runBootChecks(insecure, facts({ env: { FLY_APP_NAME: 'relay', PYRYCODE_RELAY_REDIS_URL: 'redis://:SECRET@' } }));
    assert.equal(url.ok, false);
    if (!url.ok) {
      assert.equal(url.refusal.fields.env_var, 'PYRYCODE_RELAY_REDIS_URL');
      assert.ok(!JSON.stringify(url.refusal).includes('SECRET'));
    }
    const machine = runBootChecks(
      insecure,
      facts({ env: { FLY_APP_NAME: 'relay', PYRYCODE_RELAY_REDIS_URL: REDIS_URL, FLY_MACHINE_ID: 'a b' } }),
    );
    assert.equal(machine.ok, false);
    if (!machine.ok) {
      assert.equal(machine.refusal.fields.env_var, 'FLY_MACHINE_ID');
      assert.match(String(machine.refusal.fields.reason), /^FLY_MACHINE_ID must be 1-64 characters/);
    }
  });
});
