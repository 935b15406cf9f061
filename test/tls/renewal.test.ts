// Black-box renewal against pebble issuing short-lived certificates: the
// running relay renews before expiry (a third of the lifetime left, since the
// certificate lives under 90 days) and new handshakes get the new certificate,
// while a binary and phone connected through the old one keep exchanging
// frames (operations.md §8: renew without a restart, without dropping anyone).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { peerCertificate, startAcmeEnv, type AcmeEnv } from '../helpers/acme-env.js';
import { connectBinary, connectPhone, newServerId } from '../helpers/clients.js';
import { PEBBLE_LISTENER_CA } from '../helpers/pebble.js';
import { spawnCli, waitExit, waitForStderr } from '../helpers/process.js';

const LIFETIME_S = 9;

describe('certificate renewal while running', () => {
  let env: AcmeEnv;
  before(async () => {
    env = await startAcmeEnv({ validitySeconds: LIFETIME_S });
  });
  after(() => env.stop());

  test('a short-lived certificate is renewed and live connections survive it', async () => {
    const child = spawnCli(env.args(), { NODE_EXTRA_CA_CERTS: PEBBLE_LISTENER_CA });
    try {
      await waitForStderr(child, /cert_issued/, 15_000);
      const first = await peerCertificate(env.httpsPort, env.pebble.rootPem);
      const lifetimeMs = Date.parse(first.valid_to) - Date.parse(first.valid_from);
      assert.ok(lifetimeMs <= (LIFETIME_S + 1) * 1000, `pebble issued a ${lifetimeMs} ms certificate`);

      const id = newServerId();
      const binary = await connectBinary(env.base, id, {}, env.wsOptions());
      const phone = await connectPhone(env.base, id, {}, env.wsOptions());
      phone.send('{"n":1}');
      const connId = /"conn_id":"([^"]+)"/.exec(await binary.next())?.[1];
      assert.ok(connId);

      await waitForStderr(child, /cert_renewed/, 15_000);
      const second = await peerCertificate(env.httpsPort, env.pebble.rootPem);
      assert.notEqual(second.serialNumber, first.serialNumber);
      assert.ok(Date.parse(second.valid_to) > Date.parse(first.valid_to));

      // The pair opened under the old certificate is still up, both ways.
      assert.equal(binary.isClosed || phone.isClosed, false);
      phone.send('{"n":2}');
      assert.match(await binary.next(), /"frame":\{"n":2\}/);
      binary.send(`{"conn_id":"${connId}","frame":{"n":3}}`);
      assert.equal(await phone.next(), '{"n":3}');

      binary.close();
      phone.close();
      child.kill('SIGTERM');
      const exit = await waitExit(child);
      assert.equal(exit.code, 0);
      assert.doesNotMatch(exit.stderr, /acme_issue_failed/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
