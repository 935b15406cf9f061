// Environment variables (operations.md §2), validated before anything reads
// them. Only the listed variables are looked at; everything else is ignored.
// A failure names the variable and the rule, never the value: the FCM key is a
// secret, so is the Redis URL (it carries the password), and the others may be
// pasted from one.
import { parseRedisUrl, REDIS_URL_SHAPE, type RedisTarget } from './redis-url.js';
import { isAllowedPushUrl, parseServiceAccount, type ParseResult, type ServiceAccount } from './service-account.js';

export const ENV_PRODUCTION = 'PYRYCODE_RELAY_PRODUCTION';
export const ENV_SINGLE_INSTANCE = 'PYRYCODE_RELAY_SINGLE_INSTANCE';
export const ENV_FCM_CREDENTIALS = 'PYRYCODE_RELAY_FCM_CREDENTIALS';
export const ENV_FCM_URL = 'PYRYCODE_RELAY_FCM_URL';
export const ENV_FLY_APP_NAME = 'FLY_APP_NAME';
export const ENV_REDIS_URL = 'PYRYCODE_RELAY_REDIS_URL';
export const ENV_FLY_MACHINE_ID = 'FLY_MACHINE_ID';

/** The validated environment, for boot checks and the push sender. */
export interface RelayEnvironment {
  /** PYRYCODE_RELAY_PRODUCTION=1 */
  production: boolean;
  /** PYRYCODE_RELAY_SINGLE_INSTANCE=1: bypass the single-instance check. */
  singleInstanceBypass: boolean;
  /** undefined = push wake off. */
  fcmCredentials: ServiceAccount | undefined;
  /** undefined = the standard FCM send URL for --fcm-project. */
  fcmUrl: string | undefined;
  /** FLY_APP_NAME, non-empty, or undefined. */
  flyAppName: string | undefined;
  /** PYRYCODE_RELAY_REDIS_URL parsed (the string itself is not kept); set = cluster mode. */
  redis: RedisTarget | undefined;
  /** FLY_MACHINE_ID, non-empty, or undefined: the default --node-id in cluster mode. */
  flyMachineId: string | undefined;
}

/** Why the environment was refused: the variable and the rule it broke. */
export interface EnvRefusal {
  envVar: string;
  reason: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Unset or exactly "1"; anything else ("", "true", "0", " 1") is refused. */
function flag(env: Env, name: string): ParseResult<boolean> {
  const v = env[name];
  if (v === undefined) return { ok: true, value: false };
  if (v === '1') return { ok: true, value: true };
  return { ok: false, reason: 'must be unset or exactly 1' };
}

export function readEnvironment(env: Env): { ok: true; value: RelayEnvironment } | { ok: false; refusal: EnvRefusal } {
  const production = flag(env, ENV_PRODUCTION);
  if (!production.ok) return { ok: false, refusal: { envVar: ENV_PRODUCTION, reason: production.reason } };
  const bypass = flag(env, ENV_SINGLE_INSTANCE);
  if (!bypass.ok) return { ok: false, refusal: { envVar: ENV_SINGLE_INSTANCE, reason: bypass.reason } };

  let fcmCredentials: ServiceAccount | undefined;
  const creds = env[ENV_FCM_CREDENTIALS];
  if (creds !== undefined) {
    const parsed = parseServiceAccount(creds);
    if (!parsed.ok) {
      return {
        ok: false,
        refusal: { envVar: ENV_FCM_CREDENTIALS, reason: `must be a Google service-account JSON key: ${parsed.reason}` },
      };
    }
    fcmCredentials = parsed.value;
  }

  const fcmUrl = env[ENV_FCM_URL];
  if (fcmUrl !== undefined && !isAllowedPushUrl(fcmUrl)) {
    return {
      ok: false,
      refusal: { envVar: ENV_FCM_URL, reason: 'must be an https:// URL, or http:// to a loopback address' },
    };
  }

  let redis: RedisTarget | undefined;
  const redisUrl = env[ENV_REDIS_URL];
  if (redisUrl !== undefined) {
    const parsed = parseRedisUrl(redisUrl);
    if (!parsed.ok) return { ok: false, refusal: { envVar: ENV_REDIS_URL, reason: `must be ${REDIS_URL_SHAPE}: ${parsed.reason}` } };
    redis = parsed.value;
  }

  const fly = env[ENV_FLY_APP_NAME];
  const machine = env[ENV_FLY_MACHINE_ID];
  return {
    ok: true,
    value: {
      production: production.value,
      singleInstanceBypass: bypass.value,
      fcmCredentials,
      fcmUrl,
      flyAppName: fly === undefined || fly === '' ? undefined : fly,
      redis,
      flyMachineId: machine === undefined || machine === '' ? undefined : machine,
    },
  };
}
