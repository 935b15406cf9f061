// Go duration syntax: accepted and rejected forms, overflow, and canonical formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoDuration, parseGoDuration, parseGoDurationNs } from '../../src/ops/duration.js';

// Expected values in nanoseconds, taken from Go's time package tests and behaviour.
const valid: [string, bigint][] = [
  ['0', 0n],
  ['+0', 0n],
  ['-0', 0n],
  ['0s', 0n],
  ['5s', 5_000_000_000n],
  ['30s', 30_000_000_000n],
  ['1478s', 1_478_000_000_000n],
  ['-5s', -5_000_000_000n],
  ['+5s', 5_000_000_000n],
  ['-0s', 0n],
  ['5.0s', 5_000_000_000n],
  ['5.6s', 5_600_000_000n],
  ['5.s', 5_000_000_000n],
  ['.5s', 500_000_000n],
  ['1.0s', 1_000_000_000n],
  ['1.00s', 1_000_000_000n],
  ['1.004s', 1_004_000_000n],
  ['1.0040s', 1_004_000_000n],
  ['100.00100s', 100_001_000_000n],
  ['1.5s', 1_500_000_000n],
  ['10ns', 10n],
  ['11us', 11_000n],
  ['12\u00b5s', 12_000n], // micro sign
  ['12\u03bcs', 12_000n], // greek mu
  ['1\u00b5s', 1_000n],
  ['1\u03bcs', 1_000n],
  ['300us', 300_000n],
  ['13ms', 13_000_000n],
  ['500ms', 500_000_000n],
  ['14s', 14_000_000_000n],
  ['15m', 900_000_000_000n],
  ['16h', 57_600_000_000_000n],
  ['3h30m', 12_600_000_000_000n],
  ['2h45m', 9_900_000_000_000n],
  ['1m30s', 90_000_000_000n],
  ['10.5s4m', 250_500_000_000n],
  ['-2m3.4s', -123_400_000_000n],
  ['1h2m3s4ms5us6ns', 3_723_004_005_006n],
  ['39h9m14.425s', 140_954_425_000_000n],
  ['52763797000ns', 52_763_797_000n],
  ['0.3333333333333333333h', 1_200_000_000_000n],
  ['9007199254740993ns', 9_007_199_254_740_993n],
  ['9223372036854775807ns', 9_223_372_036_854_775_807n],
  ['9223372036854775.807us', 9_223_372_036_854_775_807n],
  ['9223372036s854ms775us807ns', 9_223_372_036_854_775_807n],
  ['-9223372036854775808ns', -9_223_372_036_854_775_808n],
  ['-9223372036854775.808us', -9_223_372_036_854_775_808n],
  ['-2562047h47m16.854775808s', -9_223_372_036_854_775_808n],
  ['0.100000000000000000000h', 360_000_000_000n],
  ['0.830103483285477580700h', 2_988_372_539_827n], // 49m48.372539827s: digits past int64 precision are dropped,
];

test('parseGoDuration accepts Go syntax', async (t) => {
  for (const [input, ns] of valid) {
    await t.test(JSON.stringify(input), () => {
      assert.equal(parseGoDurationNs(input), ns);
      assert.equal(parseGoDuration(input), Number(ns) / 1e6);
    });
  }
});

test('parseGoDuration returns milliseconds', () => {
  assert.equal(parseGoDuration('1.5s'), 1500);
  assert.equal(parseGoDuration('1m30s'), 90_000);
  assert.equal(parseGoDuration('500ms'), 500);
  assert.equal(parseGoDuration('300us'), 0.3);
  assert.equal(parseGoDuration('2h45m'), 9_900_000);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('-1s'), -1000);
});

const invalid = [
  '',
  '1', // no unit
  '0.5', // only a bare "0" may omit the unit
  '00',
  '1x',
  '3', // no unit
  '-',
  '+',
  's',
  '.',
  '-.',
  '.s',
  '+.s',
  '-.s',
  ' 1s',
  '1s ',
  '1 s',
  '1S',
  '1sec',
  '1d',
  '1.5.5s',
  '1s2',
  '--1s',
  '+-1s',
  '1e3s',
  '0x10s',
  '1_000s',
  '\u00b5s',
  '1\u00b5',
  '9223372036854775808ns', // overflow
  '9223372036854775.808us',
  '9223372036854ms775us808ns',
  '-9223372036854775809ns',
  '3000000h',
  '9223372036854775810ns',
];

test('parseGoDuration rejects what Go rejects', async (t) => {
  for (const input of invalid) {
    await t.test(JSON.stringify(input), () => {
      assert.equal(parseGoDuration(input), undefined);
      assert.equal(parseGoDurationNs(input), undefined);
    });
  }
});

const formats: [number, string][] = [
  [0, '0s'],
  [0.000001, '1ns'],
  [0.0011, '1.1\u00b5s'],
  [0.3, '300\u00b5s'],
  [2.2, '2.2ms'],
  [500, '500ms'],
  [1000, '1s'],
  [1500, '1.5s'],
  [6000, '6s'],
  [30_000, '30s'],
  [90_000, '1m30s'],
  [60_000, '1m0s'],
  [3_600_000, '1h0m0s'],
  [9_900_000, '2h45m0s'],
  [3_723_004.005006, '1h2m3.004005006s'],
  [-1500, '-1.5s'],
  [-0.0011, '-1.1\u00b5s'],
];

test('formatGoDuration matches Go Duration.String', async (t) => {
  for (const [ms, text] of formats) {
    await t.test(text, () => assert.equal(formatGoDuration(ms), text));
  }
});

test('formatGoDuration output parses back to the same value', () => {
  for (const [ms] of formats) {
    const back = parseGoDuration(formatGoDuration(ms));
    assert.ok(back !== undefined);
    assert.ok(Math.abs(back - ms) < 1e-9, `${ms} -> ${formatGoDuration(ms)} -> ${back}`);
  }
});
