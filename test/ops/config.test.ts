// Command-line parsing and validation (operations.md §1), table-driven over the flag table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLAGS,
  UsageError,
  defaultConfig,
  parseCommandLine,
  parseGoInt,
  type ParseOutcome,
  type RelayConfig,
} from '../../src/ops/config.js';

const HOME = '/home/relay';
const INSECURE = ['--insecure-listen', ':8080'];
const ACME = ['--domain', 'relay.example.com'];
// Flags that only make sense with --domain, so their tests run in ACME mode.
const ACME_ONLY = new Set(['https-listen', 'http-listen', 'https-proxy-protocol']);

function parse(argv: readonly string[], homedir = HOME): ParseOutcome {
  return parseCommandLine(argv, { homedir });
}

function run(argv: readonly string[], homedir = HOME): RelayConfig {
  const out = parse(argv, homedir);
  assert.equal(out.kind, 'run');
  return out.config;
}

function usageError(argv: readonly string[], flag: string | undefined, pattern?: RegExp, homedir = HOME): UsageError {
  let caught: unknown;
  try {
    parse(argv, homedir);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof UsageError, `expected UsageError for ${JSON.stringify(argv)}, got ${String(caught)}`);
  assert.equal(caught.flag, flag, `flag for ${JSON.stringify(argv)}: ${caught.message}`);
  if (flag !== undefined) assert.match(caught.message, new RegExp(`-${flag}\\b`), 'message names the flag');
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

/** Asserts a UsageError naming `flag` (undefined = no flag) and matching `pattern`. */
function usage(argv: readonly string[], flag: string | undefined, pattern?: RegExp, homedir = HOME): void {
  usageError(argv, flag, pattern, homedir);
}

const def = (name: string) => {
  const d = FLAGS.find((f) => f.name === name);
  assert.ok(d, name);
  return d;
};

// ---------------------------------------------------------------------------------------
// Defaults

const DEFAULTS: Omit<RelayConfig, 'given'> = {
  domain: undefined,
  insecureListen: undefined,
  httpsListen: { host: undefined, port: 443, text: ':443' },
  httpListen: { host: undefined, port: 80, text: ':80' },
  certCache: '/home/relay/.pyrycode-relay/certs',
  tlsCert: undefined,
  tlsKey: undefined,
  metricsListen: { host: '127.0.0.1', port: 9090, text: '127.0.0.1:9090' },
  trustXForwardedFor: false,
  httpsProxyProtocol: false,
  maxConnections: 10000,
  gracePeriodMs: 30_000,
  heartbeatIntervalMs: 30_000,
  heartbeatTimeoutMs: 30_000,
  conflictProbeTimeoutMs: 10_000,
  writeTimeoutMs: 10_000,
  readMessageTimeoutMs: 30_000,
  headerTimeoutMs: 5_000,
  drainTimeoutMs: 10_000,
  drainSpreadMs: 0,
  maxPhonesPerServer: 16,
  maxMessageBytes: 262144,
  phoneOutboxBytes: 4194304,
  maxBufferedBytes: 268435456,
  maxConnectionsPerIp: 100,
  rateLimitBurst: 20,
  rateLimitRefillMs: 6_000,
  logLevel: 'info',
  acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory',
  fcmProject: 'pyrycode-mobile',
  clusterPrefix: 'pyrycode-relay',
  nodeId: undefined,
  clusterNodeTtlMs: 30_000,
  cluster: undefined, // filled by the boot checks, not by flags (test/ops/config/cluster.test.ts)
};

test('defaultConfig has every default from the spec table', () => {
  const { given, ...rest } = defaultConfig(HOME);
  assert.deepEqual(rest, DEFAULTS);
  assert.equal(given.size, 0);
});

test('every table flag (but --version) fills a config field that has a default here', () => {
  const keys = FLAGS.map((f) => f.key).filter((k) => k !== undefined);
  assert.deepEqual(
    [...keys].sort(),
    Object.keys(DEFAULTS)
      .filter((k) => k !== 'cluster')
      .sort(),
  );
  assert.equal(new Set(FLAGS.map((f) => f.name)).size, FLAGS.length, 'flag names are unique');
});

test('a minimal command line gets every default', async (t) => {
  await t.test('insecure mode', () => {
    const { given, ...rest } = run(INSECURE);
    assert.deepEqual(rest, { ...DEFAULTS, insecureListen: { host: undefined, port: 8080, text: ':8080' } });
    assert.deepEqual([...given], ['insecure-listen']);
  });
  await t.test('ACME mode', () => {
    const { given, ...rest } = run(ACME);
    assert.deepEqual(rest, { ...DEFAULTS, domain: 'relay.example.com' });
    assert.deepEqual([...given], ['domain']);
  });
});

test('every default, given explicitly, yields the same config', async (t) => {
  for (const d of FLAGS) {
    if (d.default === undefined || d.name === 'version') continue;
    await t.test(d.name, () => {
      const base = ACME_ONLY.has(d.name) ? ACME : INSECURE;
      const { given, ...rest } = run([...base, `--${d.name}=${d.default}`]);
      const { given: _g, ...expected } = run(base);
      assert.deepEqual(rest, expected);
      assert.ok(given.has(d.name));
    });
  }
});

// ---------------------------------------------------------------------------------------
// Flag syntax

test('--name value, --name=value, -name value and -name=value are equivalent', async (t) => {
  const samples: [string, string, keyof RelayConfig, unknown][] = [
    ['max-connections', '42', 'maxConnections', 42],
    ['grace-period', '1m30s', 'gracePeriodMs', 90_000],
    ['log-level', 'debug', 'logLevel', 'debug'],
    ['metrics-listen', '[::1]:9100', 'metricsListen', { host: '::1', port: 9100, text: '[::1]:9100' }],
    ['fcm-project', 'other-project', 'fcmProject', 'other-project'],
    ['https-listen', ':8443', 'httpsListen', { host: undefined, port: 8443, text: ':8443' }],
  ];
  for (const [name, value, key, expected] of samples) {
    for (const form of [[`--${name}`, value], [`--${name}=${value}`], [`-${name}`, value], [`-${name}=${value}`]]) {
      await t.test(form.join(' '), () => {
        const cfg = run([...(ACME_ONLY.has(name) ? ACME : INSECURE), ...form]);
        assert.deepEqual(cfg[key], expected);
        assert.ok(cfg.given.has(name));
      });
    }
  }
  await t.test('single-dash mode flags', () => {
    assert.equal(run(['-domain=relay.example.com']).domain, 'relay.example.com');
    assert.equal(run(['-insecure-listen', '127.0.0.1:8080']).insecureListen?.host, '127.0.0.1');
  });
  await t.test('value may contain "="', () => {
    assert.equal(run([...INSECURE, '--acme-directory=https://ca.example/dir?a=b']).acmeDirectory, 'https://ca.example/dir?a=b');
  });
});

test('boolean flags', async (t) => {
  const truthy = ['1', 't', 'T', 'TRUE', 'true', 'True'];
  const falsy = ['0', 'f', 'F', 'FALSE', 'false', 'False'];
  for (const name of ['trust-x-forwarded-for', 'https-proxy-protocol']) {
    const key = name === 'trust-x-forwarded-for' ? 'trustXForwardedFor' : 'httpsProxyProtocol';
    const base = ACME_ONLY.has(name) ? ACME : INSECURE;
    for (const dash of ['--', '-']) {
      await t.test(`${dash}${name} alone is true`, () => assert.equal(run([...base, `${dash}${name}`])[key], true));
    }
    for (const v of truthy) {
      await t.test(`${name}=${v}`, () => assert.equal(run([...base, `--${name}=${v}`])[key], true));
    }
    for (const v of falsy) {
      await t.test(`${name}=${v}`, () => {
        const cfg = run([...base, `--${name}=${v}`]);
        assert.equal(cfg[key], false);
        assert.ok(cfg.given.has(name), 'given even when false');
      });
    }
    for (const v of ['', 'yes', 'no', 'on', 'off', 'tRUE', 'truE', '2', ' true', 'true ', '00']) {
      await t.test(`${name}=${JSON.stringify(v)} is rejected`, () => usage([...base, `--${name}=${v}`], name, /boolean/));
    }
    await t.test(`${name} never consumes the next argument`, () => {
      usage([...base, `--${name}`, 'false'], undefined, /unexpected argument "false"/);
      const cfg = run([`--${name}`, ...base]);
      assert.equal(cfg[key], true);
    });
  }
  await t.test('last occurrence wins', () => {
    assert.equal(run([...INSECURE, '--trust-x-forwarded-for', '--trust-x-forwarded-for=false']).trustXForwardedFor, false);
    assert.equal(run([...INSECURE, '--trust-x-forwarded-for=0', '-trust-x-forwarded-for']).trustXForwardedFor, true);
  });
});

test('a non-boolean flag takes the next argument whatever it looks like (Go semantics)', () => {
  // "--insecure-listen" becomes the domain, which is then not a valid domain name.
  usage(['--domain', '--insecure-listen'], 'domain', /domain name/);
  usage(['--domain', '--insecure-listen', ':8080'], undefined, /unexpected argument ":8080"/);
  usage(['--insecure-listen', '--domain'], 'insecure-listen');
  assert.equal(run([...INSECURE, '--log-level', '--', '--log-level', 'warn']).logLevel, 'warn');
  usage([...INSECURE, '--log-level', '--'], 'log-level', /"--"/);
  usage(['--domain', '-h'], 'domain');
});

test('a flag given twice: the last one wins', () => {
  const cfg = run(['--insecure-listen', ':1', '--max-connections', '5', '--insecure-listen=:2', '--max-connections=7']);
  assert.equal(cfg.insecureListen?.port, 2);
  assert.equal(cfg.maxConnections, 7);
  assert.equal(run([...INSECURE, '--metrics-listen=127.0.0.1:1', '--metrics-listen=']).metricsListen, undefined);
  assert.equal(run([...INSECURE, '--metrics-listen=', '--metrics-listen=127.0.0.1:1']).metricsListen?.port, 1);
  // Go checks each value as it is set, so an earlier malformed value is still an error.
  usage([...INSECURE, '--max-connections=abc', '--max-connections=5'], 'max-connections');
  // ... but range checks only look at the final value.
  assert.equal(run([...INSECURE, '--max-connections=0', '--max-connections=5']).maxConnections, 5);
});

test('"--" ends the flags', async (t) => {
  await t.test('trailing -- is fine', () => assert.equal(run([...INSECURE, '--']).insecureListen?.port, 8080));
  await t.test('an argument after -- is a positional argument', () =>
    usage([...INSECURE, '--', 'foo'], undefined, /unexpected argument "foo"/),
  );
  await t.test('flags after -- are not flags', () => usage(['--', ...INSECURE], undefined, /unexpected argument "--insecure-listen"/));
  await t.test('-h after -- is not help', () => usage([...INSECURE, '--', '-h'], undefined, /unexpected argument "-h"/));
  await t.test('-- alone still needs a mode', () => usage(['--'], 'domain', /exactly one/));
});

test('positional arguments are rejected', async (t) => {
  const cases: string[][] = [
    ['foo'],
    ['run', ...INSECURE],
    [...INSECURE, 'foo'],
    [...INSECURE, '-'],
    [...INSECURE, ''],
    [...INSECURE, 'probe'], // probe only counts as the very first argument
    ['', ...INSECURE],
  ];
  for (const argv of cases) {
    await t.test(JSON.stringify(argv), () => usage(argv, undefined, /unexpected argument/));
  }
});

test('unknown flags and bad flag syntax', async (t) => {
  const cases: [string[], string | undefined, RegExp][] = [
    [['--bogus'], 'bogus', /not defined: --bogus/],
    [['-bogus=1'], 'bogus', /not defined/],
    [[...INSECURE, '--Domain=x'], 'Domain', /not defined/],
    [[...INSECURE, '--insecure_listen=:1'], 'insecure_listen', /not defined/],
    [[...INSECURE, '--inspect'], 'inspect', /not defined/],
    [[...INSECURE, '--help-me'], 'help-me', /not defined/],
    [['---domain=x'], undefined, /bad flag syntax/],
    [['-=x'], undefined, /bad flag syntax/],
    [['--=x'], undefined, /bad flag syntax/],
    [['---'], undefined, /bad flag syntax/],
  ];
  for (const [argv, flag, re] of cases) {
    await t.test(JSON.stringify(argv), () => usage(argv, flag, re));
  }
});

test('a value-taking flag at the end is missing its value', async (t) => {
  for (const d of FLAGS) {
    if (d.type === 'bool') continue;
    const base = d.name === 'insecure-listen' || d.name === 'domain' ? [] : INSECURE;
    await t.test(d.name, () => usage([...base, `--${d.name}`], d.name, /needs an argument/));
    await t.test(`-${d.name}`, () => usage([...base, `-${d.name}`], d.name, /needs an argument/));
  }
});

// ---------------------------------------------------------------------------------------
// Outcomes: help, version, probe

test('help', async (t) => {
  for (const argv of [
    ['-h'],
    ['--help'],
    ['-help'],
    ['--h'],
    ['--help=false'],
    [...INSECURE, '-h'],
    ['-h', '--bogus'],
    ['--max-connections=0', '-h'],
    ['-h', '--version'],
  ]) {
    await t.test(JSON.stringify(argv), () => assert.deepEqual(parse(argv), { kind: 'help' }));
  }
  await t.test('errors before -h still win (Go parses left to right)', () => usage(['--bogus', '-h'], 'bogus'));
});

test('version', async (t) => {
  const cases: string[][] = [
    ['--version'],
    ['-version'],
    ['--version=true'],
    ['--version', '--version=false', '--version=1'],
    ['--version', ...INSECURE, ...ACME], // wins over mode checks
    ['--version', '--max-connections=0'], // and over range checks
    ['--version', '--metrics-listen=0.0.0.0:9090'],
    ['--insecure-listen=:8080', '--https-listen=:1', '--version'],
  ];
  for (const argv of cases) {
    await t.test(JSON.stringify(argv), () => assert.deepEqual(parse(argv), { kind: 'version' }));
  }
  await t.test('--version=false runs normally', () => {
    const cfg = run(['--version=false', ...INSECURE]);
    assert.ok(cfg.given.has('version'));
    usage(['--version=false'], 'domain', /exactly one/);
  });
  await t.test('flag syntax errors beat --version', () => {
    usage(['--version', '--bogus'], 'bogus');
    usage(['--version', '--max-connections=abc'], 'max-connections');
    usage(['--version', '--grace-period=10'], 'grace-period');
    usage(['--version=maybe'], 'version', /boolean/);
    usage(['--version', 'extra'], undefined, /unexpected argument/);
  });
});

test('probe routes the rest of the arguments', async (t) => {
  const cases: [string[], string[]][] = [
    [['probe'], []],
    [
      ['probe', '--url', 'http://127.0.0.1:8080/healthz'],
      ['--url', 'http://127.0.0.1:8080/healthz'],
    ],
    [
      ['probe', '--bogus', '-h', 'x'],
      ['--bogus', '-h', 'x'],
    ],
    [['probe', '--'], ['--']],
  ];
  for (const [argv, args] of cases) {
    await t.test(JSON.stringify(argv), () => assert.deepEqual(parse(argv), { kind: 'probe', args }));
  }
  await t.test('not after a flag', () => usage([...INSECURE, 'probe'], undefined, /unexpected argument "probe"/));
  await t.test('case-sensitive', () => usage(['Probe'], undefined, /unexpected argument/));
});

// ---------------------------------------------------------------------------------------
// Mode: --domain xor --insecure-listen

test('exactly one of --domain / --insecure-listen', async (t) => {
  await t.test('neither', () => usage([], 'domain', /exactly one of --domain, --tls-cert\/--tls-key or --insecure-listen/));
  await t.test('neither, with other flags', () => usage(['--max-connections=5'], 'domain', /exactly one/));
  await t.test('both', () => usage([...ACME, ...INSECURE], 'insecure-listen', /mutually exclusive/));
  await t.test('both, other order', () => usage([...INSECURE, ...ACME], 'insecure-listen', /mutually exclusive/));
  await t.test('ACME mode', () => assert.equal(run(ACME).insecureListen, undefined));
  await t.test('insecure mode', () => assert.equal(run(INSECURE).domain, undefined));
});

test('--insecure-listen excludes explicitly given ACME-only flags', async (t) => {
  const cases: [string, string[]][] = [
    ['https-listen', ['--https-listen=:443']], // even the default value
    ['https-listen', ['--https-listen', ':8443']],
    ['http-listen', ['--http-listen=:80']],
    ['http-listen', ['-http-listen=:8080']],
    ['https-proxy-protocol', ['--https-proxy-protocol']],
    ['https-proxy-protocol', ['--https-proxy-protocol=false']], // even =false
    ['https-proxy-protocol', ['-https-proxy-protocol=0']],
  ];
  for (const [flag, extra] of cases) {
    await t.test(extra.join(' '), () => usage([...INSECURE, ...extra], flag, /cannot be combined with --insecure-listen/));
    await t.test(`${extra.join(' ')} before --insecure-listen`, () => usage([...extra, ...INSECURE], flag));
  }
  await t.test('all are fine with --domain', () => {
    const cfg = run([...ACME, '--https-listen=:8443', '--http-listen=:8080', '--https-proxy-protocol']);
    assert.equal(cfg.httpsListen.port, 8443);
    assert.equal(cfg.httpListen.port, 8080);
    assert.equal(cfg.httpsProxyProtocol, true);
  });
  await t.test('Fly.io example from the spec', () => {
    const cfg = run([...ACME, '--http-listen=:8080', '--https-listen=:8443', '--https-proxy-protocol']);
    assert.deepEqual([...cfg.given].sort(), ['domain', 'http-listen', 'https-listen', 'https-proxy-protocol']);
  });
});

test('certificate-file mode: --tls-cert and --tls-key', async (t) => {
  const FILES = ['--tls-cert', '/etc/relay/chain.pem', '--tls-key', '/etc/relay/key.pem'];
  await t.test('both give the mode, on --https-listen', () => {
    const cfg = run([...FILES, '--https-listen=:8443', '--https-proxy-protocol']);
    assert.deepEqual(
      [cfg.tlsCert, cfg.tlsKey, cfg.domain, cfg.insecureListen],
      ['/etc/relay/chain.pem', '/etc/relay/key.pem', undefined, undefined],
    );
    assert.equal(cfg.httpsListen.port, 8443);
    assert.equal(cfg.httpsProxyProtocol, true);
  });
  await t.test('a leading ~/ is the home directory', () => {
    const cfg = run(['--tls-cert=~/c.pem', '--tls-key=~/k.pem']);
    assert.deepEqual([cfg.tlsCert, cfg.tlsKey], [`${HOME}/c.pem`, `${HOME}/k.pem`]);
  });
  await t.test('one without the other', () => {
    usage(['--tls-cert', '/c.pem'], 'tls-key', /--tls-cert and --tls-key go together/);
    usage(['--tls-key', '/k.pem'], 'tls-cert', /go together/);
    usage(['--tls-key', '/k.pem', ...INSECURE], 'tls-cert', /go together/);
  });
  await t.test('empty paths', () => usage(['--tls-cert=', '--tls-key=/k.pem'], 'tls-cert', /must not be empty/));
  await t.test('with --domain', () => usage([...FILES, ...ACME], 'domain', /mutually exclusive/));
  await t.test('with --insecure-listen', () => usage([...INSECURE, ...FILES], 'insecure-listen', /mutually exclusive/));
  await t.test('with --http-listen (no ACME challenges to answer)', () =>
    usage([...FILES, '--http-listen=:80'], 'http-listen', /only applies with --domain/),
  );
});

// ---------------------------------------------------------------------------------------
// Listen addresses

const GOOD_ADDRESSES: [string, string | undefined, number][] = [
  [':8080', undefined, 8080],
  [':1', undefined, 1],
  [':65535', undefined, 65535],
  [':08080', undefined, 8080],
  ['127.0.0.1:8080', '127.0.0.1', 8080],
  ['0.0.0.0:80', '0.0.0.0', 80],
  ['10.1.2.3:443', '10.1.2.3', 443],
  ['[::1]:8080', '::1', 8080],
  ['[::]:443', '::', 443],
  ['[2001:db8::1]:8443', '2001:db8::1', 8443],
  ['localhost:8080', 'localhost', 8080],
  ['relay.internal:8080', 'relay.internal', 8080],
];

const BAD_ADDRESSES = [
  '',
  '8080',
  'localhost',
  ':',
  ':0',
  '127.0.0.1:0',
  '[::1]:0',
  ':65536',
  ':99999',
  ':123456',
  ':-1',
  ':+80',
  ':http',
  ':80 ',
  ' :80',
  ':8_080',
  ':0x50',
  '::1:8080', // IPv6 needs brackets
  '[::1]8080',
  '[::1]',
  '[::1',
  '[]:80',
  '[127.0.0.1]:80',
  '[localhost]:80',
  '1.2.3.999:80',
  '1.2.3:80',
  '01.2.3.4:80',
  'a b:80',
  'host_name:80',
  '-host:80',
  'http://x:80',
];

test('listen addresses', async (t) => {
  for (const name of ['insecure-listen', 'https-listen', 'http-listen']) {
    const key = name === 'insecure-listen' ? 'insecureListen' : name === 'https-listen' ? 'httpsListen' : 'httpListen';
    const base = name === 'insecure-listen' ? [] : ACME;
    for (const [text, host, port] of GOOD_ADDRESSES) {
      await t.test(`--${name}=${text}`, () => assert.deepEqual(run([...base, `--${name}=${text}`])[key], { host, port, text }));
    }
    for (const text of BAD_ADDRESSES) {
      await t.test(`--${name}=${JSON.stringify(text)} is rejected`, () => usage([...base, `--${name}=${text}`], name));
    }
  }
});

test('--metrics-listen must be a loopback IP literal with a port', async (t) => {
  const good: [string, string, number][] = [
    ['127.0.0.1:9090', '127.0.0.1', 9090],
    ['127.1.2.3:9100', '127.1.2.3', 9100],
    ['127.255.255.255:1', '127.255.255.255', 1],
    ['127.0.0.1:65535', '127.0.0.1', 65535],
    ['[::1]:9090', '::1', 9090],
    ['[0:0:0:0:0:0:0:1]:9090', '0:0:0:0:0:0:0:1', 9090],
    ['[::ffff:127.0.0.1]:9090', '::ffff:127.0.0.1', 9090],
  ];
  for (const [text, host, port] of good) {
    await t.test(text, () => assert.deepEqual(run([...INSECURE, `--metrics-listen=${text}`]).metricsListen, { host, port, text }));
  }
  await t.test('"" disables', () => {
    assert.equal(run([...INSECURE, '--metrics-listen=']).metricsListen, undefined);
    assert.equal(run([...INSECURE, '--metrics-listen', '']).metricsListen, undefined);
    assert.equal(run([...ACME, '-metrics-listen=']).metricsListen, undefined);
  });
  const bad = [
    'localhost:9090',
    '0.0.0.0:9090',
    ':9090',
    '127.0.0.1:0',
    '[::1]:0',
    '127.0.0.1:65536',
    '127.0.0.1',
    '[::]:9090',
    '[::2]:9090',
    '[::ffff:10.0.0.1]:9090',
    '[fe80::1%lo]:9090',
    '10.0.0.1:9090',
    '192.168.1.10:9090',
    '128.0.0.1:9090',
    '127.0.0.01:9090',
    '127.1:9090',
    'relay.internal:9090',
    ' ',
    '9090',
  ];
  for (const text of bad) {
    await t.test(`${JSON.stringify(text)} is rejected`, () =>
      usage([...INSECURE, `--metrics-listen=${text}`], 'metrics-listen', /loopback/),
    );
  }
});

// ---------------------------------------------------------------------------------------
// Integers

test('parseGoInt follows strconv.ParseInt(s, 0, 64)', async (t) => {
  const good: [string, bigint][] = [
    ['0', 0n],
    ['42', 42n],
    ['+42', 42n],
    ['-42', -42n],
    ['0x10', 16n],
    ['0X1f', 31n],
    ['0o17', 15n],
    ['0O17', 15n],
    ['017', 15n], // a leading 0 means octal in Go
    ['0b101', 5n],
    ['1_000', 1000n],
    ['0x_1F', 31n],
    ['0_17', 15n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
  ];
  for (const [s, n] of good) await t.test(s, () => assert.equal(parseGoInt(s), n));
  const bad = [
    '',
    '+',
    '-',
    ' 1',
    '1 ',
    '1.0',
    '1e3',
    'abc',
    '08',
    '0x',
    '0b',
    '0b2',
    '0xg',
    '1__0',
    '_1',
    '1_',
    '0x_',
    '--1',
    '9223372036854775808',
    '١٢',
  ];
  for (const s of bad) await t.test(`${JSON.stringify(s)} is rejected`, () => assert.equal(parseGoInt(s), undefined));
});

const INT_RANGES: [string, keyof RelayConfig, number, number][] = [
  ['max-connections', 'maxConnections', 1, 1_000_000],
  ['max-connections-per-ip', 'maxConnectionsPerIp', 0, 1_000_000],
  ['rate-limit-burst', 'rateLimitBurst', 1, 1_000_000],
  ['max-phones-per-server', 'maxPhonesPerServer', 1, 100_000],
  ['max-message-bytes', 'maxMessageBytes', 1, 64 * 1024 * 1024],
  ['phone-outbox-bytes', 'phoneOutboxBytes', 1, 1024 ** 3],
  ['max-buffered-bytes', 'maxBufferedBytes', 1, 64 * 1024 ** 3],
];

test('integer flags: ranges and syntax', async (t) => {
  assert.deepEqual(
    INT_RANGES.map((r) => r[0]).sort(),
    FLAGS.filter((f) => f.type === 'int')
      .map((f) => f.name)
      .sort(),
    'every int flag is covered',
  );
  for (const [name, key, min, max] of INT_RANGES) {
    // Keep the outbox/buffered cross-check out of the way of single-flag bounds.
    const pad =
      name === 'phone-outbox-bytes'
        ? ['--max-buffered-bytes', String(64 * 1024 ** 3)]
        : name === 'max-buffered-bytes'
          ? ['--phone-outbox-bytes=1']
          : [];
    const go = (v: string) => run([...INSECURE, ...pad, `--${name}=${v}`])[key];
    await t.test(`${name} min ${min}`, () => assert.equal(go(String(min)), min));
    await t.test(`${name} max ${max}`, () => assert.equal(go(String(max)), max));
    await t.test(`${name} Go forms`, () => {
      assert.equal(go('0x10'), 16);
      assert.equal(go('1_0'), 10);
      assert.equal(go('+12'), 12);
      assert.equal(go('017'), 15);
    });
    for (const v of [String(min - 1), String(max + 1), '-1', '9223372036854775807', '-9223372036854775808']) {
      await t.test(`${name}=${v} out of range`, () =>
        usage([...INSECURE, ...pad, `--${name}=${v}`], name, new RegExp(`from ${min} to ${max}`)),
      );
    }
    for (const v of ['', 'abc', '1.5', '1e3', '10k', ' 1', '1 ', '08', '0x', '1__0', '9223372036854775808', '10s']) {
      await t.test(`${name}=${JSON.stringify(v)} malformed`, () => usage([...INSECURE, `--${name}=${v}`], name, /must be an integer/));
    }
  }
  await t.test('--max-connections <= 0 is an error (spec)', () => {
    usage([...INSECURE, '--max-connections=0'], 'max-connections');
    usage([...INSECURE, '--max-connections', '-5'], 'max-connections');
  });
  await t.test('--max-connections-per-ip=0 turns the cap off', () =>
    assert.equal(run([...INSECURE, '--max-connections-per-ip=0']).maxConnectionsPerIp, 0),
  );
});

test('--max-buffered-bytes must be >= --phone-outbox-bytes', async (t) => {
  await t.test('equal is fine', () => {
    const cfg = run([...INSECURE, '--phone-outbox-bytes=1024', '--max-buffered-bytes=1024']);
    assert.equal(cfg.maxBufferedBytes, 1024);
  });
  await t.test('smaller buffered budget', () =>
    usage([...INSECURE, '--phone-outbox-bytes=1025', '--max-buffered-bytes=1024'], 'max-buffered-bytes', /at least --phone-outbox-bytes/),
  );
  await t.test('outbox raised above the default budget', () =>
    usage([...INSECURE, '--phone-outbox-bytes=268435457'], 'phone-outbox-bytes', /at least/),
  );
  await t.test('budget lowered below the default outbox', () =>
    usage([...INSECURE, '--max-buffered-bytes=4194303'], 'max-buffered-bytes', /at least/),
  );
});

// ---------------------------------------------------------------------------------------
// Durations

const DURATIONS: [string, keyof RelayConfig][] = [
  ['grace-period', 'gracePeriodMs'],
  ['heartbeat-interval', 'heartbeatIntervalMs'],
  ['heartbeat-timeout', 'heartbeatTimeoutMs'],
  ['conflict-probe-timeout', 'conflictProbeTimeoutMs'],
  ['write-timeout', 'writeTimeoutMs'],
  ['read-message-timeout', 'readMessageTimeoutMs'],
  ['header-timeout', 'headerTimeoutMs'],
  ['drain-timeout', 'drainTimeoutMs'],
  ['drain-spread', 'drainSpreadMs'],
  ['rate-limit-refill', 'rateLimitRefillMs'],
];

test('duration flags', async (t) => {
  assert.deepEqual(
    DURATIONS.map((d) => d[0]).sort(),
    // --cluster-node-ttl has its own bounds, tested in test/ops/config/cluster.test.ts.
    FLAGS.filter((f) => f.type === 'duration' && f.name !== 'cluster-node-ttl')
      .map((f) => f.name)
      .sort(),
    'every duration flag is covered',
  );
  for (const [name, key] of DURATIONS) {
    const spread = name === 'drain-spread';
    // drain-spread must stay below drain-timeout, so give it room.
    const pad = spread ? ['--drain-timeout=24h'] : [];
    const go = (v: string) => run([...INSECURE, ...pad, `--${name}=${v}`])[key];
    for (const [v, ms] of [
      ['1ns', 0.000001],
      ['500ms', 500],
      ['1.5s', 1500],
      ['1m30s', 90_000],
      ['2h45m', 9_900_000],
      ['24h', 86_400_000],
      ['+3s', 3000],
    ] as const) {
      if (spread && v === '24h') continue; // must stay below drain-timeout, itself capped at 24h
      await t.test(`${name}=${v}`, () => assert.equal(go(v), ms));
    }
    if (spread) {
      await t.test(`${name}=0 is allowed`, () => {
        assert.equal(go('0'), 0);
        assert.equal(go('0s'), 0);
      });
    } else {
      for (const v of ['0', '0s', '-0', '0ms']) {
        await t.test(`${name}=${v} must be positive`, () => usage([...INSECURE, `--${name}=${v}`], name, /positive/));
      }
    }
    if (spread) await t.test(`${name}=23h59m59s`, () => assert.equal(go('23h59m59s'), 86_399_000));
    await t.test(`${name}=-1s is rejected`, () => usage([...INSECURE, ...pad, `--${name}=-1s`], name, spread ? /negative/ : /positive/));
    for (const v of ['24h0m0.001s', '25h', '1000h']) {
      await t.test(`${name}=${v} is too long`, () => usage([...INSECURE, ...pad, `--${name}=${v}`], name, /at most 24h/));
    }
    for (const v of ['', '1', '30', '1x', 's', '.s', ' 1s', '1s ', '1 s', '1d', 'abc', '9223372036854775808ns']) {
      await t.test(`${name}=${JSON.stringify(v)} malformed`, () => usage([...INSECURE, `--${name}=${v}`], name, /must be a duration/));
    }
  }
});

test('--drain-spread must be shorter than --drain-timeout', async (t) => {
  const ok: [string[], number][] = [
    [['--drain-spread=9s'], 9000],
    [['--drain-spread=9.999s'], 9999],
    [['--drain-timeout=30s', '--drain-spread=20s'], 20000],
  ];
  for (const [extra, ms] of ok) await t.test(extra.join(' '), () => assert.equal(run([...INSECURE, ...extra]).drainSpreadMs, ms));
  await t.test('equal', () => usage([...INSECURE, '--drain-spread=10s'], 'drain-spread', /shorter than --drain-timeout/));
  await t.test('longer', () => usage([...INSECURE, '--drain-spread=1m'], 'drain-spread', /shorter/));
  await t.test('timeout lowered to the spread', () => usage([...INSECURE, '--drain-spread=5s', '--drain-timeout=5s'], 'drain-spread'));
  await t.test('only the timeout given', () => {
    // With the default spread of 0s any positive timeout is fine.
    assert.equal(run([...INSECURE, '--drain-timeout=1ms']).drainTimeoutMs, 1);
  });
});

test('every duration default is written in canonical Go form', async () => {
  const { formatGoDuration, parseGoDuration } = await import('../../src/ops/duration.js');
  for (const d of FLAGS.filter((f) => f.type === 'duration')) {
    assert.ok(d.default !== undefined);
    assert.equal(formatGoDuration(parseGoDuration(d.default) ?? NaN), d.default, d.name);
  }
});

// ---------------------------------------------------------------------------------------
// Strings and enums

test('--log-level', async (t) => {
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    await t.test(level, () => assert.equal(run([...INSECURE, `--log-level=${level}`]).logLevel, level));
  }
  await t.test('case-insensitive, normalised', () => {
    assert.equal(run([...INSECURE, '--log-level=WARN']).logLevel, 'warn');
    assert.equal(run([...INSECURE, '--log-level=Debug']).logLevel, 'debug');
  });
  for (const v of ['', 'warning', 'trace', 'fatal', 'INFO+2', ' info', 'info ', '0']) {
    await t.test(`${JSON.stringify(v)} is rejected`, () =>
      usage([...INSECURE, `--log-level=${v}`], 'log-level', /debug, info, warn, error/),
    );
  }
  await t.test('enum values are listed in the table', () => assert.deepEqual(def('log-level').values, ['debug', 'info', 'warn', 'error']));
});

test('--domain', async (t) => {
  const good: [string, string][] = [
    ['relay.example.com', 'relay.example.com'],
    ['Relay.Example.COM', 'relay.example.com'],
    ['localhost', 'localhost'],
    ['a-b.c1.example', 'a-b.c1.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
  ];
  for (const [v, expected] of good) await t.test(v, () => assert.equal(run([`--domain=${v}`]).domain, expected));
  const bad = [
    '',
    ' ',
    '-relay.example.com',
    'relay-.example.com',
    'a..b',
    '.example.com',
    'example.com.',
    'exa mple.com',
    'https://relay.example.com',
    'relay.example.com:443',
    '*.example.com',
    'relay_1.example.com',
    'a'.repeat(64) + '.com',
    '1.2.3.999',
  ];
  for (const v of bad) await t.test(`${JSON.stringify(v)} is rejected`, () => usage([`--domain=${v}`], 'domain', /domain name/));
});

test('--cert-cache', async (t) => {
  await t.test('default expands ~ with the given homedir', () => {
    assert.equal(run(ACME, '/srv/home').certCache, '/srv/home/.pyrycode-relay/certs');
    assert.equal(run(ACME, '/srv/home/').certCache, '/srv/home/.pyrycode-relay/certs');
  });
  const cases: [string, string][] = [
    ['/var/lib/relay/autocert', '/var/lib/relay/autocert'],
    ['certs', 'certs'],
    ['./certs', './certs'],
    ['~/certs', '/home/relay/certs'],
    ['~', '/home/relay'],
    ['~other/certs', '~other/certs'], // only the caller's own home is expanded
    ['/a/~/b', '/a/~/b'],
  ];
  for (const [v, expected] of cases) await t.test(v, () => assert.equal(run([...ACME, `--cert-cache=${v}`]).certCache, expected));
  await t.test('empty is rejected', () => usage([...ACME, '--cert-cache='], 'cert-cache', /empty/));
  await t.test('no homedir: ACME mode needs an explicit path', () => {
    usage(ACME, 'cert-cache', /home directory/, '');
    usage([...ACME, '--cert-cache=~/x'], 'cert-cache', /home directory/, '');
    assert.equal(run([...ACME, '--cert-cache=/var/lib/relay'], '').certCache, '/var/lib/relay');
  });
  await t.test('no homedir: insecure mode does not care', () => {
    assert.equal(run(INSECURE, '').certCache, '~/.pyrycode-relay/certs');
  });
});

test('--acme-directory', async (t) => {
  const good = [
    'https://acme-v02.api.letsencrypt.org/directory',
    'https://acme-staging-v02.api.letsencrypt.org/directory',
    'https://ca.internal:14000/dir',
    'http://127.0.0.1:14000/dir',
    'http://localhost:4001/directory',
    'http://[::1]:4001/directory',
  ];
  for (const v of good) await t.test(v, () => assert.equal(run([...ACME, `--acme-directory=${v}`]).acmeDirectory, v));
  const bad = [
    '',
    'not a url',
    'acme-v02.api.letsencrypt.org/directory',
    'http://acme.example.com/directory',
    'http://10.0.0.1/dir',
    'ftp://acme.example.com/',
    'https://user:pass@acme.example.com/dir',
  ];
  for (const v of bad) await t.test(`${JSON.stringify(v)} is rejected`, () => usage([...ACME, `--acme-directory=${v}`], 'acme-directory'));
});

test('--fcm-project', async (t) => {
  for (const v of ['pyrycode-mobile', 'my-project-123', 'ab', 'example.com:my-project']) {
    await t.test(v, () => assert.equal(run([...INSECURE, `--fcm-project=${v}`]).fcmProject, v));
  }
  for (const v of ['', 'a', 'Pyrycode', 'my project', 'a/b', '../x', 'proj/../../x', '-abc', 'abc-', '1abc', 'a?b', 'a%2Fb']) {
    await t.test(`${JSON.stringify(v)} is rejected`, () => usage([...INSECURE, `--fcm-project=${v}`], 'fcm-project', /project id/));
  }
});

// ---------------------------------------------------------------------------------------
// given, error shape

test('given holds exactly the flags that appeared', () => {
  const cfg = run([
    '-insecure-listen=:8080',
    '--max-connections',
    '10000',
    '--trust-x-forwarded-for=false',
    '--grace-period=30s',
    '--max-connections=10000',
  ]);
  assert.deepEqual([...cfg.given].sort(), ['grace-period', 'insecure-listen', 'max-connections', 'trust-x-forwarded-for']);
  assert.equal(cfg.given.has('https-listen'), false);
  // Default-valued and explicitly given configs differ only in `given`.
  const { given: _a, ...explicit } = cfg;
  const { given: _b, ...implicit } = run(INSECURE);
  assert.deepEqual(explicit, implicit);
});

test('errors are UsageErrors that name the flag and never echo long values', async (t) => {
  await t.test('shape', () => {
    const e = usageError(
      [...INSECURE, '--max-connections=abc'],
      'max-connections',
      /invalid value "abc" for flag --max-connections: must be an integer/,
    );
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'UsageError');
  });
  const long = 'x'.repeat(500);
  const cases: [string[], string | undefined][] = [
    [[`--domain=${long}`], 'domain'],
    [[...INSECURE, `--metrics-listen=${long}:9090`], 'metrics-listen'],
    [[...INSECURE, `--grace-period=${long}`], 'grace-period'],
    [[...INSECURE, `--log-level=${long}`], 'log-level'],
    [[...INSECURE, `--acme-directory=ftp://${long}/`], 'acme-directory'],
    [[...INSECURE, long], undefined],
    [[...INSECURE, `--${long}=1`], undefined],
    [[...INSECURE, '--trust-x-forwarded-for=' + long], 'trust-x-forwarded-for'],
  ];
  for (const [argv, flag] of cases) {
    await t.test(`${argv[argv.length - 1]?.slice(0, 30)}…`, () => {
      let caught: unknown;
      try {
        parse(argv);
      } catch (e) {
        caught = e;
      }
      assert.ok(caught instanceof UsageError);
      assert.ok(!caught.message.includes('x'.repeat(65)), caught.message);
      assert.ok(caught.message.length < 250, caught.message);
      assert.ok(caught.flag === undefined || caught.flag.length <= 70);
      if (flag !== undefined) assert.equal(caught.flag, flag);
    });
  }
  await t.test('control characters are escaped', () => {
    const e = usageError([...INSECURE, '--log-level=\u001b[31mx\n'], 'log-level');
    assert.ok(!e.message.includes('\u001b') && !e.message.includes('\n'));
  });
});

test('the parser does not mutate argv', () => {
  const argv = Object.freeze(['--insecure-listen', ':8080', '--max-connections=5']);
  run(argv);
  assert.deepEqual(argv, ['--insecure-listen', ':8080', '--max-connections=5']);
});
