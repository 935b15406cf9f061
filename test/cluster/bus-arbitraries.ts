// fast-check arbitraries and helpers for the cluster bus codec tests.
import fc from 'fast-check';
import { encodeBatch, headerBytes, messageBytes, type Batch, type BusMessage } from '../../src/cluster/bus-codec.js';

/** The relay's default --max-message-bytes. */
export const RELAY_MAX_MESSAGE = 262_144;

const refChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-'.split(''));
export const arbNodeRef = fc
  .tuple(
    fc.string({ unit: refChar, minLength: 1, maxLength: 64 }),
    fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 1, maxLength: 24 }),
  )
  .map(([id, inc]) => `${id}:${inc}`);

/** Any printable ASCII, 1–256 bytes: spaces, `*`, `{`, `:` … included. */
export const arbServerId = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 256,
});
const arbHex8 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 8, maxLength: 8 });
const arbEpoch = fc.maxSafeNat();
const arbCode = fc.integer({ min: 0, max: 0xffff });
const arbU32 = fc.integer({ min: 0, max: 0xffffffff });

/** Mostly small frames, sometimes one up to the relay's max message size. */
export const arbFrame = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc
      .record({ size: fc.integer({ min: 0, max: RELAY_MAX_MESSAGE }), seed: fc.integer({ min: 0, max: 255 }) })
      .map(({ size, seed }) => {
        const b = Buffer.allocUnsafe(size);
        for (let i = 0; i < size; i++) b[i] = (seed + i * 31) & 0xff;
        return b;
      }),
  },
);

export const arbSlotMessage: fc.Arbitrary<BusMessage> = fc
  .record({ serverId: arbServerId, epoch: arbEpoch, hex: arbHex8 })
  .chain(({ serverId, epoch, hex }) => {
    const connId = `client-${serverId}-${hex}`;
    const slot = { serverId, epoch };
    return fc.oneof(
      arbFrame.map((frame): BusMessage => ({ kind: 'frameToPhone', ...slot, connId, frame })),
      arbFrame.map((frame): BusMessage => ({ kind: 'frameToBinary', ...slot, connId, frame })),
      fc.constant<BusMessage>({ kind: 'phoneJoin', ...slot, connId }),
      arbCode.map((code): BusMessage => ({ kind: 'phoneLeave', ...slot, connId, code })),
      fc
        .tuple(arbCode, fc.option(arbFrame, { nil: undefined }))
        .map(([code, frame]): BusMessage => ({ kind: 'closeDirective', ...slot, connId, code, frame })),
      fc
        .tuple(arbCode, fc.constantFrom<1 | 2 | 3 | 4 | 5>(1, 2, 3, 4, 5), fc.boolean())
        .map(([code, reason, one]): BusMessage => ({ kind: 'evict', ...slot, connId: one ? connId : undefined, code, reason })),
      fc.constant<BusMessage>({ kind: 'pause', ...slot }),
      fc.constant<BusMessage>({ kind: 'resume', ...slot }),
      arbU32.map((requestId): BusMessage => ({ kind: 'probeRequest', ...slot, requestId })),
      fc.tuple(arbU32, fc.boolean()).map(([requestId, alive]): BusMessage => ({ kind: 'probeAnswer', ...slot, requestId, alive })),
    );
  });

/** A sequenced batch (seq ≥ 1) of 1–8 slot messages, or an empty epoch announcement (seq 1). */
export const arbBatch: fc.Arbitrary<Batch> = fc
  .record({
    src: arbNodeRef,
    dst: arbNodeRef,
    linkEpoch: arbU32,
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    flags: fc.integer({ min: 0, max: 3 }),
    messages: fc.array(arbSlotMessage, { minLength: 1, maxLength: 8 }),
    announce: fc.boolean(),
  })
  // fc.record objects have a null prototype; rebuild plain ones.
  .map(({ announce, ...r }) => (announce && r.seq % 5 === 0 ? { ...r, seq: 1, messages: [] } : { ...r }));

/** encodeBatch of a whole decoded batch. */
export function encodeWhole(b: Batch): Buffer {
  let size = headerBytes(b.src, b.dst);
  for (const m of b.messages) size += messageBytes(m);
  return encodeBatch(b, b.messages, 0, b.messages.length, size);
}
