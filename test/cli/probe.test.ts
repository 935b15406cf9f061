// Black-box: `pyrycode-relay probe` as a child process against a real relay (it
// must pass), against relays that misbehave (it must fail and name the check),
// and with bad arguments (exit 2).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { CHECK_NAMES } from '../../src/cli/probe-checks.js';
import { parseProbeArgs, ProbeUsageError } from '../../src/cli/probe.js';
import { freePort, runCli } from '../helpers/process.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

interface JsonReport {
  url: string;
  server_id: string;
  ok: boolean;
  ms: number;
  checks: Array<{ name: string; status: string; ms: number; detail: string }>;
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function statusOf(report: JsonReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
}

describe('probe against a healthy relay', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('every check passes, one line each with a timing, exit 0', async () => {
    const r = await runCli(['probe', relay.url]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    for (const name of CHECK_NAMES) {
      assert.match(r.stdout, new RegExp(`^PASS ${name} +\\d+ ms  \\S`, 'm'), name);
    }
    assert.equal(lines.length, CHECK_NAMES.length + 2); // header + checks + summary
    assert.match(lines.at(-1) ?? '', /^8\/8 checks passed \(\d+ ms\)$/);
  });

  test('--json reports every check under a fresh UUIDv4 server-id that the relay saw', async () => {
    const [a, b] = await Promise.all([runCli(['probe', '--json', relay.url]), runCli(['probe', relay.url + '/', '--json'])]);
    assert.equal(a.code, 0, a.stdout);
    assert.equal(b.code, 0, b.stdout);
    const ra = JSON.parse(a.stdout) as JsonReport;
    const rb = JSON.parse(b.stdout) as JsonReport;
    assert.equal(ra.ok, true);
    assert.deepEqual(
      ra.checks.map((c) => c.name),
      [...CHECK_NAMES],
    );
    assert.ok(ra.checks.every((c) => c.status === 'pass' && Number.isInteger(c.ms) && c.ms >= 0));
    assert.match(ra.server_id, UUID_V4);
    assert.notEqual(ra.server_id, rb.server_id);
    const claims = relay.events().filter((e) => e.event === 'server_claimed' && e.server_id === ra.server_id);
    assert.equal(claims.length, 1);
    assert.match(String(claims[0]?.binary_version), /^probe-/);
    // The duplicate claim was refused by the conflict probe, not a takeover.
    assert.ok(relay.events().some((e) => e.event === 'server_id_conflict' && e.server_id === ra.server_id));
    assert.ok(!relay.events().some((e) => e.event === 'server_id_takeover'));
  });
});

describe('probe against relays that misbehave', () => {
  test('a relay whose message limit is too small for a real frame fails phone_to_binary', async () => {
    const relay = await startRelay({ maxMessageBytes: 64 });
    try {
      const r = await runCli(['probe', '--json', '--timeout', '500ms', relay.url]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout) as JsonReport;
      assert.equal(report.ok, false);
      const s = statusOf(report);
      assert.equal(s.binary_upgrade, 'pass');
      assert.equal(s.phone_upgrade, 'pass');
      assert.equal(s.phone_to_binary, 'fail');
      assert.equal(s.binary_to_phone, 'skip');
      assert.equal(s.unknown_server, 'pass');
    } finally {
      await relay.stop();
    }
  });

  test('a plain echo WebSocket server fails the routing and close-code checks', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
    try {
      const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
      const r = await runCli(['probe', '--timeout', '500ms', url]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^PASS binary_upgrade /m);
      assert.match(r.stdout, /^FAIL phone_to_binary /m);
      assert.match(r.stdout, /^FAIL unknown_server .*expected 4404/m);
      assert.match(r.stdout, /^FAIL duplicate_claim .*expected 4409/m);
      assert.match(r.stdout, /failed: phone_to_binary, unknown_server, duplicate_claim/);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    }
  });

  test('nothing listening: the upgrade fails, dependants are skipped, exit 1', async () => {
    const port = await freePort();
    const r = await runCli(['probe', `ws://127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL binary_upgrade .*ECONNREFUSED/m);
    assert.match(r.stdout, /^SKIP duplicate_claim +0 ms {2}needs binary_upgrade/m);
  });
});

describe('probe usage', () => {
  test('--help prints the probe usage and exits 0', async () => {
    const r = await runCli(['probe', '--help']);
    assert.equal(r.code, 0);
    for (const f of ['--json', '--timeout', '--ca', '--resolve', ...CHECK_NAMES]) assert.ok(r.stdout.includes(f), f);
  });

  // The exit-2 plumbing, end to end through the CLI.
  for (const [args, needle] of [
    [[], 'missing the relay URL'],
    [['http://127.0.0.1:8080'], 'ws:// or wss://'],
    [['--ca', '/nonexistent/ca.pem', 'wss://127.0.0.1:8443'], 'cannot read --ca file: ENOENT'],
  ] as const) {
    test(`exit 2: probe ${args.join(' ') || '(no arguments)'}`, async () => {
      const r = await runCli(['probe', ...args]);
      assert.equal(r.code, 2);
      assert.ok(r.stderr.includes(needle), r.stderr);
      assert.equal(r.stdout, '');
    });
  }

  // The argument rules themselves, in-process.
  for (const [args, needle] of [
    [['ws://a', 'ws://b'], 'expected one URL'],
    [['--timeout', '0s', 'ws://127.0.0.1:8080'], '--timeout'],
    [['--timeout', 'soon', 'ws://127.0.0.1:8080'], '--timeout'],
    [['--timeout'], 'flag needs an argument: --timeout'],
    [['--bogus', 'ws://127.0.0.1:8080'], '--bogus'],
    [['--ca', 'ca.pem', 'ws://127.0.0.1:8080'], '--ca only applies to wss://'],
    [['ws://127.0.0.1:8080/?x=1'], 'query'],
    [['not a url'], 'not a URL'],
    [['--resolve', 'relay.example.com', 'wss://relay.example.com'], '--resolve must be an IP address'],
    // parseArgs rules: booleans take no value, and a single dash starts short options.
    [['--json=true', 'ws://127.0.0.1:8080'], '--json takes no value'],
    [['-json', 'ws://127.0.0.1:8080'], 'flag provided but not defined: -j'],
  ] as const) {
    test(`usage error: probe ${args.join(' ')}`, () => {
      assert.throws(
        () => parseProbeArgs(args),
        (e: unknown) => e instanceof ProbeUsageError && e.message.includes(needle),
      );
    });
  }

  test('flags parse in either form and position', () => {
    const p = parseProbeArgs(['wss://relay.example.com/prefix', '--json', '--timeout=1m30s', '--ca', 'ca.pem', '--resolve=::1']);
    assert.equal(p.kind, 'run');
    if (p.kind !== 'run') return;
    assert.equal(p.options.json, true);
    assert.equal(p.options.timeoutMs, 90_000);
    assert.equal(p.options.caFile, 'ca.pem');
    assert.equal(p.options.resolve, '::1');
    assert.equal(p.options.url.href, 'wss://relay.example.com/prefix');
    assert.deepEqual(parseProbeArgs(['-h']), { kind: 'help' });
    assert.deepEqual(parseProbeArgs(['--help', 'not a url']), { kind: 'help' });
    // After "--" everything is positional; the last of repeated flags wins.
    const q = parseProbeArgs(['--timeout', '1s', '--timeout', '2s', '--', 'ws://127.0.0.1:8080']);
    assert.ok(q.kind === 'run' && q.options.timeoutMs === 2000 && q.options.json === false);
  });
});
