// Tests for the routing-envelope codec: a table per protocol.md §3.2 rule, exact-bytes
// checks for wrap/close notices, and properties for round trips and robustness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeBinaryEnvelope,
  encodeCloseNotice,
  isSendableCloseCode,
  makeWrapPrefix,
  wrapPhoneFrame,
  type BinaryEnvelope,
} from '../../src/relay/envelope.js';
import { arbFormattedJson, arbJsonValue, arbWs, render, renderString } from './json-arbitraries.js';

type Expected =
  | { kind: 'frame'; connId: string; frame: string; closeCode?: number }
  | { kind: 'close'; connId: string; closeCode: number }
  | { kind: 'wake'; wake: unknown }
  | { kind: 'drop'; reason: string };

function norm(e: BinaryEnvelope): Expected {
  switch (e.kind) {
    case 'frame':
      return e.closeCode === undefined
        ? { kind: 'frame', connId: e.connId, frame: e.frame.toString('utf8') }
        : { kind: 'frame', connId: e.connId, frame: e.frame.toString('utf8'), closeCode: e.closeCode };
    case 'close':
      return { kind: 'close', connId: e.connId, closeCode: e.closeCode };
    case 'wake':
      return { kind: 'wake', wake: e.wake };
    case 'drop':
      return { kind: 'drop', reason: e.reason };
  }
}

const F = (connId: string, frame: string, closeCode?: number): Expected =>
  closeCode === undefined ? { kind: 'frame', connId, frame } : { kind: 'frame', connId, frame, closeCode };
const C = (connId: string, closeCode: number): Expected => ({ kind: 'close', connId, closeCode });
const W = (wake: unknown): Expected => ({ kind: 'wake', wake });
const D = (reason: string): Expected => ({ kind: 'drop', reason });

const ID = 'client-abc-0123abcd';
const NOISE = '{"v":2,"type":"noise_resp","data":"QUJDRA=="}';

const table: [string, string, Expected][] = [
  // Well-formed shapes from protocol.md §3.2.
  ['frame', `{"conn_id":"${ID}","frame":${NOISE}}`, F(ID, NOISE)],
  ['frame then close', `{"conn_id":"${ID}","frame":${NOISE},"close_code":4401}`, F(ID, NOISE, 4401)],
  ['close only, frame null', `{"conn_id":"${ID}","frame":null,"close_code":4408}`, C(ID, 4408)],
  ['close only, frame absent', `{"conn_id":"${ID}","close_code":4408}`, C(ID, 4408)],
  ['push wake', '{"push_wake":{"platform":"fcm","token":"t"}}', W({ platform: 'fcm', token: 't' })],
  // Frame span: exact bytes, no surrounding whitespace, any JSON type.
  ['frame with whitespace', `{ "conn_id" : "${ID}" ,\n "frame" :\t ${NOISE} \r\n}`, F(ID, NOISE)],
  ['frame is a number kept verbatim', `{"conn_id":"a","frame":12345678901234567890.50e+3}`, F('a', '12345678901234567890.50e+3')],
  ['frame is a string', `{"conn_id":"a","frame":"x\\u0041"}`, F('a', '"x\\u0041"')],
  ['frame is false', `{"conn_id":"a","frame":false}`, F('a', 'false')],
  ['frame is an empty array', `{"conn_id":"a","frame":[ ]}`, F('a', '[ ]')],
  ['frame with inner whitespace kept', `{"conn_id":"a","frame":{ "v" : 2 }}`, F('a', '{ "v" : 2 }')],
  ['frame before conn_id', `{"frame":${NOISE},"conn_id":"a"}`, F('a', NOISE)],
  ['close_code first', `{"close_code":4401,"frame":[1],"conn_id":"a"}`, F('a', '[1]', 4401)],
  // Unknown fields anywhere.
  ['unknown fields', `{"x_a":{"frame":1},"conn_id":"a","token":"t","frame":[1],"x_b":[{"conn_id":2}]}`, F('a', '[1]')],
  ['key that prefixes a known key', `{"conn_id":"a","framex":1,"fram":2,"frame":3}`, F('a', '3')],
  // Duplicate keys: last wins.
  ['duplicate conn_id', `{"conn_id":"a","conn_id":"b","frame":1}`, F('b', '1')],
  ['duplicate conn_id, bad then good', `{"conn_id":5,"conn_id":"b","frame":1}`, F('b', '1')],
  ['duplicate conn_id, good then null', `{"conn_id":"a","conn_id":null,"frame":1}`, D('missing_conn_id')],
  ['duplicate frame', `{"conn_id":"a","frame":1,"frame":2}`, F('a', '2')],
  ['duplicate frame, last null', `{"conn_id":"a","frame":1,"frame":null}`, D('missing_frame')],
  ['duplicate close_code', `{"conn_id":"a","frame":1,"close_code":1,"close_code":4401}`, F('a', '1', 4401)],
  ['duplicate close_code, last 0', `{"conn_id":"a","frame":1,"close_code":4401,"close_code":0}`, F('a', '1')],
  // Escaped keys compare after unescaping.
  ['escaped conn_id key', `{"conn\\u005fid":"a","frame":1}`, F('a', '1')],
  ['fully escaped frame key', `{"conn_id":"a","\\u0066\\u0072\\u0061\\u006d\\u0065":1}`, F('a', '1')],
  ['escaped close_code key', `{"conn_id":"a","close\\u005Fcode":4401}`, C('a', 4401)],
  ['escaped push_wake key', `{"push\\u005fwake":1}`, W(1)],
  ['escaped key that is not known', `{"conn_id":"a","frame\\n":1}`, D('missing_frame')],
  ['escaped slash key', `{"conn_id":"a","\\/frame":1}`, D('missing_frame')],
  // conn_id values.
  ['escaped conn_id value', `{"conn_id":"a\\"b\\u00e9\\n","frame":1}`, F('a"bé\n', '1')],
  ['unicode conn_id value', `{"conn_id":"héllo😀","frame":1}`, F('héllo😀', '1')],
  ['conn_id escaped to empty is absent', `{"conn_id":"","frame":1}`, D('missing_conn_id')],
  ['conn_id null', `{"conn_id":null,"frame":1}`, D('missing_conn_id')],
  ['conn_id absent', `{"frame":1}`, D('missing_conn_id')],
  ['conn_id number', `{"conn_id":1,"frame":1}`, D('malformed')],
  ['conn_id true', `{"conn_id":true,"frame":1}`, D('malformed')],
  ['conn_id object', `{"conn_id":{},"frame":1}`, D('malformed')],
  ['conn_id array', `{"conn_id":["a"],"frame":1}`, D('malformed')],
  // Push wake.
  ['wake with conn_id "" ', `{"conn_id":"","push_wake":{"platform":"fcm"}}`, W({ platform: 'fcm' })],
  ['wake with conn_id null', `{"conn_id":null,"push_wake":"x"}`, W('x')],
  ['wake null', `{"push_wake":null}`, D('missing_conn_id')],
  ['wake false is present', `{"push_wake":false}`, W(false)],
  ['wake with frame and no conn_id', `{"push_wake":[1],"frame":2}`, W([1])],
  ['wake ignored when conn_id present', `{"conn_id":"a","push_wake":{"t":1},"frame":2}`, F('a', '2')],
  ['wake ignored, conn_id present, no frame', `{"conn_id":"a","push_wake":{"t":1}}`, D('missing_frame')],
  ['wake ignores close_code validity', `{"push_wake":1,"close_code":"bad"}`, W(1)],
  ['empty object', '{}', D('missing_conn_id')],
  ['empty object with whitespace', ' {\n} ', D('missing_conn_id')],
  // Missing frame.
  ['frame absent', `{"conn_id":"a"}`, D('missing_frame')],
  ['frame null', `{"conn_id":"a","frame":null}`, D('missing_frame')],
  ['frame absent, close 0', `{"conn_id":"a","close_code":0}`, D('missing_frame')],
  ['frame null, close null', `{"conn_id":"a","frame":null,"close_code":null}`, D('missing_frame')],
  ['close null means absent', `{"conn_id":"a","frame":1,"close_code":null}`, F('a', '1')],
  ['close 0 means absent', `{"conn_id":"a","frame":1,"close_code":0}`, F('a', '1')],
  ['close -0 means absent', `{"conn_id":"a","frame":1,"close_code":-0}`, F('a', '1')],
  // close_code values.
  ['close 1000', `{"conn_id":"a","close_code":1000}`, C('a', 1000)],
  ['close 1014', `{"conn_id":"a","close_code":1014}`, C('a', 1014)],
  ['close 3000', `{"conn_id":"a","close_code":3000}`, C('a', 3000)],
  ['close 4999', `{"conn_id":"a","close_code":4999}`, C('a', 4999)],
  ['close 999', `{"conn_id":"a","close_code":999}`, D('bad_close_code')],
  ['close 1004', `{"conn_id":"a","close_code":1004}`, D('bad_close_code')],
  ['close 1005', `{"conn_id":"a","close_code":1005}`, D('bad_close_code')],
  ['close 1006', `{"conn_id":"a","close_code":1006}`, D('bad_close_code')],
  ['close 1015', `{"conn_id":"a","close_code":1015}`, D('bad_close_code')],
  ['close 2999', `{"conn_id":"a","close_code":2999}`, D('bad_close_code')],
  ['close 5000', `{"conn_id":"a","close_code":5000}`, D('bad_close_code')],
  ['close 44010', `{"conn_id":"a","close_code":44010}`, D('bad_close_code')],
  ['close huge', `{"conn_id":"a","close_code":100000000000000000000004401}`, D('bad_close_code')],
  ['close negative', `{"conn_id":"a","close_code":-4401}`, D('bad_close_code')],
  ['close fraction', `{"conn_id":"a","close_code":4401.0}`, D('bad_close_code')],
  ['close fraction 0.0', `{"conn_id":"a","frame":1,"close_code":0.0}`, D('bad_close_code')],
  ['close exponent', `{"conn_id":"a","close_code":4.401e3}`, D('bad_close_code')],
  ['close exponent integer', `{"conn_id":"a","close_code":4401e0}`, D('bad_close_code')],
  ['close string', `{"conn_id":"a","close_code":"4401"}`, D('bad_close_code')],
  ['close true', `{"conn_id":"a","close_code":true}`, D('bad_close_code')],
  ['close array', `{"conn_id":"a","close_code":[4401]}`, D('bad_close_code')],
  ['close object', `{"conn_id":"a","close_code":{}}`, D('bad_close_code')],
  ['bad close with valid frame', `{"conn_id":"a","frame":1,"close_code":1006}`, D('bad_close_code')],
  // Not an object / not JSON.
  ['array', '[1,2]', D('not_object')],
  ['string', '"{}"', D('not_object')],
  ['number', ' 42 ', D('not_object')],
  ['null', 'null', D('not_object')],
  ['empty input', '', D('malformed')],
  ['whitespace only', ' \n', D('malformed')],
  ['garbage', 'hello', D('malformed')],
  ['truncated object', `{"conn_id":"a","frame":1`, D('malformed')],
  ['truncated frame', `{"conn_id":"a","frame":{"v":2}`, D('malformed')],
  ['trailing garbage', `{"conn_id":"a","frame":1}x`, D('malformed')],
  ['two objects', `{"conn_id":"a","frame":1}{}`, D('malformed')],
  ['trailing comma', `{"conn_id":"a","frame":1,}`, D('malformed')],
  ['missing colon', `{"conn_id" "a","frame":1}`, D('malformed')],
  ['unquoted key', `{conn_id:"a","frame":1}`, D('malformed')],
  ['invalid frame JSON', `{"conn_id":"a","frame":{v:2}}`, D('malformed')],
  ['invalid unknown field', `{"conn_id":"a","frame":1,"x":tru}`, D('malformed')],
  ['bad escape in key', `{"conn_id":"a","fr\\ame":1}`, D('malformed')],
  ['raw control char in conn_id', `{"conn_id":"a\tb","frame":1}`, D('malformed')],
  ['invalid but non-object prefix', '[1,', D('malformed')],
  ['leading BOM', `\ufeff{"conn_id":"a","frame":1}`, D('malformed')],
];

test('decodeBinaryEnvelope (table)', () => {
  for (const [name, input, want] of table) {
    assert.deepEqual(norm(decodeBinaryEnvelope(Buffer.from(input))), want, name);
  }
});

test('decoded frame is a view into the input, not a copy', () => {
  const buf = Buffer.from(`{"conn_id":"a","frame":${NOISE}}`);
  const d = decodeBinaryEnvelope(buf);
  assert.equal(d.kind, 'frame');
  if (d.kind !== 'frame') return;
  assert.equal(d.frame.buffer, buf.buffer);
  assert.equal(d.frame.byteOffset, buf.byteOffset + buf.indexOf('{"v"'));
});

test('isSendableCloseCode matches the ws library rule', () => {
  const ok = (c: number): boolean => (c >= 1000 && c <= 1014 && c !== 1004 && c !== 1005 && c !== 1006) || (c >= 3000 && c <= 4999);
  for (let c = 0; c <= 6000; c++) assert.equal(isSendableCloseCode(c), ok(c), String(c));
});

test('makeWrapPrefix and wrapPhoneFrame produce the exact envelope bytes', () => {
  const cases: [string, string, string][] = [
    [ID, NOISE, `{"conn_id":"${ID}","frame":${NOISE}}`],
    ['a"b\\c\n\u0001é', '1', '{"conn_id":"a\\"b\\\\c\\n\\u0001é","frame":1}'],
    ['x', ' \n[ 1 ]\t', '{"conn_id":"x","frame": \n[ 1 ]\t}'],
    ['lone\ud800', 'null', '{"conn_id":"lone\\ud800","frame":null}'],
    ['', '""', '{"conn_id":"","frame":""}'],
  ];
  for (const [id, frame, want] of cases) {
    const out = wrapPhoneFrame(makeWrapPrefix(id), Buffer.from(frame));
    assert.equal(out.toString('utf8'), want);
    assert.equal((JSON.parse(out.toString('utf8')) as { conn_id: string }).conn_id, id);
  }
});

test('encodeCloseNotice produces the exact notice bytes', () => {
  assert.equal(encodeCloseNotice(ID, 1001).toString(), `{"conn_id":"${ID}","close_code":1001}`);
  assert.equal(encodeCloseNotice('a"b', 1007).toString(), '{"conn_id":"a\\"b","close_code":1007}');
  assert.equal(encodeCloseNotice('a', 4401).toString(), '{"conn_id":"a","close_code":4401}');
  assert.equal(encodeCloseNotice('a', Number.NaN).toString(), '{"conn_id":"a","close_code":1001}');
  assert.equal(encodeCloseNotice('a', 1000.5).toString(), '{"conn_id":"a","close_code":1001}');
  // The binary-side decoder reads it back as a close directive for the same id.
  assert.deepEqual(norm(decodeBinaryEnvelope(encodeCloseNotice(ID, 4408))), C(ID, 4408));
});

const arbConnId = fc.oneof(
  fc.stringMatching(/^[0-9a-f]{8}$/).map((h) => `client-srv-${h}`),
  fc.string({ minLength: 1 }),
  fc.string({ minLength: 1, unit: 'grapheme' }),
);

test('property: wrap then decode returns the exact frame bytes and conn_id', () => {
  fc.assert(
    fc.property(arbConnId, arbFormattedJson, (connId, { value, text }) => {
      // A phone frame `null` wraps to "frame":null, which by §3.2 reads as "no frame".
      fc.pre(value !== null);
      const frame = Buffer.from(text);
      const wrapped = wrapPhoneFrame(makeWrapPrefix(connId), frame);
      const d = decodeBinaryEnvelope(wrapped);
      assert.equal(d.kind, 'frame');
      if (d.kind !== 'frame') return;
      assert.equal(d.connId, connId);
      assert.equal(d.closeCode, undefined);
      assert.equal(d.frame.toString('utf8'), text.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, ''));
      assert.deepEqual((JSON.parse(wrapped.toString('utf8')) as { frame: unknown }).frame, JSON.parse(text));
    }),
    { numRuns: 2000 },
  );
});

const arbExtraKey = fc.string().filter((k) => !['conn_id', 'frame', 'close_code', 'push_wake'].includes(k));
const arbCloseCode = fc.oneof(fc.constantFrom(1000, 1001, 1011, 4401, 4408, 4999), fc.integer({ min: 3000, max: 4999 }));

test('property: envelope with extra fields and whitespace yields the exact frame span', () => {
  fc.assert(
    fc.property(
      fc.record({
        connId: arbConnId,
        frame: arbJsonValue,
        close: fc.option(arbCloseCode, { nil: undefined }),
        wake: fc.option(arbJsonValue, { nil: undefined }),
        extras: fc.array(fc.tuple(arbExtraKey, arbJsonValue), { maxLength: 4 }),
        ws: fc.array(arbWs, { minLength: 1, maxLength: 8 }),
        seed: fc.nat(),
        escapeKeys: fc.boolean(),
      }),
      ({ connId, frame, close, wake, extras, ws, seed, escapeKeys }) => {
        fc.pre(frame !== null); // "frame":null means no frame (covered by the table)
        const frameText = render(frame, ws, seed).replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
        const members: [string, string][] = [
          [renderString('conn_id', escapeKeys), renderString(connId, seed % 2 === 0)],
          [renderString('frame', escapeKeys), frameText],
        ];
        if (close !== undefined) members.push(['"close_code"', String(close)]);
        if (wake !== undefined) members.push(['"push_wake"', JSON.stringify(wake)]);
        for (const [k, v] of extras) members.push([JSON.stringify(k), render(v, ws, seed + 1)]);
        // Rotate members by seed so known keys appear at any position.
        const r = seed % members.length;
        const ordered = [...members.slice(r), ...members.slice(0, r)];
        let i = 0;
        const w = (): string => ws[i++ % ws.length]!;
        const text = w() + '{' + ordered.map(([k, v]) => w() + k + w() + ':' + w() + v + w()).join(',') + '}' + w();
        assert.deepEqual((JSON.parse(text) as { frame: unknown }).frame, JSON.parse(JSON.stringify(frame)));
        const d = decodeBinaryEnvelope(Buffer.from(text));
        assert.equal(d.kind, 'frame');
        if (d.kind !== 'frame') return;
        assert.equal(d.connId, connId);
        assert.equal(d.closeCode, close);
        assert.equal(d.frame.toString('utf8'), frameText);
      },
    ),
    { numRuns: 2000 },
  );
});

/** The decision the rules in protocol.md §3.2 give for a parsed envelope (reference model). */
function model(text: string): Expected {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return D('malformed');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return D('not_object');
  const o = v as Record<string, unknown>;
  const connId = o.conn_id;
  if (connId !== undefined && connId !== null && typeof connId !== 'string') return D('malformed');
  if (connId === undefined || connId === null || connId === '') {
    return o.push_wake !== undefined && o.push_wake !== null ? W(o.push_wake) : D('missing_conn_id');
  }
  return D('?'); // frame/close paths are covered by the exact-span properties above
}

test('property: decode agrees with a JSON.parse reference model on routing class', () => {
  const arbEnvelopeish = fc.oneof(
    arbFormattedJson.map((f) => f.text),
    fc
      .record({
        conn: fc.option(fc.oneof(fc.string(), fc.jsonValue()), { nil: undefined }),
        wake: fc.option(fc.jsonValue(), { nil: undefined }),
        frame: fc.option(fc.jsonValue(), { nil: undefined }),
        ws: fc.array(arbWs, { maxLength: 4 }),
        seed: fc.nat(),
      })
      .map(({ conn, wake, frame, ws, seed }) => render({ conn_id: conn, push_wake: wake, frame }, ws, seed)),
  );
  fc.assert(
    fc.property(arbEnvelopeish, (text) => {
      const want = model(text);
      const got = norm(decodeBinaryEnvelope(Buffer.from(text)));
      if (want.kind === 'drop' && want.reason === '?') {
        assert.ok(got.kind === 'frame' || got.kind === 'close' || got.kind === 'drop', text);
        if (got.kind !== 'drop') assert.equal(got.connId, (JSON.parse(text) as { conn_id: string }).conn_id);
      } else {
        assert.deepEqual(got, want, text);
      }
    }),
    { numRuns: 3000 },
  );
});

test('property: decode never throws on arbitrary strings or bytes', () => {
  const alphabet = fc.constantFrom(
    ...'{}[]:,"\\ 0123456789-.enulltrue'.split(''),
    '"conn_id"',
    '"frame"',
    '"close_code"',
    '"push_wake"',
    '4401',
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string().map((s) => Buffer.from(s)),
        fc.string({ unit: alphabet, maxLength: 40 }).map((s) => Buffer.from(s)),
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      ),
      (buf) => {
        const d = decodeBinaryEnvelope(buf);
        assert.ok(['frame', 'close', 'wake', 'drop'].includes(d.kind));
      },
    ),
    { numRuns: 5000 },
  );
});

test('decode handles deeply nested input without throwing', () => {
  const n = 200_000;
  assert.deepEqual(norm(decodeBinaryEnvelope(Buffer.from('['.repeat(n)))), D('malformed'));
  assert.deepEqual(norm(decodeBinaryEnvelope(Buffer.from('['.repeat(n) + ']'.repeat(n)))), D('not_object'));
  const deep = '['.repeat(n) + ']'.repeat(n);
  const d = decodeBinaryEnvelope(Buffer.from(`{"conn_id":"a","frame":${deep}}`));
  assert.equal(d.kind, 'frame');
  assert.equal(d.kind === 'frame' && d.frame.length, deep.length);
  const wake = decodeBinaryEnvelope(Buffer.from(`{"push_wake":${deep}}`));
  assert.equal(wake.kind, 'wake');
});

test('property: conn_id strings stay exact across repeats, overwritten cache slots and reused buffers', () => {
  // A small alphabet makes ids repeat (cache hits); more ids than cache slots force
  // overwrites; one scratch buffer rewritten in place stands for ws reusing memory.
  const id = fc.string({ unit: fc.constantFrom('a', 'b', 'é', '-', '0'), minLength: 1, maxLength: 6 });
  const long = fc.string({ minLength: 120, maxLength: 200 }).map((s) => `x${s}`);
  const scratch = Buffer.alloc(4096);
  fc.assert(
    fc.property(fc.array(fc.oneof(id, long), { minLength: 1, maxLength: 600 }), (ids) => {
      for (const connId of ids) {
        const text = `{"conn_id":${JSON.stringify(connId)},"frame":1}`;
        const n = scratch.write(text, 0, 'utf8');
        const env = decodeBinaryEnvelope(scratch.subarray(0, n));
        assert.equal(env.kind, 'frame');
        assert.equal((env as { connId: string }).connId, connId);
      }
    }),
    { numRuns: 200 },
  );
});

test('a wrap prefix owns exactly its bytes (it lives as long as the phone, so it must not pin a pool chunk)', () => {
  const prefix = makeWrapPrefix('client-srv-0123abcd');
  assert.equal(prefix.toString(), '{"conn_id":"client-srv-0123abcd","frame":');
  assert.equal(prefix.buffer.byteLength, prefix.length);
});
