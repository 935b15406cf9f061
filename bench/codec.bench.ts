// Micro-benchmark for the envelope codec hot path: wrap (phone → binary), decode
// (binary → phone) and phone-frame validation, at 1 KiB and 64 KiB frames; and the
// cluster bus codec: a batch of 64 × 1 KiB frames encoded and decoded.
// Each case is paired with a baseline measured in the same run (Buffer.concat for wrap,
// JSON.parse for decode/validate), and reported as a ratio, because the machine is noisy.
import { randomBytes } from 'node:crypto';
import { decodeBinaryEnvelope, makeWrapPrefix, wrapPhoneFrame } from '../src/relay/envelope.js';
import { isJsonValue } from '../src/relay/json-scan.js';
import { decodeBatch, encodeBatch, headerBytes, messageBytes, type BusMessage } from '../src/cluster/bus-codec.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 150);

let sink = 0; // consumed at the end so the JIT cannot drop the work

/** Runs `fn` in batches for ROUND_MS per round; returns the median ops/s over ROUNDS. */
function measure(fn: () => number): number {
  let batch = 1;
  // Warm-up, which also sizes the batch to ~1 ms so the clock is read rarely.
  const warmEnd = performance.now() + ROUND_MS;
  while (performance.now() < warmEnd) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) sink += fn();
    if (performance.now() - t0 < 1) batch *= 2;
  }
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let ops = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ROUND_MS) {
      for (let i = 0; i < batch; i++) sink += fn();
      ops += batch;
      t = performance.now();
    }
    rates.push((ops * 1000) / (t - t0));
  }
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1]!;
}

function phoneFrame(totalBytes: number): Buffer {
  const head = '{"v":2,"type":"noise_msg","data":"';
  const tail = '"}';
  const b64Len = totalBytes - head.length - tail.length;
  const data = randomBytes(Math.ceil((b64Len * 3) / 4) + 3)
    .toString('base64')
    .slice(0, b64Len);
  return Buffer.from(head + data + tail);
}

interface Row {
  name: string;
  bytes: number;
  ops: number;
  baseline: string;
  baseOps: number;
}

const rows: Row[] = [];
const connId = 'client-0123456789abcdef-9f3a07c1';
const prefix = makeWrapPrefix(connId);
const CLOSE = Buffer.from('}');

for (const [label, size] of [
  ['1 KiB', 1024],
  ['64 KiB', 65536],
] as const) {
  const frame = phoneFrame(size);
  const envelope = wrapPhoneFrame(prefix, frame);
  const envelopeText = envelope.toString('utf8');

  rows.push({
    name: `wrap ${label}`,
    bytes: frame.length,
    ops: measure(() => wrapPhoneFrame(prefix, frame).length),
    baseline: 'Buffer.concat',
    baseOps: measure(() => Buffer.concat([prefix, frame, CLOSE]).length),
  });
  rows.push({
    name: `decode ${label}`,
    bytes: envelope.length,
    ops: measure(() => {
      const d = decodeBinaryEnvelope(envelope);
      return d.kind === 'frame' ? d.frame.length : 0;
    }),
    baseline: 'JSON.parse(toString)',
    baseOps: measure(() => ((JSON.parse(envelope.toString('utf8')) as object) ? 1 : 0)),
  });
  rows.push({
    name: `validate ${label}`,
    bytes: frame.length,
    ops: measure(() => (isJsonValue(frame) ? 1 : 0)),
    baseline: 'JSON.parse(toString)',
    baseOps: measure(() => ((JSON.parse(frame.toString('utf8')) as object) ? 1 : 0)),
  });
  sink += envelopeText.length;
}

{
  // Cluster bus: one PUBLISH payload of 64 frames of 1 KiB for one destination node.
  const sid = '0123456789abcdef';
  const msgs: BusMessage[] = Array.from({ length: 64 }, (_, i) => ({
    kind: 'frameToBinary',
    serverId: sid,
    epoch: 123456,
    connId: `client-${sid}-${(0x1000 + i).toString(16).padStart(8, '0')}`,
    frame: phoneFrame(1024),
  }));
  const frames = msgs.map((m) => (m.kind === 'frameToBinary' ? m.frame : Buffer.alloc(0)));
  const src = 'node-a:0123456789ab';
  const dst = 'node-b:ba9876543210';
  const encode = (): Buffer => {
    let size = headerBytes(src, dst);
    for (const m of msgs) size += messageBytes(m);
    return encodeBatch({ src, dst, linkEpoch: 1, seq: 42, flags: 0 }, msgs, 0, msgs.length, size);
  };
  const batch = encode();
  const concat = (): number => Buffer.concat(frames).length;
  rows.push({
    name: 'bus encode 64x1 KiB',
    bytes: batch.length,
    ops: measure(() => encode().length),
    baseline: 'Buffer.concat',
    baseOps: measure(concat),
  });
  rows.push({
    name: 'bus decode 64x1 KiB',
    bytes: batch.length,
    ops: measure(() => {
      const d = decodeBatch(batch);
      return d.ok ? d.batch.messages.length : 0;
    }),
    baseline: 'Buffer.concat',
    baseOps: measure(concat),
  });
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const header = ['case', 'ops/s', 'MB/s', 'baseline', 'base ops/s', 'base MB/s', 'speedup'];
const table = rows.map((r) => [
  r.name,
  fmt(r.ops),
  fmt((r.ops * r.bytes) / 1e6, 1),
  r.baseline,
  fmt(r.baseOps),
  fmt((r.baseOps * r.bytes) / 1e6, 1),
  `${fmt(r.ops / r.baseOps, 2)}x`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: string[]): string =>
  cells.map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`node ${process.version}, ${ROUNDS} rounds x ${ROUND_MS} ms, median; speedup = ops/s ÷ baseline ops/s`);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table) console.log(line(row));
if (sink === 42) console.log(''); // keep `sink` observable
