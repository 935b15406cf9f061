// Go duration syntax (time.ParseDuration / Duration.String), so operators can reuse the
// flag values of the Go relay verbatim. Parsing works in integer nanoseconds (BigInt) to
// reproduce Go's overflow and fraction-truncation rules exactly; callers get milliseconds.

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // µ MICRO SIGN
  ['\u03bcs', 1_000n], // μ GREEK SMALL LETTER MU
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const LIMIT = 1n << 63n; // Go's Duration is an int64 of nanoseconds

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Go's time.ParseDuration, in nanoseconds; undefined where Go returns an error. */
export function parseGoDurationNs(input: string): bigint | undefined {
  let s = input;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n; // the only unit-less form Go accepts
  if (s === '') return undefined;

  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === '.' || isDigit(s[i]))) return undefined;

    // Integer part: [0-9]*
    const intStart = i;
    let v = 0n;
    while (isDigit(s[i])) {
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > LIMIT) return undefined;
      i++;
    }
    const pre = i > intStart;

    // Fraction: (\.[0-9]*)? — Go stops accumulating digits once they would overflow.
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      let overflow = false;
      while (isDigit(s[i])) {
        if (!overflow) {
          const y = f * 10n + BigInt(s.charCodeAt(i) - 48);
          if (f > (LIMIT - 1n) / 10n || y > LIMIT) overflow = true;
          else {
            f = y;
            scale *= 10;
          }
        }
        i++;
      }
      post = i > fracStart;
    }
    if (!pre && !post) return undefined; // ".s", "-.s"

    // Unit: everything up to the next digit or '.'.
    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i])) i++;
    if (i === unitStart) return undefined; // missing unit
    const unit = NS_PER_UNIT.get(s.slice(unitStart, i));
    if (unit === undefined) return undefined;

    if (v > LIMIT / unit) return undefined;
    v *= unit;
    if (f > 0n) {
      // Same float arithmetic as Go: uint64(float64(f) * (float64(unit) / scale)).
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > LIMIT) return undefined;
    }
    total += v;
    if (total > LIMIT) return undefined;
  }
  if (neg) return -total;
  if (total > LIMIT - 1n) return undefined;
  return total;
}

/** Go's time.ParseDuration in milliseconds (fractional below 1 ms); undefined if invalid. */
export function parseGoDuration(s: string): number | undefined {
  const ns = parseGoDurationNs(s);
  return ns === undefined ? undefined : Number(ns) / 1e6;
}

// "12" + fraction of v / 10^prec without trailing zeros (Go's fmtFrac + fmtInt).
function withFraction(v: bigint, prec: number): string {
  const p = 10n ** BigInt(prec);
  const frac = (v % p).toString().padStart(prec, '0').replace(/0+$/, '');
  return (v / p).toString() + (frac === '' ? '' : '.' + frac);
}

/** Go's Duration.String for a millisecond value (rounded to whole nanoseconds): 0s, 500ms, 1m30s, 1h0m0s. */
export function formatGoDuration(ms: number): string {
  let u = BigInt(Math.round(ms * 1e6));
  const neg = u < 0n;
  if (neg) u = -u;
  let out: string;
  if (u === 0n) return '0s';
  if (u < 1_000n) out = u.toString() + 'ns';
  else if (u < 1_000_000n) out = withFraction(u, 3) + '\u00b5s';
  else if (u < 1_000_000_000n) out = withFraction(u, 6) + 'ms';
  else {
    const secNs = u % 60_000_000_000n;
    const mins = u / 60_000_000_000n;
    out = withFraction(secNs, 9) + 's';
    if (mins > 0n) {
      out = (mins % 60n).toString() + 'm' + out;
      const hours = mins / 60n;
      if (hours > 0n) out = hours.toString() + 'h' + out;
    }
  }
  return neg ? '-' + out : out;
}
