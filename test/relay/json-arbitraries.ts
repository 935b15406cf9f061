// fast-check arbitraries shared by the codec tests: JSON values serialised with random
// whitespace, key order and string escaping, plus garbled variants of them.
import fc from 'fast-check';

export const JSON_WS = [' ', '\t', '\n', '\r'] as const;
export const arbWs = fc.string({ unit: fc.constantFrom(...JSON_WS), maxLength: 4 });

/** Deterministic little PRNG so one `seed` drives key order and escaping choices. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** A JSON string token, sometimes with every UTF-16 unit written as a \uXXXX escape. */
export function renderString(s: string, escapeAll: boolean): string {
  if (!escapeAll) return JSON.stringify(s);
  let out = '"';
  for (let i = 0; i < s.length; i++) out += '\\u' + s.charCodeAt(i).toString(16).padStart(4, '0');
  return out + '"';
}

/** Serialises `value` as JSON with whitespace taken cyclically from `ws` and keys shuffled by `seed`. */
export function render(value: unknown, ws: readonly string[], seed: number): string {
  let i = 0;
  const w = (): string => (ws.length === 0 ? '' : ws[i++ % ws.length]!);
  const rnd = prng(seed);
  const go = (v: unknown): string => {
    if (Array.isArray(v)) {
      const parts = v.map((x) => w() + go(x) + w());
      return '[' + (parts.length > 0 ? parts.join(',') : w()) + ']';
    }
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let k = keys.length - 1; k > 0; k--) {
        const j = rnd() % (k + 1);
        [keys[k], keys[j]] = [keys[j]!, keys[k]!];
      }
      const parts = keys.map((k) => w() + renderString(k, rnd() % 8 === 0) + w() + ':' + w() + go((v as Record<string, unknown>)[k]) + w());
      return '{' + (parts.length > 0 ? parts.join(',') : w()) + '}';
    }
    if (typeof v === 'string') return renderString(v, rnd() % 8 === 0);
    return JSON.stringify(v);
  };
  return w() + go(value) + w();
}

export interface Formatted {
  value: unknown;
  text: string;
}

export const arbJsonValue = fc.oneof(
  fc.jsonValue(),
  fc.jsonValue({ depthSize: 'large', maxDepth: 12 }),
  fc.record({ v: fc.constant(2), type: fc.constantFrom('noise_init', 'noise_resp', 'noise_msg'), data: fc.base64String() }),
);

export const arbFormattedJson: fc.Arbitrary<Formatted> = fc
  .record({ value: arbJsonValue, ws: fc.array(arbWs, { maxLength: 8 }), seed: fc.nat() })
  .map(({ value, ws, seed }) => ({ value, text: render(value, ws, seed) }));

const interestingBytes = fc.oneof(
  fc.constantFrom(...'{}[]:,"\\ \t\n\r0-+.eEnulltruefalse/u'.split('').map((c) => c.charCodeAt(0)), 0x00, 0x1f, 0x7f),
  fc.integer({ min: 0, max: 255 }),
);

const arbMutation = fc.record({
  kind: fc.constantFrom('insert', 'delete', 'replace', 'truncate', 'cut_front'),
  at: fc.nat(),
  byte: interestingBytes,
});

/** Valid JSON text with 1–3 byte-level edits applied (results may or may not be valid). */
export const arbMutatedJson: fc.Arbitrary<Buffer> = fc
  .record({ base: arbFormattedJson, edits: fc.array(arbMutation, { minLength: 1, maxLength: 3 }) })
  .map(({ base, edits }) => {
    let b = Buffer.from(base.text);
    for (const { kind, at, byte } of edits) {
      const p = b.length === 0 ? 0 : at % (b.length + 1);
      if (kind === 'insert') b = Buffer.concat([b.subarray(0, p), Buffer.from([byte]), b.subarray(p)]);
      else if (kind === 'delete') b = Buffer.concat([b.subarray(0, p), b.subarray(p + 1)]);
      else if (kind === 'replace' && p < b.length) {
        b = Buffer.from(b);
        b[p] = byte;
      } else if (kind === 'truncate') b = b.subarray(0, p);
      else if (kind === 'cut_front') b = b.subarray(p);
    }
    return b;
  });
