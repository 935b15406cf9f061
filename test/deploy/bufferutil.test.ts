// After a fresh install, `ws` masks and unmasks with the native `bufferutil`
// addon where a prebuilt binary fits (docs/decisions/0008-bufferutil.md): the
// benchmark figures in docs/performance.md depend on it. Checked in a child
// process that loads `ws` as the relay does, by what ended up loaded, not by
// whether the package exists. And the install decision is recorded the npm-11
// way, so `npm install` has no install script left to warn about.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const ROOT = new URL('../../../', import.meta.url).pathname;

interface Probe {
  /** Native addon files in the module cache after `import 'ws'`. */
  addons: string[];
  /** Whether bufferutil's exported mask/unmask are native functions. */
  nativeMask: boolean;
  nativeUnmask: boolean;
  /** Whether ws's own mask/unmask call into bufferutil (its `else` branch uses plain JS). */
  wsUsesBufferutil: boolean;
  /** ws's masking through bufferutil matches a plain XOR, above and below its 48/32-byte cut-over. */
  correct: boolean;
}

// Runs in the project root, so `ws` and `bufferutil` resolve from its node_modules.
const PROBE = `
import 'ws';
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const wsRequire = createRequire(require.resolve('ws'));
const bu = wsRequire('./lib/buffer-util.js');
const addon = wsRequire('bufferutil');
const native = (f) => Function.prototype.toString.call(f).includes('[native code]');
const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
let correct = true;
for (const n of [7, 31, 32, 47, 48, 64, 1000, 65536]) {
  const src = Buffer.alloc(n, 0).map((_, i) => (i * 31 + 7) & 0xff);
  const want = src.map((b, i) => b ^ key[i & 3]);
  const out = Buffer.alloc(n + 2);
  bu.mask(src, key, out, 2, n);
  const back = Buffer.from(want);
  bu.unmask(back, key);
  correct &&= out.subarray(2).equals(want) && back.equals(src);
}
console.log(JSON.stringify({
  addons: Object.keys(require.cache).filter((k) => k.endsWith('.node')),
  nativeMask: native(addon.mask),
  nativeUnmask: native(addon.unmask),
  wsUsesBufferutil: /bufferUtil\\.mask/.test(bu.mask.toString()) && /bufferUtil\\.unmask/.test(bu.unmask.toString()),
  correct,
}));
`;

function probe(): Probe {
  const env = { ...process.env };
  delete env['WS_NO_BUFFER_UTIL'];
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: ROOT, env, encoding: 'utf8' });
  return JSON.parse(out) as Probe;
}

describe('bufferutil', () => {
  const prebuilt = join(ROOT, 'node_modules/bufferutil/prebuilds', `${process.platform}-${process.arch}`, 'bufferutil.node');

  test('ws loads the native addon where a prebuilt binary fits (always on linux-x64, as on the benchmark machine)', () => {
    if (process.platform === 'linux' && process.arch === 'x64') assert.ok(existsSync(prebuilt), 'bufferutil ships linux-x64');
    const p = probe();
    assert.equal(p.correct, true, 'masking through ws is a plain XOR');
    assert.equal(p.wsUsesBufferutil, true, 'ws took bufferutil, not its own JavaScript');
    if (existsSync(prebuilt)) {
      assert.deepEqual(p.addons, [prebuilt], 'the prebuilt binary is the addon that was loaded');
      assert.equal(p.nativeMask && p.nativeUnmask, true, 'mask and unmask are native');
    } else {
      // Decision 0008: no prebuild and no install script means bufferutil's own JS fallback.
      assert.deepEqual(p.addons, []);
      assert.equal(p.nativeMask || p.nativeUnmask, false);
    }
  });

  test("bufferutil's install script is denied in package.json, so npm has nothing left to warn about", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    assert.deepEqual(pkg.allowScripts, { bufferutil: false });
    // The same question `npm install` asks at its end: which install scripts are unreviewed?
    const out = execFileSync('npm', ['install-scripts', 'ls', '--json'], { cwd: ROOT, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), { allowScripts: [] });
  });
});
