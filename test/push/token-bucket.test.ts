// The per-server-id token buckets on a controlled clock: burst, refill, the key
// cap (fail closed) and the sweep that keeps the map from growing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedBuckets } from '../../src/push/token-bucket.js';

function clocked(maxKeys = 100): { b: KeyedBuckets; at: (ms: number) => void } {
  let now = 0;
  const b = new KeyedBuckets({ burst: 6, refillMs: 10_000, maxKeys }, () => now);
  return { b, at: (ms) => void (now = ms) };
}

test('burst of 6, then one more per 10 s, per key', () => {
  const { b, at } = clocked();
  for (let i = 0; i < 6; i++) assert.ok(b.take('a'));
  assert.ok(!b.take('a'));
  assert.ok(b.take('b'), 'another key has its own bucket');
  at(9_999);
  assert.ok(!b.take('a'));
  at(10_000);
  assert.ok(b.take('a'));
  assert.ok(!b.take('a'));
  at(1_000_000);
  for (let i = 0; i < 6; i++) assert.ok(b.take('a'), 'refill caps at the burst');
  assert.ok(!b.take('a'));
});

test('at the key cap new keys are refused until buckets refill and are swept', () => {
  const { b, at } = clocked(3);
  for (const k of ['a', 'b', 'c']) for (let i = 0; i < 5; i++) assert.ok(b.take(k));
  assert.ok(!b.take('d'), 'full map: fail closed');
  assert.ok(b.take('a'), 'known keys keep working');
  at(500);
  assert.ok(!b.take('d'), 'no sweep more than once a second');
  at(20_000);
  assert.ok(!b.take('d'), 'buckets not yet full again are kept');
  at(60_000);
  assert.ok(b.take('d'), 'refilled buckets were swept');
  assert.equal(b.size, 1);
});

test('a flood of distinct keys never grows the map past its cap', () => {
  const { b, at } = clocked(1000);
  let admitted = 0;
  for (let i = 0; i < 50_000; i++) {
    at(i * 5);
    if (b.take(`k${i}`)) admitted++;
    assert.ok(b.size <= 1000);
  }
  assert.ok(admitted > 1000, 'keys swept over time make room again');
});
