// The bus's PUBLISH writer (docs/decisions/0024-bus-buffers.md).
//
// Owns: the bytes of each PUBLISH the frame bus sends. The whole RESP command —
// array header, channel, payload length, the batch itself, CRLF — is encoded into
// one buffer that ioredis writes as it is (a Command whose toWritable returns it),
// instead of ioredis building the command from arguments and copying the payload
// into a fresh buffer of its own. The buffers are slabs recycled once Redis has
// answered: Redis can only answer a command it has read in full, so by then the
// socket no longer needs the bytes. A failed or unanswered command keeps its slab
// (the socket may still hold it); the garbage collector takes it. So a busy link
// allocates nothing per batch on the sending side, where it used to allocate the
// batch twice (encodeBatch, then ioredis's copy) and drive V8's full collections
// with the external memory.
import { Command, type Redis } from 'ioredis';

/** Writes the payload into `out` from `at`; returns the offset after it. */
export type PayloadEncoder = (out: Buffer, at: number) => number;

/** PUBLISH's reply: the number of subscribers that received the message. */
export type PublishCallback = (err: Error | null | undefined, heard: number) => void;

/** A command whose wire bytes are already encoded. */
class EncodedCommand extends Command {
  constructor(
    private readonly bytes: Buffer,
    callback: (err?: Error | null, result?: unknown) => void,
  ) {
    super('publish', [], { replyEncoding: null }, callback);
  }

  override toWritable(): Buffer {
    return this.bytes;
  }
}

const CRLF0 = 0x0d;
const CRLF1 = 0x0a;

export class PublishWriter {
  private readonly free: Buffer[] = [];
  /** RESP bytes of `PUBLISH <channel>` up to the payload's length, per channel. */
  private readonly heads = new Map<string, Buffer>();

  /**
   * `slabBytes` bounds the commands whose buffer is recycled (a batch of up to
   * maxBatchBytes plus its RESP framing fits); a larger one (a single big message)
   * gets a buffer of its own. At most `maxFree` slabs wait for reuse.
   */
  constructor(
    private readonly redis: Redis,
    private readonly slabBytes: number,
    private readonly maxFree = 4,
  ) {}

  /** PUBLISHes `payloadBytes` bytes written by `encode` on `channel`; `done` gets Redis's answer. */
  publish(channel: string, payloadBytes: number, encode: PayloadEncoder, done: PublishCallback): void {
    const head = this.head(channel);
    const lenDigits = String(payloadBytes);
    const total = head.length + lenDigits.length + 2 + payloadBytes + 2;
    const slab = total <= this.slabBytes ? (this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabBytes)) : Buffer.allocUnsafeSlow(total);
    let at = head.copy(slab, 0);
    at += slab.write(lenDigits, at, 'latin1');
    slab[at++] = CRLF0;
    slab[at++] = CRLF1;
    const end = encode(slab, at);
    if (end - at !== payloadBytes) throw new Error(`bus payload is ${end - at} bytes, announced ${payloadBytes}`);
    slab[end] = CRLF0;
    slab[end + 1] = CRLF1;
    const cmd = new EncodedCommand(slab.subarray(0, total), (err, heard) => {
      if (!err && slab.length === this.slabBytes && this.free.length < this.maxFree) this.free.push(slab);
      done(err, typeof heard === 'number' ? heard : 0);
    });
    void this.redis.sendCommand(cmd);
  }

  private head(channel: string): Buffer {
    let h = this.heads.get(channel);
    if (h === undefined) {
      // UTF-8, as ioredis encodes the channel it SUBSCRIBEs to.
      h = Buffer.from(`*3\r\n$7\r\nPUBLISH\r\n$${Buffer.byteLength(channel)}\r\n${channel}\r\n$`);
      // Channels are per node incarnation: bounded by the peers this node has known.
      if (this.heads.size >= 4096) this.heads.clear();
      this.heads.set(channel, h);
    }
    return h;
  }
}
