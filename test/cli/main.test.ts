// Black-box: the CLI as a child process — exit codes, --version/--help, the
// default dev listener, and SIGTERM draining (operations.md §1, §3, §10).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { connectBinary, connectPhone, newServerId } from '../helpers/clients.js';
import { freePort, runCli, spawnCli, waitExit, waitForStderr } from '../helpers/process.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('cli', () => {
  test('--version prints the package version and exits 0', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), `pyrycode-relay ${pkg.version}`);
  });

  test('--help lists the flags and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const f of ['--insecure-listen', '--domain', '--grace-period', '--max-message-bytes', '--drain-spread']) {
      assert.ok(r.stdout.includes(f), f);
    }
  });

  for (const [args, flag] of [
    [['--bogus'], 'bogus'],
    [[], 'domain'],
    [['--insecure-listen'], 'insecure-listen'],
    [['--insecure-listen', '127.0.0.1:0'], 'insecure-listen'],
    [['--insecure-listen', ':8080', '--https-proxy-protocol=false'], 'insecure-listen'],
    [['--insecure-listen', ':8080', '--grace-period', '-1s'], 'grace-period'],
    [['--insecure-listen', ':8080', '--max-connections', '0'], 'max-connections'],
    [['--insecure-listen', ':8080', '--drain-spread', '10s'], 'drain-spread'],
    [['--insecure-listen', ':8080', 'extra'], 'extra'],
  ] as const) {
    test(`usage error exits 2 and names the problem: ${args.join(' ') || '(no flags)'}`, async () => {
      const r = await runCli([...args]);
      assert.equal(r.code, 2);
      assert.ok(r.stderr.includes(flag), r.stderr);
    });
  }

  test('a taken port exits 1', async () => {
    const port = await freePort();
    const first = spawnCli(['--insecure-listen', `127.0.0.1:${port}`]);
    await waitForStderr(first, /relay_started/);
    const second = await runCli(['--insecure-listen', `127.0.0.1:${port}`]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /listen_failed/);
    first.kill('SIGTERM');
    assert.equal((await waitExit(first)).code, 0);
  });

  test('SIGTERM drains: 1001 shutting down to everyone, exit 0, port closed; a second signal is ignored', async () => {
    const port = await freePort();
    const child = spawnCli(['--insecure-listen', `127.0.0.1:${port}`, '--drain-timeout', '2s']);
    await waitForStderr(child, /relay_started/);
    const url = `ws://127.0.0.1:${port}`;
    const id = newServerId();
    const binary = await connectBinary(url, id);
    const phone = await connectPhone(url, id);
    child.kill('SIGTERM');
    child.kill('SIGTERM');
    assert.deepEqual(await phone.waitClose(), { code: 1001, reason: 'shutting down' });
    assert.deepEqual(await binary.waitClose(), { code: 1001, reason: 'shutting down' });
    const exited = await waitExit(child);
    assert.equal(exited.code, 0);
    assert.ok(await portRefuses(port));
    const lines = exited.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.filter((l) => l.event === 'shutdown_started').length, 1);
  });

  test('--drain-spread closes phones first and binaries last, spread over the window', async () => {
    const port = await freePort();
    const child = spawnCli(['--insecure-listen', `127.0.0.1:${port}`, '--drain-timeout', '3s', '--drain-spread', '600ms']);
    await waitForStderr(child, /relay_started/);
    const url = `ws://127.0.0.1:${port}`;
    const id = newServerId();
    const binary = await connectBinary(url, id);
    const phones = [await connectPhone(url, id), await connectPhone(url, id), await connectPhone(url, id)];
    const t0 = Date.now();
    child.kill('SIGINT');
    const times: number[] = [];
    for (const p of phones) {
      assert.equal((await p.waitClose()).code, 1001);
      times.push(Date.now() - t0);
    }
    assert.equal((await binary.waitClose()).code, 1001);
    const binaryAt = Date.now() - t0;
    assert.ok(binaryAt >= 450, `binary closed after ${binaryAt} ms`);
    assert.ok(Math.max(...times) <= binaryAt);
    assert.equal((await waitExit(child)).code, 0);
  });

  test('a drain that hits its deadline still exits 0', async () => {
    const port = await freePort();
    const child = spawnCli(['--insecure-listen', `127.0.0.1:${port}`, '--drain-timeout', '300ms']);
    await waitForStderr(child, /relay_started/);
    const id = newServerId();
    const binary = await connectBinary(`ws://127.0.0.1:${port}`, id);
    binary.ws.pause(); // never answers the close handshake
    const t0 = Date.now();
    child.kill('SIGTERM');
    const exited = await waitExit(child);
    assert.equal(exited.code, 0);
    assert.ok(Date.now() - t0 < 3000);
    binary.ws.terminate();
  });
});
