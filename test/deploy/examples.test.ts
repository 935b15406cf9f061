// The deployment examples in deploy/ that cannot run here (systemd, Fly.io) are
// checked for what can go wrong: the relay flags they pass must parse into the
// intended config, ports and paths must line up, and the hardening must be there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBootChecks, type BootFacts } from '../../src/ops/boot-checks.js';
import { parseCommandLine, type RelayConfig } from '../../src/ops/config.js';
import { findBinary, ROOT } from '../helpers/deploy.js';

const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

function relayConfig(args: string[]): RelayConfig {
  const out = parseCommandLine(args, { homedir: '/var/lib/pyrycode-relay' });
  assert.equal(out.kind, 'run');
  return (out as { config: RelayConfig }).config;
}

describe('deploy/pyrycode-relay.service', () => {
  const FILE = 'deploy/pyrycode-relay.service';
  const unit = read(FILE);
  // key → every value (keys may repeat), continuation lines joined.
  const settings = new Map<string, string[]>();
  for (const line of unit.replace(/\\\n\s*/g, ' ').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m !== null) settings.set(m[1] ?? '', [...(settings.get(m[1] ?? '') ?? []), (m[2] ?? '').trim()]);
  }
  const one = (key: string): string => {
    const v = settings.get(key);
    assert.ok(v !== undefined && v.length === 1, `${key}= appears once`);
    return v[0] ?? '';
  };

  test('ExecStart runs the relay with flags that parse, in production mode', () => {
    const [node, ...rest] = one('ExecStart').split(/\s+/);
    // V8 tuning flags may precede the script (docs/performance.md).
    while (rest[0]?.startsWith('--max-semi-space-size=')) rest.shift();
    const [script, ...args] = rest;
    assert.match(node ?? '', /^\/.*\/node$/);
    assert.match(script ?? '', /\/dist\/src\/cli\/main\.js$/);
    const config = relayConfig(args);
    assert.ok(config.domain !== undefined, 'runs with --domain');
    assert.ok(
      one('ReadWritePaths')
        .split(/\s+/)
        .some((p) => config.certCache.startsWith(p + '/')),
      'the cert cache is writable',
    );
    assert.equal(one('StateDirectory'), 'pyrycode-relay');
    assert.ok(config.certCache.startsWith('/var/lib/pyrycode-relay/'), 'the cache lives in the StateDirectory');
    assert.ok(settings.get('Environment')?.includes('PYRYCODE_RELAY_PRODUCTION=1'));
    const stop = Number(/^(\d+)s$/.exec(one('TimeoutStopSec'))?.[1]);
    assert.ok(stop * 1000 > config.drainTimeoutMs + config.drainSpreadMs, 'systemd waits longer than the drain');
    assert.equal(one('KillSignal'), 'SIGTERM');
    assert.equal(one('RestartPreventExitStatus'), '2');
  });

  test('is hardened', () => {
    const want: Record<string, string> = {
      NoNewPrivileges: 'yes',
      AmbientCapabilities: 'CAP_NET_BIND_SERVICE',
      CapabilityBoundingSet: 'CAP_NET_BIND_SERVICE',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictSUIDSGID: 'yes',
      RestrictNamespaces: 'yes',
      LockPersonality: 'yes',
      UMask: '0077',
      StateDirectoryMode: '0700',
    };
    for (const [k, v] of Object.entries(want)) assert.equal(one(k), v, k);
    assert.notEqual(one('User'), 'root');
    // V8's JIT needs W+X pages: this setting would crash the relay.
    assert.ok(!settings.has('MemoryDenyWriteExecute'));
  });

  test('systemd-analyze verify accepts it', () => {
    const bin = findBinary('systemd-analyze', 'apt-get install -y systemd');
    const r = spawnSync(bin, ['verify', '--man=no', join(ROOT, FILE)], { encoding: 'utf8' });
    const complaints = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('pyrycode-relay.service'));
    assert.deepEqual(complaints, []);
  });
});

describe('deploy/fly.toml', () => {
  const toml = read('deploy/fly.toml');
  // A minimal reading: the [[services]] tables in order, as text.
  const services = toml.split(/^\[\[services\]\]$/m).slice(1);
  const internal = (s: string): number => Number(/^\s*internal_port = (\d+)$/m.exec(s)?.[1]);

  test('passes the relay the Fly flags, which parse', () => {
    const cmd = /^\s*app = "([^"]+)"$/m.exec(toml.split('[processes]')[1] ?? '')?.[1];
    assert.ok(cmd !== undefined, '[processes] app = "…"');
    const config = relayConfig(cmd.split(/\s+/));
    assert.ok(config.domain !== undefined);
    assert.equal(config.httpsListen.port, 8443);
    assert.equal(config.httpListen.port, 8080);
    assert.equal(config.httpsProxyProtocol, true);
    assert.ok(config.given.has('https-proxy-protocol'));
  });

  test('443 is TCP passthrough with PROXY protocol v2 to 8443; 80 is raw TCP to 8080', () => {
    const tls = services.find((s) => internal(s) === 8443);
    const http = services.find((s) => internal(s) === 8080);
    assert.ok(tls !== undefined && http !== undefined);
    assert.match(tls, /^\s*protocol = "tcp"$/m);
    assert.match(tls, /^\s*port = 443$/m);
    assert.match(tls, /^\s*handlers = \["proxy_proto"\]$/m);
    assert.match(tls, /^\s*proxy_proto_options = \{ version = "v2" \}$/m);
    assert.doesNotMatch(tls, /"tls"|"http"/, 'Fly must not terminate TLS or HTTP');
    assert.match(http, /^\s*protocol = "tcp"$/m);
    assert.match(http, /^\s*port = 80$/m);
    assert.doesNotMatch(http, /handlers/, 'no PROXY header on the HTTP-01 port');
  });

  test('keeps one machine, drains before the kill, and mounts the image volume', () => {
    assert.match(toml, /^\s*PYRYCODE_RELAY_PRODUCTION = "1"$/m);
    assert.match(toml, /^\s*PYRYCODE_RELAY_SINGLE_INSTANCE = "1"$/m);
    assert.match(toml, /^kill_timeout = "(\d+)s"$/m);
    assert.ok(Number(/^kill_timeout = "(\d+)s"$/m.exec(toml)?.[1]) > 10, 'longer than the default --drain-timeout');
    const dest = /^\s*destination = "([^"]+)"$/m.exec(toml)?.[1];
    assert.match(read('Dockerfile'), new RegExp(`^VOLUME ${dest}$`, 'm'), 'the mount is the image volume');
  });
});

describe('deploy/fly-cluster.toml', () => {
  const toml = read('deploy/fly-cluster.toml');
  const services = toml.split(/^\[\[services\]\]$/m).slice(1);
  const cmd = /^\s*app = "([^"]+)"$/m.exec(toml.split('[processes]')[1] ?? '')?.[1] ?? '';

  test('its flags parse into a plain listener on the service port, trusting X-Forwarded-For', () => {
    const config = relayConfig(cmd.split(/\s+/));
    assert.equal(config.domain, undefined);
    assert.equal(config.insecureListen?.port, 8080);
    assert.equal(config.trustXForwardedFor, true);
    assert.equal(services.length, 1);
    assert.match(services[0] ?? '', /^\s*internal_port = 8080$/m);
  });

  test('Fly terminates TLS on 443 and checks /healthz (a fenced node answers 503)', () => {
    const s = services[0] ?? '';
    assert.match(s, /port = 443\s+handlers = \["tls", "http"\]/);
    assert.match(s, /^\s*path = "\/healthz"$/m);
    assert.ok(Number(/^\s*min_machines_running = (\d+)$/m.exec(s)?.[1]) >= 2);
  });

  test('on Fly with the Redis secret the boot checks pass and the node id is FLY_MACHINE_ID', () => {
    assert.doesNotMatch(
      toml,
      /^\s*PYRYCODE_RELAY_(PRODUCTION|SINGLE_INSTANCE|REDIS_URL) =/m,
      'no production mode, no bypass, no secret in the file',
    );
    const facts = (env: Record<string, string>): BootFacts => ({
      env,
      platform: 'linux',
      euid: 65532,
      procSelfStatus: undefined,
      execArgv: [],
      inspectorUrl: undefined,
      hostname: 'abc',
      randomHex: '0a0b0c',
    });
    const config = relayConfig(cmd.split(/\s+/));
    const fly = { FLY_APP_NAME: 'pyrycode-relay', FLY_MACHINE_ID: '3d8d9e1f2a4b68' };
    const verdict = runBootChecks(config, facts({ ...fly, PYRYCODE_RELAY_REDIS_URL: 'redis://relay:pw@my-redis.internal:6379' }));
    assert.ok(verdict.ok, JSON.stringify(verdict));
    assert.equal(verdict.cluster?.nodeId, fly.FLY_MACHINE_ID);
    // Without the secret several machines would be several registries: refused.
    assert.equal(runBootChecks(config, facts(fly)).ok, false);
  });

  test('drains before the kill', () => {
    assert.equal(/^kill_signal = "(\w+)"$/m.exec(toml)?.[1], 'SIGTERM');
    assert.ok(Number(/^kill_timeout = "(\d+)s"$/m.exec(toml)?.[1]) > 10);
  });
});

describe('documented relay command lines', () => {
  test('every `pyrycode-relay …` command in the docs and examples parses', () => {
    const files = [
      'docs/deploy/README.md',
      'docs/deploy/nginx.md',
      'docs/deploy/caddy.md',
      'docs/deploy/direct.md',
      'docs/deploy/docker.md',
      'deploy/nginx.conf',
      'deploy/Caddyfile',
      'docs/cluster.md',
      'deploy/nginx-cluster.conf',
      'deploy/haproxy-cluster.cfg',
    ];
    let checked = 0;
    for (const f of files) {
      const text = read(f).replace(/\\\n\s*/g, ' ');
      for (const m of text.matchAll(/pyrycode-relay (--(?:domain|insecure-listen)[^`\n|]*)/g)) {
        const args = (m[1] ?? '').trim().split(/\s+/);
        assert.doesNotThrow(() => relayConfig(args), `${f}: pyrycode-relay ${args.join(' ')}`);
        checked++;
      }
    }
    assert.ok(checked >= 9, `${checked} command lines checked`);
  });
});

describe('README quick start', () => {
  test('`npm start` builds and runs the relay on the address the README curls', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };
    const m = /^npm run build --silent && node (?:--max-semi-space-size=\d+ )?(\S+) (.+)$/.exec(pkg.scripts.start ?? '');
    assert.ok(m !== null, pkg.scripts.start);
    assert.equal(m[1], pkg.bin['pyrycode-relay'], 'starts the installed command');
    const config = relayConfig((m[2] ?? '').split(/\s+/));
    const addr = config.insecureListen;
    assert.ok(addr !== undefined);
    assert.ok(read('README.md').includes(`curl localhost:${addr.port}/healthz`));
  });

  test('`npm run cluster:local` is next to `npm start` and builds before it runs the script', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    // exec: npm's SIGTERM must reach the script (sh would die and orphan it), which stops its children.
    assert.equal(pkg.scripts['cluster:local'], 'npm run build --silent && exec node scripts/cluster-local.mjs');
    const quick = read('README.md').split('## Quick start')[1]?.split('\n## ')[0] ?? '';
    assert.match(quick, /^npm install && npm start .*\nnpm run cluster:local .*\nnpm test /m);
  });
});
