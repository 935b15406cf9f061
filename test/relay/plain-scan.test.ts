// Tests for the SIMD plain-string scan: agreement with a byte-by-byte reference at every
// vector boundary, scope rules (no stale bytes after endScope), memory growth, and the
// generated module matching its WebAssembly text source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import wabtInit from 'wabt';
import { available, beginScope, endScope, skipPlain } from '../../src/relay/plain-scan.js';
import { PLAIN_SCAN_WASM_BASE64 } from '../../src/relay/plain-scan.wasm.js';

/** The definition: first byte that is '"', '\\' or below 0x20, else `end`. */
function reference(buf: Buffer, pos: number, end: number): number {
  for (let i = pos; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c === 0x22 || c === 0x5c) return i;
  }
  return end;
}

function scoped(buf: Buffer, pos: number, end: number): number {
  beginScope(buf);
  try {
    return skipPlain(buf, pos, end);
  } finally {
    endScope();
  }
}

test('the SIMD module loads on this Node', () => {
  assert.equal(available, true);
});

test('every special byte at every position of runs up to 80 bytes', () => {
  const specials = [0x00, 0x09, 0x0a, 0x1f, 0x22, 0x5c];
  const harmless = [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xc3, 0xff];
  for (let len = 0; len <= 80; len++) {
    const plain = Buffer.alloc(len, 0x61);
    for (let s = 0; s < len; s++) plain[s] = harmless[s % harmless.length]!;
    assert.equal(scoped(plain, 0, len), len, `plain run of ${len}`);
    for (let at = 0; at < len; at++) {
      for (const sp of specials) {
        const buf = Buffer.from(plain);
        buf[at] = sp;
        for (let pos = 0; pos <= Math.min(at + 1, len); pos += Math.max(1, at >> 2)) {
          assert.equal(scoped(buf, pos, len), reference(buf, pos, len), `len ${len} at ${at} byte ${sp} from ${pos}`);
        }
      }
    }
  }
});

test('property: agrees with the reference on arbitrary bytes and ranges', () => {
  const byte = fc.oneof(fc.constantFrom(0x00, 0x1f, 0x20, 0x22, 0x5c, 0x61), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.array(byte, { maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const buf = Buffer.from(bytes);
      const pos = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      const end = pos + (b % (bytes.length - pos + 1));
      assert.equal(scoped(buf, pos, end), reference(buf, pos, end));
    }),
    { numRuns: 5000 },
  );
});

test('never reads past end: a special byte just after the range is not reported', () => {
  for (let len = 0; len <= 70; len++) {
    const buf = Buffer.alloc(len + 1, 0x61);
    buf[len] = 0x22;
    assert.equal(scoped(buf, 0, len), len);
  }
});

test('outside a scope, or for another buffer, the caller is told to scan in JavaScript', () => {
  const a = Buffer.from('a'.repeat(64));
  const b = Buffer.from('b'.repeat(64));
  assert.equal(skipPlain(a, 0, 64), -1);
  beginScope(a);
  assert.equal(skipPlain(b, 0, 64), -1);
  assert.equal(skipPlain(a, 0, 64), 64);
  endScope();
  assert.equal(skipPlain(a, 0, 64), -1);
});

test('a buffer rewritten between scopes is scanned afresh, never from the old copy', () => {
  const buf = Buffer.from('a'.repeat(64));
  assert.equal(scoped(buf, 0, 64), 64);
  buf[40] = 0x22;
  assert.equal(scoped(buf, 0, 64), 40);
  buf[40] = 0x61;
  buf[5] = 0x0a;
  assert.equal(scoped(buf, 0, 64), 5);
});

test('messages larger than the initial memory grow it; the scan stays exact', () => {
  const big = Buffer.alloc(1024 * 1024 + 7, 0x41);
  big[big.length - 3] = 0x5c;
  assert.equal(scoped(big, 0, big.length), big.length - 3);
  assert.equal(scoped(big, 0, big.length - 3), big.length - 3);
  // A smaller message afterwards still scans from offset 0 of the grown memory.
  assert.equal(scoped(Buffer.from('xyz"'), 0, 4), 3);
});

test('messages above the 16 MiB cap are left to JavaScript', () => {
  const huge = Buffer.alloc(16 * 1024 * 1024 + 1, 0x41);
  assert.equal(scoped(huge, 0, 64), -1);
});

test('the generated module is the compiled plain-scan.wat (npm run build:wasm)', async () => {
  const wat = readFileSync(fileURLToPath(new URL('../../../src/relay/plain-scan.wat', import.meta.url)), 'utf8');
  const wabt = await wabtInit();
  const mod = wabt.parseWat('plain-scan.wat', wat, { simd: true });
  const { buffer } = mod.toBinary({});
  mod.destroy();
  assert.equal(Buffer.from(buffer).toString('base64'), PLAIN_SCAN_WASM_BASE64);
});
