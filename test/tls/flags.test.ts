// Black-box, the CLI as a child process: ACME-mode flag exclusivity and checks
// (operations.md §1). Each refusal is exit 2 naming the flag, before anything
// listens or touches the network.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/process.js';

describe('ACME-mode flags', () => {
  for (const [args, flag] of [
    [['--domain', 'relay.pyry.test', '--insecure-listen', '127.0.0.1:8080'], 'insecure-listen'],
    [['--insecure-listen', '127.0.0.1:8080', '--https-listen', '127.0.0.1:8443'], 'https-listen'],
    [['--insecure-listen', '127.0.0.1:8080', '--http-listen', '127.0.0.1:8081'], 'http-listen'],
    [['--insecure-listen', '127.0.0.1:8080', '--https-proxy-protocol'], 'https-proxy-protocol'],
    [['--domain', 'relay.pyry.test', '--acme-directory', 'http://acme.example/dir'], 'acme-directory'],
    [['--domain', 'not a domain'], 'domain'],
    [['--domain', 'relay.pyry.test', '--https-listen', '127.0.0.1:0'], 'https-listen'],
  ] as const) {
    test(`exit 2 naming --${flag}: ${args.join(' ')}`, async () => {
      const r = await runCli([...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(flag), r.stderr);
      assert.doesNotMatch(r.stderr, /relay_started/);
    });
  }
});
