// Parses and checks a Google service-account key (operations.md §2,
// PYRYCODE_RELAY_FCM_CREDENTIALS). Error messages name the rule that failed and
// never include any part of the value: the key is a secret. It lives in ops
// with the rest of the environment validation (env.ts); push only uses the
// parsed key, so ops never imports push.
import { createPrivateKey, type KeyObject } from 'node:crypto';

export const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';

export interface ServiceAccount {
  clientEmail: string;
  privateKey: KeyObject;
  tokenUri: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** `https://…`, or `http://` to a loopback address (tests and local proxies). */
export function isAllowedPushUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  if (url.protocol === 'https:') return url.hostname !== '';
  if (url.protocol !== 'http:') return false;
  return LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
}

export function parseServiceAccount(json: string): ParseResult<ServiceAccount> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, reason: 'not a JSON object' };
  const o = doc as Record<string, unknown>;
  if (o.type !== 'service_account') return { ok: false, reason: 'type must be "service_account"' };
  if (typeof o.client_email !== 'string' || o.client_email.trim() === '') {
    return { ok: false, reason: 'client_email must be a non-empty string' };
  }
  if (typeof o.private_key !== 'string' || o.private_key === '') {
    return { ok: false, reason: 'private_key must be a PEM string' };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: o.private_key, format: 'pem' });
  } catch {
    return { ok: false, reason: 'private_key is not a readable PEM private key (PKCS#8 or PKCS#1)' };
  }
  if (key.asymmetricKeyType !== 'rsa') return { ok: false, reason: 'private_key must be an RSA key' };
  let tokenUri = DEFAULT_TOKEN_URI;
  if (o.token_uri !== undefined) {
    if (typeof o.token_uri !== 'string' || !isAllowedPushUrl(o.token_uri)) {
      return { ok: false, reason: 'token_uri must be https://, or http:// to a loopback address' };
    }
    tokenUri = o.token_uri;
  }
  return { ok: true, value: { clientEmail: o.client_email, privateKey: key, tokenUri } };
}
