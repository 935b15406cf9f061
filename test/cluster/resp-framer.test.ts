// RespFramer: any RESP2 stream, cut anywhere, comes out as the same bytes in pieces
// that each end on a value boundary; foreign bytes pass through untouched.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RespFramer } from '../../src/cluster/resp-framer.js';

type Resp = { t: '+' | '-' | ':'; line: string } | { t: '$'; data: Buffer | null } | { t: '*'; items: Resp[] | null };

function encode(v: Resp): Buffer {
  switch (v.t) {
    case '+':
    case '-':
    case ':':
      return Buffer.from(`${v.t}${v.line}\r\n`);
    case '$':
      return v.data === null ? Buffer.from('$-1\r\n') : Buffer.concat([Buffer.from(`$${v.data.length}\r\n`), v.data, Buffer.from('\r\n')]);
    case '*':
      return v.items === null ? Buffer.from('*-1\r\n') : Buffer.concat([Buffer.from(`*${v.items.length}\r\n`), ...v.items.map(encode)]);
  }
}

const line = fc.string({ unit: fc.constantFrom(...'abc XYZ019-:*$+'.split('')), maxLength: 20 });
const arbResp: fc.Arbitrary<Resp> = fc.letrec<{ v: Resp }>((tie) => ({
  v: fc.oneof(
    { maxDepth: 5, withCrossShrink: true },
    fc.record({ t: fc.constantFrom('+' as const, '-' as const, ':' as const), line }),
    // Bulk strings hold any bytes, CRLF and '*' included; sometimes long, sometimes null.
    fc.record({
      t: fc.constant('$' as const),
      data: fc.option(
        fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1000, maxLength: 70_000 })).map((a) => Buffer.from(a)),
        { freq: 8 },
      ),
    }),
    fc.record({ t: fc.constant('*' as const), items: fc.option(fc.array(tie('v'), { maxLength: 4 }), { freq: 8 }) }),
  ),
})).v;

/** Cuts `b` at the given fractions into chunks (some empty-free, possibly one byte). */
function cut(b: Buffer, fractions: number[]): Buffer[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * b.length)))].filter((p) => p > 0 && p < b.length).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(b.subarray(from, p));
    from = p;
  }
  out.push(b.subarray(from));
  return out;
}

/** What the framer passes on for one read. */
function feed(f: RespFramer, chunk: Buffer): Buffer[] {
  const out: Buffer[] = [];
  f.push(chunk, (b) => out.push(b));
  return out;
}

/** Whether `b` is a whole number of values (a fresh framer passes it all at once). */
function wholeValues(b: Buffer): boolean {
  const f = new RespFramer();
  const out = feed(f, b);
  return out.length === 1 && out[0]!.length === b.length && f.pendingBytes === 0;
}

test('any stream cut anywhere: same bytes out, in order, every piece whole values, nothing held at the end', () => {
  fc.assert(
    fc.property(
      fc.array(arbResp, { minLength: 1, maxLength: 6 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
      (values, fractions) => {
        const stream = Buffer.concat(values.map(encode));
        const f = new RespFramer();
        const pieces: Buffer[] = [];
        for (const chunk of cut(stream, fractions)) pieces.push(...feed(f, chunk));
        assert.equal(f.pendingBytes, 0);
        assert.equal(f.raw, false);
        assert.ok(Buffer.concat(pieces).equals(stream));
        for (const p of pieces) assert.ok(wholeValues(p), 'a piece ends on a value boundary');
      },
    ),
    { numRuns: 300 },
  );
});

test('a pub/sub message split inside its payload is held until complete, then joined once', () => {
  const payload = Buffer.alloc(40_000, 7);
  const msg = encode({
    t: '*',
    items: [
      { t: '$', data: Buffer.from('message') },
      { t: '$', data: Buffer.from('pb:bus:n1') },
      { t: '$', data: payload },
    ],
  });
  const f = new RespFramer();
  assert.deepEqual(feed(f, msg.subarray(0, 30)), []);
  assert.deepEqual(feed(f, msg.subarray(30, 20_000)), []);
  assert.equal(f.pendingBytes, 20_000);
  // The next read completes it and starts another value: the joined copy ends where the message does.
  const next = encode({ t: ':', line: '42' });
  const read = Buffer.concat([msg.subarray(20_000), next, Buffer.from('$5\r\nab')]);
  const out = feed(f, read);
  assert.equal(out.length, 2);
  assert.ok(out[0]!.equals(msg), 'the message, joined once');
  assert.ok(out[1]!.equals(next));
  assert.equal(out[1]!.buffer, read.buffer, 'what follows is a view of the read');
  assert.equal(f.pendingBytes, 6);
});

test('two whole values and the start of a third: the whole ones pass as a view of the read', () => {
  const a = encode({ t: ':', line: '1' });
  const b = encode({ t: '$', data: Buffer.from('hello') });
  const c = encode({ t: '$', data: Buffer.from('world') });
  const read = Buffer.concat([a, b, c.subarray(0, 4)]);
  const f = new RespFramer();
  const out = feed(f, read);
  assert.equal(out.length, 1);
  assert.ok(out[0]!.equals(Buffer.concat([a, b])));
  assert.equal(out[0]!.buffer, read.buffer, 'no copy');
  const last = feed(f, c.subarray(4));
  assert.equal(last.length, 1);
  assert.ok(last[0]!.equals(c));
});

for (const [what, bytes] of [
  ['a RESP3 type byte', '%1\r\n+a\r\n+b\r\n'],
  ['a bad length', '$1x\r\nab\r\n'],
  ['a length line without CR', '$2\nab\r\n'],
  ['a length longer than any integer', '*1234567890123456\r\n'],
] as const) {
  test(`${what}: everything passes through as read, from then on`, () => {
    const f = new RespFramer();
    const good = Buffer.from('+OK\r\n');
    const bad = Buffer.from(bytes);
    const read = Buffer.concat([good, bad]);
    assert.deepEqual(feed(f, read), [read]);
    assert.equal(f.raw, true);
    const later = Buffer.from('$3\r\nab');
    assert.equal(feed(f, later)[0], later);
  });
}

test('nesting deeper than 8 arrays is passed through, not recursed into', () => {
  const deep = Buffer.from('*1\r\n'.repeat(12) + ':1\r\n');
  const f = new RespFramer();
  assert.deepEqual(feed(f, deep), [deep]);
  assert.equal(f.raw, true);
});
