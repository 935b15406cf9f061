// Boot-time push setup: turns the validated environment (src/ops/env.ts) into
// push settings, and builds the dispatcher — FCM when credentials are set,
// DisabledPush otherwise. Either way it logs once which it is.
import { ENV_FCM_CREDENTIALS, type RelayEnvironment } from '../ops/env.js';
import type { Logger } from '../ops/logger.js';
import type { PushOutcome } from '../ops/metrics.js';
import { DisabledPush, type PushDispatcher } from './dispatcher.js';
import { defaultSendUrl } from './fcm.js';
import { FcmPush, type PushLimits } from './fcm-push.js';
import type { ServiceAccount } from '../ops/service-account.js';

/** What push needs from the environment; `undefined` = push off. */
export interface PushSettings {
  account: ServiceAccount;
  sendUrl: string;
}

/** The validated environment's push part → settings, or undefined when push is off. */
export function pushSettings(env: Pick<RelayEnvironment, 'fcmCredentials' | 'fcmUrl'>, fcmProject: string): PushSettings | undefined {
  if (env.fcmCredentials === undefined) return undefined;
  return { account: env.fcmCredentials, sendUrl: env.fcmUrl ?? defaultSendUrl(fcmProject) };
}

export interface PushDeps {
  logger: Logger;
  outcomes: Record<PushOutcome, { inc(): void }>;
  drainTimeoutMs: number;
  limits?: Partial<PushLimits>;
}

export function createPushDispatcher(settings: PushSettings | undefined, deps: PushDeps): PushDispatcher {
  if (settings === undefined) {
    deps.logger.info('push_disabled', { env_var: ENV_FCM_CREDENTIALS, reason: 'unset' });
    return new DisabledPush(deps.logger);
  }
  deps.logger.info('push_enabled', { mode: 'fcm' });
  return new FcmPush({ ...settings, ...deps });
}
