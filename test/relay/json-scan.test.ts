// Tests for the byte-level JSON validator/scanner: example tables for each grammar rule,
// and properties checking agreement with JSON.parse on valid and garbled input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { isJsonValue, scanValue, skipWs } from '../../src/relay/json-scan.js';
import { arbFormattedJson, arbMutatedJson } from './json-arbitraries.js';

function parses(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

const valid: string[] = [
  '0',
  '-0',
  '1',
  '-1',
  '123',
  '1.5',
  '-1.5',
  '0.0',
  '1e5',
  '1E5',
  '1e+5',
  '1e-5',
  '1.25e-10',
  '12345678901234567890123456789',
  '0e0',
  'true',
  'false',
  'null',
  '""',
  '"a"',
  '"\\""',
  '"\\\\"',
  '"\\/"',
  '"\\b\\f\\n\\r\\t"',
  '"\\u0000"',
  '"\\uABCD"',
  '"\\uabcd"',
  '"\\ud800"',
  '"é漢😀"',
  '"\x7f"',
  '"\u2028"',
  '[]',
  '[ ]',
  '[1]',
  '[1,2,3]',
  '[ 1 , 2 ]',
  '[[[]]]',
  '[{}]',
  '[null,true,false]',
  '{}',
  '{ }',
  '{"a":1}',
  '{ "a" : 1 , "b" : [ ] }',
  '{"a":{"b":{"c":{}}}}',
  '{"":""}',
  '{"a":1,"a":2}',
  ' 1',
  '1 ',
  ' \t\n\r1\r\n\t ',
  '\n{"v":2,"type":"noise_msg","data":"QUJD"}\n',
];

const invalid: string[] = [
  '',
  ' ',
  '\t\n',
  'x',
  'nul',
  'nulll',
  'tru',
  'True',
  'NULL',
  'fals',
  'falsey',
  'undefined',
  'NaN',
  'Infinity',
  '-',
  '+1',
  '01',
  '-01',
  '00',
  '1.',
  '.5',
  '1.e5',
  '1e',
  '1e+',
  '1e-',
  '-a',
  '0x10',
  '1_000',
  '- 1',
  '"',
  '"abc',
  '"\\"',
  '"\\x"',
  '"\\u12"',
  '"\\u12G4"',
  '"\\U1234"',
  '"\t"',
  '"\n"',
  '"\x00"',
  '"\x1f"',
  "'a'",
  '[',
  ']',
  '[1',
  '[1,]',
  '[,1]',
  '[1 2]',
  '[1,,2]',
  '{',
  '}',
  '{"a"}',
  '{"a":}',
  '{"a" 1}',
  '{a:1}',
  '{"a":1,}',
  '{,}',
  '{"a":1 "b":2}',
  '{1:2}',
  '{"a":1]',
  '[1}',
  '1 2',
  '{} {}',
  '[] x',
  '1,',
  'null,',
  '\f1',
  '\v1',
  '\u00a01',
  '1\u00a0',
];

test('isJsonValue accepts valid JSON (table)', () => {
  for (const s of valid) {
    assert.equal(parses(s), true, `fixture should be valid: ${JSON.stringify(s)}`);
    assert.equal(isJsonValue(Buffer.from(s)), true, JSON.stringify(s));
  }
});

test('isJsonValue rejects invalid JSON (table)', () => {
  for (const s of invalid) {
    assert.equal(parses(s), false, `fixture should be invalid: ${JSON.stringify(s)}`);
    assert.equal(isJsonValue(Buffer.from(s)), false, JSON.stringify(s));
  }
});

test('isJsonValue honours start/end and never reads past end', () => {
  const buf = Buffer.from('xx[1,2]yy');
  assert.equal(isJsonValue(buf, 2, 7), true);
  assert.equal(isJsonValue(buf, 2, 6), false);
  assert.equal(isJsonValue(buf, 2, 8), false);
  // A value cut off exactly at `end` must not be completed by bytes after it.
  assert.equal(isJsonValue(Buffer.from('"ab"'), 0, 3), false);
  assert.equal(isJsonValue(Buffer.from('true'), 0, 3), false);
  assert.equal(isJsonValue(Buffer.from('12e5'), 0, 3), false);
  assert.equal(isJsonValue(Buffer.from('"\\u0041"'), 0, 6), false);
  assert.equal(isJsonValue(Buffer.from('-1'), 0, 1), false);
});

test('scanValue returns the end of the first value and ignores what follows', () => {
  const cases: [string, number, number][] = [
    ['1,', 0, 1],
    ['"a"x', 0, 3],
    ['{"a":[1,{"b":2}]} tail', 0, 17],
    ['[] []', 0, 2],
    ['-12.5e3]', 0, 7],
    ['  null', 2, 6],
    ['truex', 0, 4],
    ['x', 0, -1],
    [' 1', 0, -1],
    ['', 0, -1],
    ['[1', 0, -1],
    ['{"a":1', 0, -1],
  ];
  for (const [s, start, want] of cases) {
    assert.equal(scanValue(Buffer.from(s), start, Buffer.byteLength(s)), want, JSON.stringify(s));
  }
  assert.equal(skipWs(Buffer.from(' \t\r\nx'), 0, 5), 4);
  assert.equal(skipWs(Buffer.from('   '), 0, 3), 3);
});

test('deep nesting never overflows the stack', () => {
  const n = 200_000;
  for (const [open, close] of [
    ['[', ']'],
    ['{"a":', '}'],
  ] as const) {
    assert.equal(isJsonValue(Buffer.from(open.repeat(n))), false);
    assert.equal(isJsonValue(Buffer.from(open.repeat(n) + close.repeat(n))), open === '['); // {"a":} lacks a value
    assert.equal(isJsonValue(Buffer.from(open.repeat(n) + '1' + close.repeat(n))), true);
    assert.equal(isJsonValue(Buffer.from(open.repeat(n) + '1' + close.repeat(n - 1))), false);
  }
  assert.equal(isJsonValue(Buffer.from('[{"a":'.repeat(50_000) + '0' + '}]'.repeat(50_000))), true);
  assert.equal(isJsonValue(Buffer.from('[{"a":'.repeat(50_000) + '0' + ']}'.repeat(50_000))), false);
  // A shallow value after a deep one still works (the shared stack is reusable).
  assert.equal(isJsonValue(Buffer.from('[[1],{"b":[2]}]')), true);
});

test('property: agrees with JSON.parse on formatted valid JSON', () => {
  fc.assert(
    fc.property(arbFormattedJson, ({ text }) => {
      assert.equal(parses(text), true);
      assert.equal(isJsonValue(Buffer.from(text)), true);
    }),
    { numRuns: 2000 },
  );
});

test('property: agrees with JSON.parse on mutated and truncated JSON', () => {
  fc.assert(
    fc.property(arbMutatedJson, (buf) => {
      fc.pre(isUtf8(buf)); // the validator's documented precondition
      assert.equal(isJsonValue(buf), parses(buf.toString('utf8')), JSON.stringify(buf.toString('utf8')));
    }),
    { numRuns: 5000 },
  );
});

test('property: agrees with JSON.parse on arbitrary strings', () => {
  const alphabet = fc.constantFrom(...'{}[]:,"\\ \t\n\r0123456789-+.eEtrufalsn/bu\x00\x1fA'.split(''));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: alphabet, maxLength: 30 }), fc.string(), fc.string({ unit: 'grapheme' })), (s) => {
      assert.equal(isJsonValue(Buffer.from(s)), parses(s), JSON.stringify(s));
    }),
    { numRuns: 5000 },
  );
});

test('property: never throws on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const buf = Buffer.from(bytes);
      const start = bytes.length === 0 ? 0 : a % bytes.length;
      const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
      isJsonValue(buf);
      isJsonValue(buf, start, end);
      const r = scanValue(buf, start, end);
      assert.ok(r === -1 || (r > start && r <= end));
    }),
    { numRuns: 3000 },
  );
});

// isJsonValue scans long strings with the SIMD module (plain-scan.ts); scanValue called
// outside a scan scope uses the JavaScript word loop. Both must agree with JSON.parse.
test('long strings: SIMD and word-at-a-time paths at every alignment and special-byte position', () => {
  const specials = ['"', '\\', '\\n', '\\u00e9', '\x00', '\x1f', '\t', 'é', '😀', '\x7f', '#', '!', ' '];
  const pool = Buffer.alloc(256, 0x20); // shared ArrayBuffer, sliced at odd offsets
  for (let len = 30; len <= 44; len++) {
    for (let at = 0; at < len; at++) {
      for (const sp of specials) {
        const text = '"' + 'A'.repeat(at) + sp + 'B'.repeat(len - at) + '"';
        const bytes = Buffer.from(text);
        for (let off = 0; off < 4; off++) {
          bytes.copy(pool, off);
          const view = pool.subarray(off, off + bytes.length);
          assert.equal(isJsonValue(view), parses(text), `${JSON.stringify(text)} @${off}`);
          assert.equal(isJsonValue(view, 0, bytes.length - 1), false);
          assert.equal(scanValue(view, 0, view.length) === view.length, parses(text), `JS path ${JSON.stringify(text)} @${off}`);
        }
      }
    }
  }
});
