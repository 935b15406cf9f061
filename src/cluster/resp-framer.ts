// Re-chunks the bus subscriber's socket reads on RESP value boundaries
// (docs/decisions/0024-bus-buffers.md).
//
// Owns: cutting a RESP2 byte stream into pieces that each hold only complete
// values, holding back an incomplete tail until it is complete. ioredis's parser
// (redis-parser) copies a value that spans two reads into a module-wide pool that
// it grows to three times the value and keeps for the life of the process; on the
// bus, where most 30–40 KiB batches span a 64 KiB read, those pools outlive young
// collections and add to what drives V8's full collections. Fed only whole values,
// the parser returns views of the read and the pool is never touched; a value that
// did span reads is joined here once, exactly sized (the held part and just the
// bytes of the next read that complete it), and dies young. Pure: no I/O, no Redis.
//
// Not a parser: it finds where values end (`+ - :` lines, `$` bulk strings, `*`
// arrays of those) and passes the bytes on untouched: whatever it decides, the
// parser gets the same bytes in the same order, only cut elsewhere. It must start
// at a value boundary; bus.ts installs it on ioredis's 'ready', which ioredis emits
// on the tick after the ready check's reply was parsed, when nothing else is owed. Anything else (a type byte
// RESP2 does not have, nesting past MAX_DEPTH) switches it to passing every byte
// through as it arrives, so the real parser meets the same bytes it always would
// and reports the protocol error itself.

const CR = 0x0d;
const LF = 0x0a;
const MAX_DEPTH = 8;
/** skipValue: the value is not complete in the buffer. */
const INCOMPLETE = -1;
/** skipValue: not RESP2 this framer knows. */
const FOREIGN = -2;

export class RespFramer {
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes the held tail needs before a scan can make progress (a lower bound). */
  private need = 0;
  private passThrough = false;
  /** Set by skipValue on INCOMPLETE: an offset the value reaches at least, 0 when not known yet. */
  private reach = 0;

  /** Whether it gave up framing (foreign bytes): everything now passes through as read. */
  get raw(): boolean {
    return this.passThrough;
  }

  /** Bytes held back, waiting for the rest of a value. */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  /**
   * Adds a read; `emit` gets the complete values it finishes, in order: a value
   * that spanned reads as one joined buffer (the held tail and just enough of this
   * read to complete it), everything else as views of the read itself.
   */
  push(chunk: Buffer, emit: (values: Buffer) => void): void {
    if (this.passThrough) return emit(chunk);
    let rest = chunk;
    while (this.heldBytes > 0 && rest.length > 0) {
      // Copy only what the held value still needs (a little more while its length is unknown).
      const take = Math.min(rest.length, Math.max(this.need - this.heldBytes, 512));
      this.held.push(rest.subarray(0, take));
      this.heldBytes += take;
      rest = rest.subarray(take);
      if (this.heldBytes < this.need) return;
      const joined = Buffer.concat(this.held, this.heldBytes);
      this.held = [];
      this.heldBytes = 0;
      if (!this.scan(joined, emit)) {
        if (rest.length > 0) emit(rest);
        return;
      }
    }
    if (rest.length > 0) this.scan(rest, emit);
  }

  /** Emits the complete values at the start of `buf` and holds the rest; false once it gave up framing. */
  private scan(buf: Buffer, emit: (values: Buffer) => void): boolean {
    let at = 0;
    while (at < buf.length) {
      const end = this.skipValue(buf, at, 0);
      if (end === FOREIGN) {
        this.passThrough = true;
        emit(buf);
        return false;
      }
      if (end === INCOMPLETE) break;
      at = end;
    }
    if (at > 0) emit(at === buf.length ? buf : buf.subarray(0, at));
    if (at < buf.length) {
      const tail = buf.subarray(at);
      this.held.push(tail);
      this.heldBytes = tail.length;
      this.need = this.reach > at ? this.reach - at : tail.length + 1;
    }
    return true;
  }

  /** The offset just past the value at `at`, or INCOMPLETE / FOREIGN. */
  private skipValue(b: Buffer, at: number, depth: number): number {
    if (at >= b.length) {
      this.reach = at + 1;
      return INCOMPLETE;
    }
    const type = b[at];
    if (type !== 0x2b && type !== 0x2d && type !== 0x3a && type !== 0x24 && type !== 0x2a) return FOREIGN;
    const lf = b.indexOf(LF, at + 1);
    if (lf < 0) {
      this.reach = 0;
      return INCOMPLETE;
    }
    if (type === 0x2b || type === 0x2d || type === 0x3a) return lf + 1; // + - : one line
    if (b[lf - 1] !== CR) return FOREIGN;
    const n = parseLength(b, at + 1, lf - 1);
    if (n === undefined) return FOREIGN;
    if (type === 0x24) {
      // $: a bulk string of n bytes and CRLF; $-1 is null.
      if (n < 0) return lf + 1;
      const end = lf + 1 + n + 2;
      if (end > b.length) {
        this.reach = end;
        return INCOMPLETE;
      }
      return end;
    }
    // *: n values; *-1 is a null array.
    if (depth >= MAX_DEPTH) return FOREIGN;
    let p = lf + 1;
    for (let i = 0; i < n; i++) {
      p = this.skipValue(b, p, depth + 1);
      if (p < 0) return p;
    }
    return p;
  }
}

/** The decimal (optionally negative) integer in b[from, to), or undefined when not one. */
function parseLength(b: Buffer, from: number, to: number): number | undefined {
  let i = from;
  let neg = false;
  if (b[i] === 0x2d) {
    neg = true;
    i++;
  }
  if (i >= to || to - i > 15) return undefined;
  let n = 0;
  for (; i < to; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return neg ? -n : n;
}
