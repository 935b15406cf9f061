// Go's value syntax for booleans and integers (strconv.ParseBool and
// strconv.ParseInt(s, 0, 64)), which Go's flag package applies while parsing: the
// Go relay's unit files must keep meaning the same thing here.

const GO_BOOL: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((s) => [s, true] as const),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((s) => [s, false] as const),
]);

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  return GO_BOOL.get(s);
}

// Go's strconv.underscoreOK: underscores only between digits (a base prefix counts as one).
function underscoreOK(s: string): boolean {
  let saw = '^';
  let i = 0;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === '0' && 'bBoOxX'.includes(s[1] ?? '')) {
    i = 2;
    saw = '0';
    hex = s[1] === 'x' || s[1] === 'X';
  }
  for (; i < s.length; i++) {
    const c = s[i] ?? '';
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

/**
 * Go's strconv.ParseInt(s, 0, 64), which flag.Int uses: optional sign, then decimal,
 * 0x/0o/0b prefixes, a leading 0 meaning octal, and '_' separators.
 */
export function parseGoInt(s: string): bigint | undefined {
  let neg = false;
  let body = s;
  if (body.startsWith('-') || body.startsWith('+')) {
    neg = body[0] === '-';
    body = body.slice(1);
  }
  if (body === '') return undefined;
  let base = 10n;
  let digits = body;
  if (body[0] === '0') {
    const p = body[1]?.toLowerCase();
    if (body.length >= 3 && (p === 'b' || p === 'o' || p === 'x')) {
      base = p === 'b' ? 2n : p === 'o' ? 8n : 16n;
      digits = body.slice(2);
    } else {
      base = 8n;
      digits = body.slice(1);
    }
  }
  let n = 0n;
  let underscores = false;
  for (const c of digits) {
    if (c === '_') {
      underscores = true;
      continue;
    }
    const d = parseInt(c, 36);
    if (Number.isNaN(d) || BigInt(d) >= base) return undefined;
    n = n * base + BigInt(d);
  }
  if (underscores && !underscoreOK(body)) return undefined;
  const v = neg ? -n : n;
  if (v > (1n << 63n) - 1n || v < -(1n << 63n)) return undefined;
  return v;
}
