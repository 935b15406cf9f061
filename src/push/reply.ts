// Pulls the few safe facts out of an FCM or OAuth reply body: enum-shaped error
// codes and the FCM message name. Nothing else from a reply is ever kept or
// logged. Bodies may be truncated at 4 KiB, so a failed JSON.parse falls back to
// scanning the prefix for the same keys; either way only values matching the
// enum or message-id shape are returned.

/** FCM/Google status and error-code enums (`UNREGISTERED`, `INVALID_ARGUMENT`, …). */
const FCM_ENUM = /^[A-Z][A-Z0-9_]{0,63}$/;
/** OAuth `error` codes (`invalid_grant`, …). */
const OAUTH_ENUM = /^[a-z][a-z0-9_]{0,63}$/;
/** operations.md §9: a message id is logged only if 1–256 chars of this set. */
const MESSAGE_ID = /^[A-Za-z0-9/:%_-]{1,256}$/;

export interface FcmError {
  status?: string;
  errorCode?: string;
}

function parse(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function shaped(v: unknown, re: RegExp): string | undefined {
  return typeof v === 'string' && re.test(v) ? v : undefined;
}

/** First `"key":"value"` in a (possibly cut) JSON text whose value has the given shape. */
function scan(body: Buffer, key: string, re: RegExp): string | undefined {
  const text = body.toString('latin1');
  const pattern = new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]{1,256})"`, 'g');
  for (const m of text.matchAll(pattern)) {
    const v = shaped(m[1], re);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** `{"error":{"status":…,"details":[{"errorCode":…}]}}` → the two enums, when present. */
export function fcmError(body: Buffer): FcmError {
  const doc = parse(body);
  if (doc === undefined) {
    return { status: scan(body, 'status', FCM_ENUM), errorCode: scan(body, 'errorCode', FCM_ENUM) };
  }
  const error = obj(obj(doc)?.error);
  const out: FcmError = { status: shaped(error?.status, FCM_ENUM) };
  const details = error?.details;
  if (Array.isArray(details)) {
    for (const d of details) {
      const code = shaped(obj(d)?.errorCode, FCM_ENUM);
      if (code !== undefined) {
        out.errorCode = code;
        break;
      }
    }
  }
  return out;
}

/** The `name` of a sent message (`projects/…/messages/…`) if it has a loggable shape. */
export function fcmMessageId(body: Buffer): string | undefined {
  const doc = parse(body);
  if (doc === undefined) return scan(body, 'name', MESSAGE_ID);
  return shaped(obj(doc)?.name, MESSAGE_ID);
}

/** The OAuth error code of a token-endpoint failure, if it has the enum shape. */
export function oauthError(body: Buffer): string | undefined {
  const doc = parse(body);
  if (doc === undefined) return scan(body, 'error', OAUTH_ENUM);
  return shaped(obj(doc)?.error, OAUTH_ENUM);
}
