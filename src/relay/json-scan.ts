// Byte-level JSON validator/scanner (RFC 8259) for the relay's hot path.
//
// Owns: deciding whether a byte range holds exactly one JSON value, and finding where a
// value ends, without building objects or allocating. The envelope decoder uses
// scanValue() to locate spans; the phone leg uses isJsonValue() before wrapping a frame.
//
// Precondition: the bytes are valid UTF-8. This module does NOT validate UTF-8 — `ws`
// already validates text frames, and for binary-opcode frames the caller must check
// `buffer.isUtf8()` first. Non-ASCII bytes are only ever legal inside strings, where they
// are passed over as opaque.
//
// Long runs of plain string bytes are skipped by the SIMD module of plain-scan.ts inside
// a scan scope (isJsonValue, or a caller's beginScope/endScope), and four bytes at a
// time in JavaScript otherwise.
//
// Nesting is handled iteratively with an explicit container stack, so arbitrarily deep
// input (bounded only by its length) never recurses or throws. The stack grows only when
// input nests deeper than its current size, so ordinary frames allocate nothing.

import { beginScope, endScope, skipPlain } from './plain-scan.js';

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

// 1 for bytes that may appear raw inside a string without ending or escaping it:
// everything except '"', '\' and the control characters below 0x20.
const STRING_PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 256; c++) STRING_PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;

// 1 for hex digits (\uXXXX escapes).
const HEX = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  HEX[c] = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) ? 1 : 0;
}

// Word view over the ArrayBuffer behind the last long string scanned, so long runs of
// plain string bytes (base64 payloads) are checked four bytes at a time. Cached by
// buffer identity: one view per incoming message at most, none for short strings; it
// keeps only that last ArrayBuffer alive.
let wordsOf: ArrayBufferLike | undefined;
let words: Int32Array = new Int32Array(0);
const WORD_MIN = 32; // below this, the byte loop is cheaper than setting up words

/**
 * Skips plain string bytes from `pos`, four at a time where possible; returns the index
 * of the first byte that is not plain (or a position within three bytes of `end`).
 */
function skipPlainWords(buf: Buffer, pos: number, end: number): number {
  const ab = buf.buffer;
  if (ab !== wordsOf) {
    wordsOf = ab;
    words = new Int32Array(ab, 0, ab.byteLength >>> 2);
  }
  const off = buf.byteOffset;
  while (((off + pos) & 3) !== 0) {
    if (STRING_PLAIN[buf[pos]!] !== 1) return pos;
    pos++;
  }
  const ws = words;
  let w = (off + pos) >>> 2;
  const wEnd = (off + end) >>> 2; // words wholly before `end`
  for (;;) {
    // Two words per step while both pass the fast test (one branch per 8 bytes).
    while (w + 1 < wEnd) {
      const x = ws[w]!;
      const y = ws[w + 1]!;
      const bx = x ^ 0x5c5c5c5c;
      const by = y ^ 0x5c5c5c5c;
      if (((x - 0x23232323) | x | ((bx - 0x01010101) & ~bx) | (y - 0x23232323) | y | ((by - 0x01010101) & ~by)) & 0x80808080) break;
      w += 2;
    }
    if (w >= wEnd) break;
    // The pair (or a last single word) failed the fast test: check it word by word.
    for (const stop = Math.min(w + 2, wEnd); w < stop; w++) {
      const x = ws[w]!;
      const b = x ^ 0x5c5c5c5c; // a zero byte here is a backslash
      // Fast test, exact: all four bytes in 0x23..0x7f (so no control char, no '"') and
      // none is '\\'. Base64 always passes. Otherwise (incl. UTF-8) check byte by byte.
      if ((((x - 0x23232323) | x | ((b - 0x01010101) & ~b)) & 0x80808080) !== 0) {
        const p = (w << 2) - off;
        for (let i = p; i < p + 4; i++) if (STRING_PLAIN[buf[i]!] !== 1) return i;
      }
    }
  }
  return (w << 2) - off;
}

// Container stack: 1 = object, 0 = array. Shared across calls (the scanner is
// synchronous and non-reentrant); doubled on demand for pathological nesting.
let stack = new Uint8Array(1024);

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Index of the first non-whitespace byte at or after `pos` (or `end`). */
export function skipWs(buf: Buffer, pos: number, end: number): number {
  while (pos < end && isWs(buf[pos]!)) pos++;
  return pos;
}

/**
 * Scans a string whose opening quote is at `pos`; returns the index after the closing
 * quote, or -1 if the string is invalid or unterminated before `end`.
 */
export function scanString(buf: Buffer, pos: number, end: number): number {
  pos++; // opening quote
  for (;;) {
    // Fast path: the bulk of a frame is plain string bytes (base64 payloads).
    if (end - pos >= WORD_MIN) {
      const p = skipPlain(buf, pos, end);
      pos = p >= 0 ? p : skipPlainWords(buf, pos, end);
    }
    while (pos < end && STRING_PLAIN[buf[pos]!] === 1) pos++;
    if (pos >= end) return -1;
    const c = buf[pos]!;
    if (c === QUOTE) return pos + 1;
    if (c !== BACKSLASH) return -1; // raw control character
    if (pos + 1 >= end) return -1;
    const e = buf[pos + 1]!;
    if (e === 0x75 /* u */) {
      if (pos + 6 > end) return -1;
      if ((HEX[buf[pos + 2]!]! & HEX[buf[pos + 3]!]! & HEX[buf[pos + 4]!]! & HEX[buf[pos + 5]!]!) === 0) return -1;
      pos += 6;
    } else if (
      e === QUOTE ||
      e === BACKSLASH ||
      e === 0x2f /* / */ ||
      e === 0x62 /* b */ ||
      e === 0x66 /* f */ ||
      e === 0x6e /* n */ ||
      e === 0x72 /* r */ ||
      e === 0x74 /* t */
    ) {
      pos += 2;
    } else {
      return -1;
    }
  }
}

/** Scans a number starting at `pos`; returns the index after it or -1. */
export function scanNumber(buf: Buffer, pos: number, end: number): number {
  if (buf[pos] === MINUS) pos++;
  if (pos >= end) return -1;
  let c = buf[pos]!;
  if (c === ZERO) {
    pos++;
  } else if (c > ZERO && c <= NINE) {
    pos++;
    while (pos < end && (c = buf[pos]!) >= ZERO && c <= NINE) pos++;
  } else {
    return -1;
  }
  if (pos < end && buf[pos] === DOT) {
    pos++;
    const digits = pos;
    while (pos < end && (c = buf[pos]!) >= ZERO && c <= NINE) pos++;
    if (pos === digits) return -1;
  }
  if (pos < end && (buf[pos] === 0x65 /* e */ || buf[pos] === 0x45) /* E */) {
    pos++;
    if (pos < end && (buf[pos] === PLUS || buf[pos] === MINUS)) pos++;
    const digits = pos;
    while (pos < end && (c = buf[pos]!) >= ZERO && c <= NINE) pos++;
    if (pos === digits) return -1;
  }
  return pos;
}

function scanLiteral(buf: Buffer, pos: number, end: number, a: number, b: number, c: number, d: number, e: number): number {
  // Four or five bytes; e === 0 marks a four-byte literal.
  const len = e === 0 ? 4 : 5;
  if (pos + len > end) return -1;
  if (buf[pos] !== a || buf[pos + 1] !== b || buf[pos + 2] !== c || buf[pos + 3] !== d) return -1;
  if (e !== 0 && buf[pos + 4] !== e) return -1;
  return pos + len;
}

/**
 * Scans one JSON value that starts exactly at `pos` (no leading whitespace) and lies
 * within [pos, end). Returns the index just after the value, or -1 if there is no valid
 * value there. Bytes after the value are not examined.
 */
export function scanValue(buf: Buffer, pos: number, end: number): number {
  let depth = 0;
  for (;;) {
    // Expecting a value at pos.
    if (pos >= end) return -1;
    const c = buf[pos]!;
    if (c === QUOTE) {
      pos = scanString(buf, pos, end);
    } else if (c === LBRACE || c === LBRACKET) {
      const isObj = c === LBRACE;
      pos = skipWs(buf, pos + 1, end);
      if (pos >= end) return -1;
      if (buf[pos] === (isObj ? RBRACE : RBRACKET)) {
        pos++; // empty container: a complete value
      } else {
        if (depth === stack.length) {
          const grown = new Uint8Array(stack.length * 2);
          grown.set(stack);
          stack = grown;
        }
        stack[depth++] = isObj ? 1 : 0;
        if (isObj) {
          pos = scanKey(buf, pos, end);
          if (pos < 0) return -1;
        }
        continue; // now expecting the first element/member value
      }
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      pos = scanNumber(buf, pos, end);
    } else if (c === 0x74) {
      pos = scanLiteral(buf, pos, end, 0x74, 0x72, 0x75, 0x65, 0); // true
    } else if (c === 0x66) {
      pos = scanLiteral(buf, pos, end, 0x66, 0x61, 0x6c, 0x73, 0x65); // false
    } else if (c === 0x6e) {
      pos = scanLiteral(buf, pos, end, 0x6e, 0x75, 0x6c, 0x6c, 0); // null
    } else {
      return -1;
    }
    if (pos < 0) return -1;

    // A value just ended: close containers until one wants another element.
    for (;;) {
      if (depth === 0) return pos;
      pos = skipWs(buf, pos, end);
      if (pos >= end) return -1;
      const d = buf[pos]!;
      const inObj = stack[depth - 1] === 1;
      if (d === COMMA) {
        pos = skipWs(buf, pos + 1, end);
        if (inObj) {
          pos = scanKey(buf, pos, end);
          if (pos < 0) return -1;
        }
        break;
      }
      if (d !== (inObj ? RBRACE : RBRACKET)) return -1;
      pos++;
      depth--;
    }
  }
}

/**
 * Scans `"key"` + whitespace + `:` + whitespace starting at `pos`; returns the index of
 * the member's value (after whitespace) or -1.
 */
function scanKey(buf: Buffer, pos: number, end: number): number {
  if (pos >= end || buf[pos] !== QUOTE) return -1;
  pos = scanString(buf, pos, end);
  if (pos < 0) return -1;
  pos = skipWs(buf, pos, end);
  if (pos >= end || buf[pos] !== COLON) return -1;
  return skipWs(buf, pos + 1, end);
}

/**
 * True iff buf[start, end) holds exactly one JSON value, optionally surrounded by JSON
 * whitespace (space, tab, LF, CR). See the header for the UTF-8 precondition.
 */
export function isJsonValue(buf: Buffer, start = 0, end = buf.length): boolean {
  beginScope(buf);
  const pos = scanValue(buf, skipWs(buf, start, end), end);
  endScope();
  return pos >= 0 && skipWs(buf, pos, end) === end;
}
