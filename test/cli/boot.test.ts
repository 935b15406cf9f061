// Black-box: boot refusals and the metrics listener through the real CLI
// (operations.md §2, §3, §6). Each refusal is exit 2 with one log line naming
// the flag or variable to fix and never echoing a secret. The capability and
// inspector checks run for real: as root (this CI) and, via setpriv, as an
// unprivileged user holding one extra capability.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { unexpectedCapabilities } from '../../src/ops/boot-checks.js';
import { httpRequest } from '../helpers/http.js';
import { CLI, freePort, runCli, spawnCli, waitExit, waitForStderr, type Exited, reap } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis.js';

const EUID = process.geteuid?.() ?? -1;
const MY_CAPS = unexpectedCapabilities(readFileSync('/proc/self/status', 'utf8')) ?? [];

/** JSON log lines from stderr (usage text and Node's own messages skipped). */
function lines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function refusal(r: Exited): Record<string, unknown> {
  assert.equal(r.code, 2, r.stderr);
  const refused = lines(r.stderr).filter((l) => l.event === 'boot_refused');
  assert.equal(refused.length, 1, r.stderr);
  return refused[0] as Record<string, unknown>;
}

/** Starts the CLI, waits for relay_started, then SIGTERMs it; returns its log. */
async function startsAndStops(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Exited> {
  const child = spawnCli(args, env);
  await waitForStderr(child, /relay_started/);
  child.kill('SIGTERM');
  const r = await waitExit(child);
  assert.equal(r.code, 0, r.stderr);
  return r;
}

/** The CLI as uid/gid 65534 with `caps` as ambient capabilities (we are root). */
function runAsNobody(caps: string[], args: string[], env: NodeJS.ProcessEnv): Promise<Exited> {
  const capArgs = caps.length === 0 ? [] : [`--inh-caps=+${caps.join(',+')}`, `--ambient-caps=+${caps.join(',+')}`];
  const child = spawn(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', ...capArgs, process.execPath, CLI, '--metrics-listen=', ...args],
    { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  ) as ReturnType<typeof spawnCli>;
  child.out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (child.out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (child.out.stderr += d.toString()));
  reap(child);
  return waitExit(child);
}

const insecure = (port = 18080): string[] => ['--insecure-listen', `127.0.0.1:${port}`];
const PROD = { PYRYCODE_RELAY_PRODUCTION: '1' };

describe('boot refusals: environment', () => {
  test('exact-1 rule for PYRYCODE_RELAY_PRODUCTION and PYRYCODE_RELAY_SINGLE_INSTANCE', async () => {
    const runs: Array<Promise<[string, Exited]>> = [];
    for (const name of ['PYRYCODE_RELAY_PRODUCTION', 'PYRYCODE_RELAY_SINGLE_INSTANCE']) {
      for (const value of ['', 'true', '0', ' 1']) {
        runs.push(runCli(insecure(), { [name]: value }).then((r) => [name, r]));
      }
    }
    for (const [name, r] of await Promise.all(runs)) {
      const line = refusal(r);
      assert.equal(line.env_var, name);
      assert.match(String(line.reason), /exactly 1/);
    }
  });

  test('FCM credentials and URL: the variable and rule are named, the value never appears', async () => {
    const secret = JSON.stringify({
      type: 'service_account',
      client_email: 'leak-marker@example.iam.gserviceaccount.com',
      private_key: '-----BEGIN PRIVATE KEY-----\nLEAKMARKER\n-----END PRIVATE KEY-----\n',
    });
    const [creds, url] = await Promise.all([
      runCli(insecure(), { PYRYCODE_RELAY_FCM_CREDENTIALS: secret }),
      runCli(insecure(), { PYRYCODE_RELAY_FCM_URL: 'http://leak-marker.example/send' }),
    ]);
    assert.equal(refusal(creds).env_var, 'PYRYCODE_RELAY_FCM_CREDENTIALS');
    assert.equal(refusal(url).env_var, 'PYRYCODE_RELAY_FCM_URL');
    for (const r of [creds, url]) {
      assert.ok(!/leak-marker|LEAKMARKER|BEGIN PRIVATE/i.test(r.stderr + r.stdout), r.stderr);
    }
  });

  test('single instance: FLY_APP_NAME refuses unless bypassed', async () => {
    const line = refusal(await runCli(insecure(), { FLY_APP_NAME: 'pyrycode-relay' }));
    assert.match(String(line.reason), /multi-instance deploy detected/);
    assert.match(String(line.reason), /PYRYCODE_RELAY_SINGLE_INSTANCE/);
    const port = await freePort();
    await startsAndStops(insecure(port), { FLY_APP_NAME: 'pyrycode-relay', PYRYCODE_RELAY_SINGLE_INSTANCE: '1' });
    await startsAndStops(insecure(await freePort()), { FLY_APP_NAME: '' });
  });
});

describe('boot refusals: production mode', () => {
  test('--insecure-listen is refused in production', async () => {
    const line = refusal(await runCli(insecure(), PROD));
    assert.equal(line.flag, 'insecure-listen');
    assert.equal(line.env_var, 'PYRYCODE_RELAY_PRODUCTION');
  });

  test('uid 0 is refused in production (this machine runs the tests as root)', async () => {
    assert.equal(EUID, 0, 'the boot tests expect to run as root, as CI does');
    const line = refusal(await runCli(['--domain', 'relay.example'], PROD));
    assert.match(String(line.reason), /uid 0/);
  });

  test('capabilities, for real: production refuses an extra one by name; outside production one warning', async () => {
    const r = await runAsNobody(['net_raw'], ['--domain', 'relay.example'], PROD);
    const line = refusal(r);
    assert.equal(line.capabilities, 'CAP_NET_RAW');
    // CAP_NET_BIND_SERVICE alone passes the capability check (and reaches the next refusal).
    // An unwritable cache and a dead loopback CA keep this run local whatever the machine allows.
    const bind = await runAsNobody(
      ['net_bind_service'],
      [
        '--domain',
        'relay.example',
        '--cert-cache',
        '/etc/hostname/pyrycode-relay-certs',
        '--acme-directory',
        'http://127.0.0.1:9/directory',
      ],
      PROD,
    );
    assert.equal(bind.code, 1, bind.stderr);
    assert.ok(!lines(bind.stderr).some((l) => l.capabilities !== undefined), bind.stderr);

    assert.ok(MY_CAPS.length > 0, 'root holds capabilities beyond CAP_NET_BIND_SERVICE');
    const dev = await startsAndStops(insecure(await freePort()));
    const warns = lines(dev.stderr).filter((l) => l.event === 'unexpected_capabilities');
    assert.equal(warns.length, 1);
    assert.equal(warns[0]?.level, 'warn');
    assert.equal(warns[0]?.capabilities, MY_CAPS.join(','));
  });

  test('an inspector is refused in production and only warned about otherwise', async () => {
    const r = await runAsNobody([], ['--domain', 'relay.example'], { ...PROD, NODE_OPTIONS: '--inspect=127.0.0.1:0' });
    assert.match(String(refusal(r).reason), /--inspect/);
    const dev = await startsAndStops(insecure(await freePort()), { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
    assert.equal(lines(dev.stderr).filter((l) => l.event === 'inspector_enabled').length, 1);
  });
});

describe('no inspector at runtime', () => {
  test('SIGUSR1 does not open an inspector', async () => {
    const child = spawnCli(insecure(await freePort()));
    await waitForStderr(child, /relay_started/);
    child.kill('SIGUSR1');
    await waitForStderr(child, /inspector_signal_ignored/);
    child.kill('SIGTERM');
    const r = await waitExit(child);
    assert.equal(r.code, 0);
    assert.ok(!/Debugger listening/.test(r.stderr), r.stderr);
  });
});

describe('--metrics-listen', () => {
  test('non-loopback, named, wildcard, port-less and port-0 addresses exit 2 naming the flag', async () => {
    const bad = [
      'localhost:9090',
      '0.0.0.0:9090',
      ':9090',
      '127.0.0.1:0',
      '127.0.0.1',
      '[::1]:0',
      '10.0.0.1:9090',
      '[::]:9090',
      '127.0.0.1:65536',
    ];
    const results = await Promise.all(bad.map((v) => runCli([...insecure(), '--metrics-listen', v])));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, bad[i]);
      assert.ok(r.stderr.includes('--metrics-listen'), r.stderr);
    });
  });

  test('a loopback literal serves /metrics; "" disables it', async () => {
    for (const host of ['127.0.0.1', '[::1]']) {
      const mport = await freePort();
      const child = spawnCli([...insecure(await freePort()), '--metrics-listen', `${host}:${mport}`]);
      await waitForStderr(child, /metrics_listening/);
      const body = await new Promise<string>((resolve, reject) => {
        import('node:http')
          .then(({ get }) => {
            get({ host: host.replace(/[[\]]/g, ''), port: mport, path: '/metrics' }, (res) => {
              let b = '';
              res.on('data', (d: Buffer) => (b += d.toString()));
              res.on('end', () => resolve(b));
            }).on('error', reject);
          })
          .catch(reject);
      });
      assert.match(body, /^pyrycode_relay_connected_binaries 0$/m);
      child.kill('SIGTERM');
      assert.equal((await waitExit(child)).code, 0);
    }
    const off = await startsAndStops([...insecure(await freePort()), '--metrics-listen=']);
    assert.ok(!off.stderr.includes('metrics_listening'));
  });

  test('the same port as the public listener exits 2; a taken metrics port exits 1', async () => {
    const port = await freePort();
    const clash = refusal(await runCli([...insecure(port), '--metrics-listen', `127.0.0.1:${port}`]));
    assert.equal(clash.flag, 'metrics-listen');

    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as { port: number }).port;
    const r = await runCli([...insecure(await freePort()), '--metrics-listen', `127.0.0.1:${taken}`]);
    squatter.close();
    assert.equal(r.code, 1, r.stderr);
    assert.ok(lines(r.stderr).some((l) => l.event === 'listen_failed'));
    // And nothing was left listening on the public port: the process is gone.
    assert.equal((await httpRequest(taken, '/metrics').catch(() => ({ status: -1 }))).status, -1);
  });
});

describe('cluster settings (cluster.md §1)', () => {
  const PW = 'pw-LEAKMARKER-7f3a';

  test('an empty or malformed PYRYCODE_RELAY_REDIS_URL exits 2 naming the variable and the rule, never the value', async () => {
    const bad = [
      '',
      `redis://:${PW}@`,
      `redis://user${PW}@h`,
      `http://:${PW}@h`,
      `redis://:${PW}@h:99999`,
      `redis://:${PW}@h/x`,
      `redis://:${PW}@h?tls=1`,
    ];
    const results = await Promise.all(bad.map((v) => runCli([...insecure(), '--log-level=debug'], { PYRYCODE_RELAY_REDIS_URL: v })));
    results.forEach((r, i) => {
      const line = refusal(r);
      assert.equal(line.env_var, 'PYRYCODE_RELAY_REDIS_URL', bad[i]);
      assert.match(String(line.reason), /^PYRYCODE_RELAY_REDIS_URL must (not be empty|be redis:\/\/\[\[user\]:password@\]host)/);
      assert.ok(!(r.stdout + r.stderr).includes('LEAKMARKER'), r.stderr);
    });
  });

  test('a bad cluster flag is a usage error (exit 2) in either mode', async () => {
    const cases: Array<[string[], string]> = [
      [['--cluster-prefix', 'a b'], '--cluster-prefix'],
      [['--node-id', 'a:b'], '--node-id'],
      [['--cluster-node-ttl', '1s'], '--cluster-node-ttl'],
    ];
    const runs = await Promise.all(
      cases.flatMap(([args]) => [
        runCli([...insecure(), ...args]),
        runCli([...insecure(), ...args], { PYRYCODE_RELAY_REDIS_URL: 'redis://127.0.0.1:1' }),
      ]),
    );
    runs.forEach((r, i) => {
      const flag = cases[Math.floor(i / 2)]?.[1] ?? '';
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.startsWith(`pyrycode-relay: invalid value`) && r.stderr.includes(flag), r.stderr);
      assert.ok(r.stderr.includes('Cluster:'), 'usage follows');
    });
  });

  test('an unusable FLY_MACHINE_ID default exits 2 in cluster mode only', async () => {
    const [cluster, single] = await Promise.all([
      runCli(insecure(), { PYRYCODE_RELAY_REDIS_URL: 'redis://127.0.0.1:1', FLY_MACHINE_ID: 'not valid' }),
      startsAndStops(insecure(await freePort()), { FLY_MACHINE_ID: 'not valid' }),
    ]);
    assert.equal(refusal(cluster).env_var, 'FLY_MACHINE_ID');
    assert.equal(single.code, 0);
  });

  test('with the variable set, FLY_APP_NAME no longer refuses: the password appears in no output', async () => {
    const redis = await RedisServer.start();
    try {
      // Set after start: the helper's readiness PING carries no password.
      assert.match(await redis.command('CONFIG', 'SET', 'requirepass', PW), /^\+OK/);
      const url = `redis://:${encodeURIComponent(PW)}@127.0.0.1:${redis.port}/0`;
      const r = await startsAndStops([...insecure(await freePort()), '--log-level=debug', '--cluster-node-ttl=5s', '--node-id=boot-test'], {
        FLY_APP_NAME: 'pyrycode-relay',
        PYRYCODE_RELAY_REDIS_URL: url,
      });
      assert.ok(!lines(r.stderr).some((l) => l.event === 'boot_refused'), r.stderr);
      assert.ok(!(r.stdout + r.stderr).includes('LEAKMARKER'), r.stderr);
    } finally {
      await redis.stop();
    }
  });
});
