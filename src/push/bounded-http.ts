// One outbound HTTP POST with the limits of operations.md §9: a timeout over the
// whole exchange (headers and body), redirects refused, and at most `maxReplyBytes`
// of the reply kept — the rest is never read: the stream is cancelled, which
// closes the connection. Failures carry only a short fixed description, never
// anything from the reply or the request.
export interface PostOptions {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  maxReplyBytes: number;
  /** Caller cancellation (shutdown). */
  signal: AbortSignal;
}

export interface PostReply {
  status: number;
  /** At most `maxReplyBytes`. */
  body: Buffer;
  truncated: boolean;
}

/** A failed exchange; `message` is safe to log. */
export class HttpFailure extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HttpFailure';
  }
}

export async function boundedPost(url: string, opts: PostOptions): Promise<PostReply> {
  // A private controller per call, not AbortSignal.any(): on Node 20 a dependent
  // signal of a long-lived parent can be retained for the parent's lifetime.
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, opts.timeoutMs);
  const onCancel = (): void => ac.abort();
  if (opts.signal.aborted) ac.abort();
  else opts.signal.addEventListener('abort', onCancel, { once: true });
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: opts.headers,
        body: opts.body,
        redirect: 'manual',
        signal: ac.signal,
      });
    } catch (err) {
      throw failure(err, timedOut, opts.signal.aborted);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw new HttpFailure(`redirect refused (http ${res.status})`, res.status);
    }
    try {
      const { body, truncated } = await readAtMost(res, opts.maxReplyBytes);
      return { status: res.status, body, truncated };
    } catch (err) {
      throw failure(err, timedOut, opts.signal.aborted, res.status);
    }
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', onCancel);
  }
}

async function readAtMost(res: Response, max: number): Promise<{ body: Buffer; truncated: boolean }> {
  if (res.body === null) return { body: Buffer.alloc(0), truncated: false };
  // fetch's body is typed as a stream of `any`; it is a stream of bytes.
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Buffer[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { body: Buffer.concat(chunks, n), truncated: false };
    const take = Math.min(value.byteLength, max - n);
    chunks.push(Buffer.from(value.buffer, value.byteOffset, take));
    n += take;
    if (n >= max) {
      await reader.cancel().catch(() => undefined);
      return { body: Buffer.concat(chunks, n), truncated: true };
    }
  }
}

function failure(err: unknown, timedOut: boolean, cancelled: boolean, status?: number): HttpFailure {
  const at = status === undefined ? '' : ` after http ${status}`;
  if (timedOut) return new HttpFailure(`timeout${at}`, status);
  if (cancelled) return new HttpFailure(`cancelled${at}`, status);
  // fetch wraps socket errors as TypeError('fetch failed', { cause }); keep only the errno code.
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  const code = typeof cause?.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(cause.code) ? cause.code : 'error';
  return new HttpFailure(`network ${code}${at}`, status);
}
