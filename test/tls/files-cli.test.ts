// Black-box, the CLI as a child process in certificate-file mode: flag rules
// (exit 2), boot refusals naming the file (exit 1, no key material), SIGHUP
// reloading the pair without dropping an open connection, a bad pair on SIGHUP
// keeping the old one, and a PROXY v2 header in front of the handshake.
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Command, IPv4Address, IPv4ProxyAddress, TransportProtocol, V2ProxyProtocol } from 'proxy-protocol-js';
import { connectBinary, connectPhone, newServerId, sleep, type TestClient } from '../helpers/clients.js';
import { eventually } from '../helpers/http.js';
import { TestPki, type Leaf } from '../helpers/pki.js';
import { freePort, runCli, spawnCli, waitExit, waitForStderr } from '../helpers/process.js';
import { handshake, servedSerial } from '../helpers/tls-files.js';

const NAME = 'relay.pyry.test';
const FAST = ['--header-timeout=1s', '--drain-timeout=1s', '--max-connections-per-ip=0'];

const events = (stderr: string): Array<Record<string, unknown>> =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('certificate-file mode: the CLI', () => {
  let pki: TestPki;
  let good: Leaf;
  before(async () => {
    pki = await TestPki.create();
    good = await pki.leaf({ dns: [NAME] });
  });
  after(() => pki.cleanup());

  const files = (l: Leaf): string[] => ['--tls-cert', l.cert, '--tls-key', l.key];

  for (const [extra, flag] of [
    [['--tls-cert', '/c.pem'], 'tls-key'],
    [['--tls-key', '/k.pem', '--https-listen', '127.0.0.1:8443'], 'tls-cert'],
    [['--tls-cert', '/c.pem', '--tls-key', '/k.pem', '--domain', NAME], 'domain'],
    [['--tls-cert', '/c.pem', '--tls-key', '/k.pem', '--insecure-listen', '127.0.0.1:8080'], 'insecure-listen'],
    [['--tls-cert', '/c.pem', '--tls-key', '/k.pem', '--http-listen', '127.0.0.1:8080'], 'http-listen'],
  ] as const) {
    test(`exit 2 naming --${flag}: ${extra.join(' ')}`, async () => {
      const r = await runCli([...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`--${flag}`));
      assert.doesNotMatch(r.stderr, /relay_started/);
    });
  }

  test('boot refusals exit 1 naming the file, never printing key material', async () => {
    const other = await pki.leaf({ key: 'rsa' });
    const expired = await pki.leaf({ notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const missing = join(pki.dir, 'missing.pem');
    const keyLines = (await readFile(good.key, 'utf8')).split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const [args, flag, file, reason] of [
      [['--tls-cert', missing, '--tls-key', good.key], 'tls-cert', missing, /^unreadable \(ENOENT\)$/],
      [['--tls-cert', other.cert, '--tls-key', good.key], 'tls-key', good.key, /^does not match the certificate in /],
      [files(expired), 'tls-cert', expired.cert, /^certificate expired/],
    ] as const) {
      const r = await runCli([...args, '--https-listen', `127.0.0.1:${await freePort()}`]);
      assert.equal(r.code, 1, r.stderr);
      const refused = events(r.stderr).find((e) => e.event === 'boot_refused');
      assert.ok(refused, r.stderr);
      assert.deepEqual([refused.flag, refused.file], [flag, file]);
      assert.match(String(refused.reason), reason);
      assert.doesNotMatch(r.stderr, /relay_started/);
      for (const line of keyLines) assert.ok(!r.stderr.includes(line));
    }
  });

  test('SIGHUP reloads the pair: an open connection keeps working, a new one gets the new serial', async () => {
    // The flags name symlinks; their targets live in another directory, so an
    // in-place rewrite of a target is invisible to the directory watch and only
    // SIGHUP picks it up.
    const store = join(pki.dir, 'store');
    const live = join(pki.dir, 'live');
    await mkdir(store);
    await mkdir(live);
    const put = async (l: Leaf): Promise<void> => {
      await writeFile(join(store, 'cert.pem'), await readFile(l.cert));
      await writeFile(join(store, 'key.pem'), await readFile(l.key));
    };
    await put(good);
    await symlink(join(store, 'cert.pem'), join(live, 'cert.pem'));
    await symlink(join(store, 'key.pem'), join(live, 'key.pem'));
    const port = await freePort();
    const child = spawnCli([
      '--tls-cert',
      join(live, 'cert.pem'),
      '--tls-key',
      join(live, 'key.pem'),
      '--https-listen',
      `127.0.0.1:${port}`,
      ...FAST,
    ]);
    try {
      await waitForStderr(child, /"event":"relay_started"/);
      const started = events(child.out.stderr).find((e) => e.event === 'relay_started')!;
      assert.deepEqual([started.mode, started.file], ['tls-files', join(live, 'cert.pem')]);
      const base = `wss://127.0.0.1:${port}`;
      const sid = newServerId();
      const dial = { ca: pki.root.pem, servername: NAME } as unknown as { ca: string };
      const binary: TestClient = await connectBinary(base, sid, { Host: NAME }, dial);
      const phone: TestClient = await connectPhone(base, sid, { Host: NAME }, dial);
      assert.equal(servedSerial(phone), good.serial);

      const next = await pki.leaf({ key: 'rsa', dns: [NAME] });
      await put(next);
      await sleep(1500); // past the watch debounce: nothing changed yet
      assert.equal((await handshake(port, { ca: pki.root.pem, servername: NAME })).serial, good.serial);
      child.kill('SIGHUP');
      await waitForStderr(child, /"event":"tls_cert_reloaded"/);
      const reloaded = events(child.out.stderr).find((e) => e.event === 'tls_cert_reloaded')!;
      assert.deepEqual([reloaded.signal, reloaded.serial], ['SIGHUP', next.serial]);
      assert.equal((await handshake(port, { ca: pki.root.pem, servername: NAME })).serial, next.serial);

      // The connection opened before the reload still carries frames both ways.
      phone.send('{"n":1}');
      const env = await binary.nextJson();
      binary.send(JSON.stringify({ conn_id: env.conn_id, frame: { n: 2 } }));
      assert.deepEqual(JSON.parse(await phone.next()), { n: 2 });
      assert.equal(servedSerial(phone), good.serial);

      // SIGHUP with nothing changed says so; with a bad pair the old one stays.
      child.kill('SIGHUP');
      await waitForStderr(child, /"event":"tls_cert_unchanged"/);
      await writeFile(join(store, 'key.pem'), await readFile(good.key));
      child.kill('SIGHUP');
      await waitForStderr(child, /"event":"tls_cert_reload_failed"/);
      const failed = events(child.out.stderr).find((e) => e.event === 'tls_cert_reload_failed')!;
      assert.deepEqual([failed.level, failed.signal, failed.flag, failed.serial], ['error', 'SIGHUP', 'tls-key', next.serial]);
      assert.equal((await handshake(port, { ca: pki.root.pem, servername: NAME })).serial, next.serial);
      assert.equal(child.exitCode, null);
      binary.close();
      phone.close();
    } finally {
      child.kill('SIGTERM');
      const r = await waitExit(child);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  test('--https-proxy-protocol: a PROXY v2 header, then the handshake with the file certificate', async () => {
    const port = await freePort();
    const child = spawnCli([...files(good), '--https-listen', `127.0.0.1:${port}`, '--https-proxy-protocol', '--log-level=debug', ...FAST]);
    try {
      await waitForStderr(child, /"event":"relay_started"/);
      const addr = new IPv4ProxyAddress(IPv4Address.createFrom([203, 0, 113, 9]), 40000, IPv4Address.createFrom([10, 0, 0, 1]), 443);
      const header = Buffer.from(new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, addr).build());
      const serial = await new Promise<string>((resolve, reject) => {
        const raw = netConnect(port, '127.0.0.1', () => {
          raw.write(header);
          const s = tlsConnect({ socket: raw, servername: NAME, ca: pki.root.pem }, () => {
            resolve(s.getPeerCertificate().serialNumber);
            s.end();
          });
          s.once('error', reject);
        });
        raw.once('error', reject);
      });
      assert.equal(serial.toUpperCase().replace(/^0+/, ''), good.serial);
      // Without the header the handshake never gets a certificate.
      await assert.rejects(handshake(port, { ca: pki.root.pem, servername: NAME }));
      await eventually(() => child.out.stderr.includes('"event":"proxy_header_rejected"'), 3000, 'rejection logged');
    } finally {
      child.kill('SIGTERM');
      await waitExit(child);
    }
  });
});
