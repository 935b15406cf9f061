// One FCM v1 send (operations.md §9) and its outcome. The body is exactly
// {"message":{"token":…,"android":{"priority":"HIGH"}}}: no notification, no
// data — the wake only tells the phone to reconnect. Error text is built from
// the HTTP status and FCM's enums only.
import type { PushOutcome } from '../ops/metrics.js';
import { boundedPost, HttpFailure } from './bounded-http.js';
import { TokenFetchError, type AccessTokens } from './oauth.js';
import { fcmError, fcmMessageId } from './reply.js';

export function defaultSendUrl(project: string): string {
  return `https://fcm.googleapis.com/v1/projects/${encodeURIComponent(project)}/messages:send`;
}

export function wakeBody(token: string): string {
  return JSON.stringify({ message: { token, android: { priority: 'HIGH' } } });
}

export type SendResult =
  | { outcome: 'sent'; status: number; messageId: string | undefined }
  | { outcome: Exclude<PushOutcome, 'sent' | 'dropped'>; status: number | undefined; err: string };

export interface FcmSenderOptions {
  sendUrl: string;
  tokens: AccessTokens;
  timeoutMs: number;
  maxReplyBytes: number;
}

export class FcmSender {
  constructor(private readonly opts: FcmSenderOptions) {}

  /** Never rejects. */
  async send(deviceToken: string, signal: AbortSignal): Promise<SendResult> {
    let bearer: string;
    try {
      bearer = await this.opts.tokens.get(signal);
    } catch (err) {
      return { outcome: 'token_fetch_failed', status: undefined, err: err instanceof TokenFetchError ? err.message : 'oauth error' };
    }
    let reply;
    try {
      reply = await boundedPost(this.opts.sendUrl, {
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: wakeBody(deviceToken),
        timeoutMs: this.opts.timeoutMs,
        maxReplyBytes: this.opts.maxReplyBytes,
        signal,
      });
    } catch (err) {
      const f = err instanceof HttpFailure ? err : new HttpFailure('error');
      return { outcome: 'send_failed', status: f.status, err: f.message };
    }
    if (reply.status >= 200 && reply.status <= 299) {
      return { outcome: 'sent', status: reply.status, messageId: fcmMessageId(reply.body) };
    }
    // A rejected access token: fetch a fresh one for the next send.
    if (reply.status === 401) this.opts.tokens.invalidate(bearer);
    const e = fcmError(reply.body);
    const err = ['http', String(reply.status), e.status, e.errorCode].filter((x) => x !== undefined).join(' ');
    return { outcome: e.errorCode === 'UNREGISTERED' ? 'unregistered' : 'send_failed', status: reply.status, err };
  }
}
