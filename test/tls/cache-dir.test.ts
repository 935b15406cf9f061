// Black-box, the CLI as a child process: the certificate cache directory rules
// of operations.md §8. Missing → created 0700; our own with group/other bits →
// tightened to 0700 and logged; someone else's that others can reach, or a
// path that is not a directory → exit 1 before anything listens. The ACME
// directory points at a closed loopback port, so nothing leaves the machine.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort, runCli, spawnCli, waitExit, waitForStderr } from '../helpers/process.js';

const OTHER_UID = 4242;

async function tlsArgs(cacheDir: string): Promise<string[]> {
  const dead = await freePort(); // nothing listens there: issuance just fails and retries
  return [
    '--domain',
    'relay.pyry.test',
    '--https-listen',
    `127.0.0.1:${await freePort()}`,
    '--http-listen',
    `127.0.0.1:${await freePort()}`,
    '--cert-cache',
    cacheDir,
    '--acme-directory',
    `https://127.0.0.1:${dead}/dir`,
    '--metrics-listen=',
  ];
}

/** Starts the relay, waits until it runs, stops it; returns its stderr. */
async function startsAndStops(cacheDir: string): Promise<string> {
  const child = spawnCli(await tlsArgs(cacheDir));
  try {
    await waitForStderr(child, /relay_started/);
    child.kill('SIGTERM');
    const exit = await waitExit(child);
    assert.equal(exit.code, 0, exit.stderr);
    return exit.stderr;
  } finally {
    child.kill('SIGKILL');
  }
}

const scratch = (): string => mkdtempSync(join(tmpdir(), 'relay-cache-'));

describe('certificate cache directory', () => {
  test('missing (with missing parents) → created with mode 0700', async () => {
    const dir = join(scratch(), 'a', 'certs');
    const stderr = await startsAndStops(dir);
    assert.ok(statSync(dir).isDirectory());
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.match(stderr, /"event":"cert_cache_created"/);
  });

  test('own directory with mode 0755 → tightened to 0700 and logged', async () => {
    const dir = join(scratch(), 'certs');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const stderr = await startsAndStops(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const line = stderr.split('\n').find((l) => l.includes('"cert_cache_tightened"'));
    assert.ok(line, stderr);
    const ev = JSON.parse(line) as Record<string, unknown>;
    assert.equal(ev.from, '0755');
    assert.equal(ev.to, '0700');
    assert.equal(ev.dir, dir);
  });

  test('own directory already 0700 → used as is, nothing logged about it', async () => {
    const dir = join(scratch(), 'certs');
    mkdirSync(dir, { mode: 0o700 });
    const stderr = await startsAndStops(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.doesNotMatch(stderr, /cert_cache_(created|tightened)/);
  });

  test("someone else's directory with mode 0755 → exit 1, left untouched", async () => {
    const dir = join(scratch(), 'certs');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    chownSync(dir, OTHER_UID, OTHER_UID); // the tests run as root (as CI does)
    const r = await runCli(await tlsArgs(dir));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /"event":"boot_refused"/);
    assert.match(r.stderr, /"flag":"cert-cache"/);
    assert.doesNotMatch(r.stderr, /relay_started/);
    assert.equal(statSync(dir).mode & 0o777, 0o755);
    assert.equal(statSync(dir).uid, OTHER_UID);
  });

  test("someone else's directory with mode 0700 → accepted (nobody else can reach it)", async () => {
    const dir = join(scratch(), 'certs');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, OTHER_UID, OTHER_UID);
    await startsAndStops(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  });

  test('a regular file → exit 1', async () => {
    const file = join(scratch(), 'certs');
    writeFileSync(file, 'not a directory');
    const r = await runCli(await tlsArgs(file));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /not a directory/);
    assert.doesNotMatch(r.stderr, /relay_started/);
  });
});
