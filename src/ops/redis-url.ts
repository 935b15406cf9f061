// PYRYCODE_RELAY_REDIS_URL (cluster.md §1): redis://[[user]:password@]host[:port][/db]
// or rediss://… (TLS), parsed into the fields the Redis client takes. The URL holds a
// secret, so a refusal names the rule and never the value, and the parsed target
// redacts its password whenever it is serialised, inspected or printed: it may end up
// in a log line by accident, the raw string is kept nowhere.
import { isIPv6 } from 'node:net';
import { inspect } from 'node:util';
import type { ParseResult } from './service-account.js';
import { IPV4 } from './config/listen-address.js';

export const REDIS_DEFAULT_PORT = 6379;
const MAX_DB = 2 ** 31 - 1;

export const REDIS_URL_SHAPE = 'redis://[[user]:password@]host[:port][/db] or rediss://…';

/** Where and how to connect, as ioredis takes it (host, port, username, password, db, tls). */
export interface RedisTarget {
  /** Host name or IP; IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
  /** rediss:// */
  readonly tls: boolean;
  /** The URL with the password redacted: safe to print. */
  toString(): string;
}

class Target implements RedisTarget {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly username: string | undefined,
    readonly password: string | undefined,
    readonly db: number,
    readonly tls: boolean,
  ) {
    Object.freeze(this);
  }

  /** What JSON.stringify (and so the logger) sees: everything but the password. */
  toJSON(): Record<string, unknown> {
    const { host, port, username, db, tls } = this;
    return { host, port, username, password: this.password === undefined ? undefined : '[redacted]', db, tls };
  }

  toString(): string {
    return `[RedisTarget ${this.tls ? 'rediss' : 'redis'} ${this.host}:${this.port}/${this.db}]`;
  }

  [inspect.custom](): Record<string, unknown> {
    return this.toJSON();
  }
}

// Host names as Redis deployments use them: DNS labels, plus '_' (container names).
const HOST = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/** The parsed target, or the rule the text broke (never the text). */
export function parseRedisUrl(text: string): ParseResult<RedisTarget> {
  if (text === '') return fail('must not be empty (unset it for single-node mode)');
  const scheme = /^(rediss?):\/\//.exec(text);
  if (scheme === null) return fail('must start with redis:// or rediss://');
  const rest = text.slice(scheme[0].length);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\s\x00-\x1f\x7f]/.test(rest)) return fail('must not contain spaces or control characters');
  if (/[?#]/.test(rest)) return fail('must not carry a query or fragment (percent-encode ? and # in a password)');

  // The last '@' ends the credentials, so an unencoded '/' or '@' in a password still works.
  const at = rest.lastIndexOf('@');
  let username: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon < 0) return fail('credentials must be written [user]:password@ (a password is required)');
    const user = decode(userinfo.slice(0, colon));
    const pass = decode(userinfo.slice(colon + 1));
    if (user === undefined || pass === undefined) return fail('credentials have a malformed percent-encoding');
    if (pass === '') return fail('the password must not be empty');
    username = user === '' ? undefined : user;
    password = pass;
  }

  const hostPart = rest.slice(at + 1);
  const slash = hostPart.indexOf('/');
  const authority = slash < 0 ? hostPart : hostPart.slice(0, slash);
  const path = slash < 0 ? undefined : hostPart.slice(slash + 1);

  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end < 0) return fail("missing ']' after an IPv6 host");
    host = authority.slice(1, end);
    if (!isIPv6(host)) return fail('brackets must hold an IPv6 address');
    const after = authority.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) return fail('the host must be followed by :port, /db or nothing');
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = authority.indexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
    if (portText?.includes(':')) return fail('an IPv6 host must be written in brackets, e.g. redis://[::1]:6379');
    if (host === '') return fail('the host is missing');
    if (!IPV4.test(host) && (!HOST.test(host) || /^[\d.]+$/.test(host))) return fail('the host must be a host name or an IP address');
  }

  let port = REDIS_DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return fail('the port must be a decimal number 1-65535');
    port = Number(portText);
    if (port < 1 || port > 65535) return fail('the port must be 1-65535');
  }

  let db = 0;
  if (path !== undefined) {
    if (!/^\d{1,10}$/.test(path)) return fail('the database must be a decimal number after the /');
    db = Number(path);
    if (db > MAX_DB) return fail(`the database must be at most ${MAX_DB}`);
  }
  return { ok: true, value: new Target(host, port, username, password, db, scheme[1] === 'rediss') };
}
