// Tests for the bus batch codec: exact layout, a table of typed refusals, round trips for
// every kind (server-ids of any printable ASCII up to 256 bytes, frames up to the relay's
// max message size), and fuzzing: random bytes and mutated valid batches never throw and
// never decode into anything but what their bytes canonically say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BATCH_HEADER_BYTES,
  MESSAGE_HEADER_BYTES,
  decodeBatch,
  encodeBatch,
  encodeSelfProbe,
  headerBytes,
  LinkFlag,
  messageBytes,
  type Batch,
  type BusMessage,
  type DecodeError,
} from '../../src/cluster/bus-codec.js';
import { arbBatch, arbNodeRef, encodeWhole, RELAY_MAX_MESSAGE } from './bus-arbitraries.js';

const SRC = 'node-a:0f1e';
const DST = 'node-b:77aa';
const frame = Buffer.from('{"v":2,"type":"noise_msg","data":"QUJD"}');

function batch(messages: BusMessage[], seq = 1): Batch {
  return { src: SRC, dst: DST, linkEpoch: 3, seq, flags: 0, messages };
}

test('layout: header fields and one frame message, byte for byte', () => {
  const m: BusMessage = { kind: 'frameToPhone', serverId: 'srv', epoch: 2 ** 40 + 5, connId: 'client-srv-0123abcd', frame };
  const b = encodeWhole(batch([m], 2 ** 33 + 7));
  assert.equal(b.length, BATCH_HEADER_BYTES + SRC.length + DST.length + MESSAGE_HEADER_BYTES + 3 + 19 + frame.length);
  assert.equal(b.toString('latin1', 0, 2), 'PB');
  assert.equal(b[2], 1);
  assert.equal(b.readUInt32BE(4), 3);
  assert.equal(b.readUInt32BE(8), 2);
  assert.equal(b.readUInt32BE(12), 7);
  assert.equal(b.readUInt16BE(16), 1);
  const at = BATCH_HEADER_BYTES + SRC.length + DST.length;
  assert.equal(b[at], 1);
  assert.equal(b.readUInt32BE(at + 4), 256);
  assert.equal(b.readUInt32BE(at + 8), 5);
  assert.equal(b.readUInt32BE(at + 20), frame.length);
  assert.deepEqual(b.subarray(b.length - frame.length), frame);
  const d = decodeBatch(b);
  assert.ok(d.ok);
  assert.deepEqual(d.batch, batch([m], 2 ** 33 + 7));
});

test('decoded frames are views of the batch, not copies', () => {
  const b = encodeWhole(batch([{ kind: 'frameToBinary', serverId: 's', epoch: 1, connId: 'client-s-00000000', frame }]));
  const d = decodeBatch(b);
  assert.ok(d.ok);
  const m = d.batch.messages[0]!;
  assert.ok(m.kind === 'frameToBinary');
  assert.equal(m.frame.buffer, b.buffer);
  assert.equal(m.frame.byteOffset, b.byteOffset + b.length - frame.length);
});

test('close directive with and without a final frame are distinct', () => {
  const base = { kind: 'closeDirective', serverId: 's', epoch: 9, connId: 'client-s-00000000', code: 4401 } as const;
  for (const f of [undefined, Buffer.alloc(0), frame]) {
    const d = decodeBatch(encodeWhole(batch([{ ...base, frame: f }])));
    assert.ok(d.ok);
    assert.deepEqual(d.batch.messages[0], { ...base, frame: f });
  }
});

test('self-probe batch', () => {
  const d = decodeBatch(encodeSelfProbe(SRC, 0xdeadbeef));
  assert.ok(d.ok);
  assert.deepEqual(d.batch, { src: SRC, dst: SRC, linkEpoch: 0, seq: 0, flags: 0, messages: [{ kind: 'selfProbe', nonce: 0xdeadbeef }] });
});

test('refusals have typed reasons', () => {
  const good = encodeWhole(batch([{ kind: 'pause', serverId: 'srv', epoch: 1 }]));
  const msgAt = BATCH_HEADER_BYTES + SRC.length + DST.length;
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  const cases: [string, Buffer, DecodeError][] = [
    ['empty', Buffer.alloc(0), 'short'],
    ['header only, cut', good.subarray(0, 10), 'short'],
    ['bad magic', mutate((b) => (b[0] = 0x7b)), 'magic'],
    ['json', Buffer.from('{"conn_id":"x","frame":1}'), 'magic'],
    ['version 2', mutate((b) => (b[2] = 2)), 'version'],
    ['unknown batch flag', mutate((b) => (b[3] = 4)), 'flags'],
    ['zero count at seq 1 leaves the message trailing', mutate((b) => b.writeUInt16BE(0, 16)), 'trailing'],
    ['zero count after seq 1', mutate((b) => (b.writeUInt16BE(0, 16), b.writeUInt32BE(2, 12))), 'count'],
    ['count too high', mutate((b) => b.writeUInt16BE(2, 16)), 'count'],
    ['trailing byte', Buffer.concat([good, Buffer.from([0])]), 'trailing'],
    ['empty src', mutate((b) => (b[18] = 0)), 'node_ref'],
    ['space in src', mutate((b) => (b[BATCH_HEADER_BYTES] = 0x20)), 'node_ref'],
    ['kind 0', mutate((b) => (b[msgAt] = 0)), 'kind'],
    ['kind 12', mutate((b) => (b[msgAt] = 12)), 'kind'],
    ['code on pause', mutate((b) => b.writeUInt16BE(1000, msgAt + 2)), 'field'],
    ['aux on pause', mutate((b) => b.writeUInt32BE(1, msgAt + 12)), 'field'],
    ['message flags on pause', mutate((b) => (b[msgAt + 1] = 1)), 'field'],
    ['epoch beyond 2^53', mutate((b) => b.writeUInt32BE(0x200000, msgAt + 4)), 'field'],
    ['seq beyond 2^53', mutate((b) => b.writeUInt32BE(0x200000, 8)), 'field'],
    ['control char in server-id', mutate((b) => (b[b.length - 1] = 0x0a)), 'server_id'],
    ['DEL in server-id', mutate((b) => (b[b.length - 1] = 0x7f)), 'server_id'],
    ['seq 0 on a slot message', mutate((b) => b.writeUInt32BE(0, 12)), 'probe'],
  ];
  for (const [name, bytes, reason] of cases) {
    const d = decodeBatch(bytes);
    assert.equal(d.ok ? 'ok' : d.reason, reason, name);
  }
  const long = encodeWhole(batch([{ kind: 'pause', serverId: 'x'.repeat(257), epoch: 1 }]));
  assert.deepEqual(decodeBatch(long), { ok: false, reason: 'server_id' });
  const noConn = encodeWhole(batch([{ kind: 'phoneJoin', serverId: 's', epoch: 1, connId: '' }]));
  assert.deepEqual(decodeBatch(noConn), { ok: false, reason: 'conn_id' });
  const badReason = encodeWhole(batch([{ kind: 'evict', serverId: 's', epoch: 1, connId: undefined, code: 4404, reason: 1 }]));
  badReason.writeUInt32BE(9, msgAt + 12);
  assert.deepEqual(decodeBatch(badReason), { ok: false, reason: 'field' });
  const probeElsewhere = encodeSelfProbe(SRC, 1);
  probeElsewhere.writeUInt32BE(1, 12); // seq 1 on a self-probe
  assert.deepEqual(decodeBatch(probeElsewhere), { ok: false, reason: 'probe' });
});

test('an empty batch announces a new epoch with its flags; only at seq 1', () => {
  const announce: Batch = { src: SRC, dst: DST, linkEpoch: 9, seq: 1, flags: LinkFlag.restart, messages: [] };
  const bytes = encodeWhole(announce);
  assert.equal(bytes.length, headerBytes(SRC, DST));
  assert.deepEqual(decodeBatch(bytes), { ok: true, batch: announce });
  assert.deepEqual(decodeBatch(encodeWhole({ ...announce, seq: 2 })), { ok: false, reason: 'count' });
  const both = decodeBatch(encodeWhole({ ...announce, flags: LinkFlag.restart | LinkFlag.answer }));
  assert.ok(both.ok && both.batch.flags === 3);
});

test('a batch can be encoded from a slice of a message list', () => {
  const msgs: BusMessage[] = [0, 1, 2, 3].map((i) => ({ kind: 'resume', serverId: `s${i}`, epoch: i }));
  const size = headerBytes(SRC, DST) + messageBytes(msgs[1]!) + messageBytes(msgs[2]!);
  const d = decodeBatch(encodeBatch(batch([]), msgs, 1, 3, size));
  assert.ok(d.ok);
  assert.deepEqual(d.batch.messages, msgs.slice(1, 3));
});

test('property: encode → decode round trip for every kind', () => {
  fc.assert(
    fc.property(arbBatch, (b) => {
      const bytes = encodeWhole(b);
      const d = decodeBatch(bytes);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.deepEqual(d.batch, b);
    }),
    { numRuns: 400 },
  );
});

test('round trip of a frame at the relay max message size and a 256-byte server-id', () => {
  const big = Buffer.alloc(RELAY_MAX_MESSAGE, 0x41);
  const sid = Array.from({ length: 256 }, (_, i) => String.fromCharCode(0x20 + (i % 95))).join('');
  const b = batch([{ kind: 'frameToBinary', serverId: sid, epoch: Number.MAX_SAFE_INTEGER, connId: `client-${sid}-ffffffff`, frame: big }]);
  const d = decodeBatch(encodeWhole(b));
  assert.ok(d.ok);
  assert.deepEqual(d.batch, b);
});

/** The fuzz oracle: never throws; anything accepted re-encodes to exactly its input. */
function checkCanonical(bytes: Buffer): Batch | undefined {
  const d = decodeBatch(bytes);
  if (!d.ok) return undefined;
  assert.deepEqual(encodeWhole(d.batch), bytes);
  return d.batch;
}

test('fuzz: random bytes never throw and never decode ambiguously', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (a) => {
      checkCanonical(Buffer.from(a));
    }),
    { numRuns: 3000 },
  );
  // Random bytes behind a valid magic and version get further into the decoder.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (a) => {
      checkCanonical(Buffer.concat([Buffer.from([0x50, 0x42, 1, 0]), Buffer.from(a)]));
    }),
    { numRuns: 3000 },
  );
});

const arbMutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
);

test('fuzz: mutated valid batches never throw and never mis-decode into a different valid message', () => {
  fc.assert(
    fc.property(arbBatch, fc.array(arbMutation, { minLength: 1, maxLength: 4 }), (b, muts) => {
      let bytes = encodeWhole(b);
      for (const m of muts) {
        const at = bytes.length === 0 ? 0 : m.at % bytes.length;
        if (m.op === 'flip') bytes[at] = bytes[at]! ^ (1 << m.bit);
        else if (m.op === 'set') bytes[at] = m.value;
        else if (m.op === 'cut') bytes = bytes.subarray(0, at);
        else if (m.op === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.n)]);
      }
      const decoded = checkCanonical(bytes);
      // Canonical encoding means: the same messages only ever come from the same bytes.
      if (decoded !== undefined && !bytes.equals(encodeWhole(b))) assert.notDeepEqual(decoded, b);
    }),
    { numRuns: 1500 },
  );
});

test('fuzz: header fields swapped between two valid batches decode canonically', () => {
  fc.assert(
    fc.property(arbBatch, arbNodeRef, fc.nat(), (b, ref, cut) => {
      // A splice of another batch's tail onto this one's head: never throws, never ambiguous.
      const x = encodeWhole(b);
      const y = encodeWhole({ ...b, src: ref });
      checkCanonical(Buffer.concat([x.subarray(0, cut % (x.length + 1)), y.subarray(cut % (y.length + 1))]));
    }),
    { numRuns: 500 },
  );
});
