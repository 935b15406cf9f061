// Rules between flags (operations.md §1), checked once every flag is valid on its
// own. The first broken rule is a UsageError naming the flag to change.
import { UsageError } from './errors.js';
import type { RelayConfig } from './relay-config.js';

const ACME_ONLY = ['https-listen', 'http-listen', 'https-proxy-protocol'] as const;

export function checkCrossFlagRules(config: RelayConfig, homedir: string): void {
  const { given } = config;
  if (config.domain === undefined && config.insecureListen === undefined) {
    throw new UsageError('exactly one of --domain or --insecure-listen is required', 'domain');
  }
  if (config.domain !== undefined && config.insecureListen !== undefined) {
    throw new UsageError('--domain and --insecure-listen are mutually exclusive; give exactly one', 'insecure-listen');
  }
  if (config.insecureListen !== undefined) {
    for (const acmeOnly of ACME_ONLY) {
      if (given.has(acmeOnly)) {
        throw new UsageError(`--${acmeOnly} cannot be combined with --insecure-listen (it only applies with --domain)`, acmeOnly);
      }
    }
  }
  if (config.domain !== undefined && homedir === '' && (config.certCache === '~' || config.certCache.startsWith('~/'))) {
    throw new UsageError('--cert-cache: cannot expand ~ without a home directory; give an absolute path', 'cert-cache');
  }
  if (config.drainSpreadMs >= config.drainTimeoutMs) {
    throw new UsageError('--drain-spread must be shorter than --drain-timeout', given.has('drain-spread') ? 'drain-spread' : 'drain-timeout');
  }
  if (config.maxBufferedBytes < config.phoneOutboxBytes) {
    throw new UsageError(
      '--max-buffered-bytes must be at least --phone-outbox-bytes',
      given.has('max-buffered-bytes') ? 'max-buffered-bytes' : 'phone-outbox-bytes',
    );
  }
}
