// Rules between flags (operations.md §1), checked once every flag is valid on its
// own. The first broken rule is a UsageError naming the flag to change.
import { UsageError } from './errors.js';
import type { RelayConfig } from './relay-config.js';

const TLS_ONLY = ['https-listen', 'http-listen', 'https-proxy-protocol'] as const;

export function checkCrossFlagRules(config: RelayConfig, homedir: string): void {
  const { given } = config;
  // Certificate-file mode: both files or neither.
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    const missing = config.tlsCert === undefined ? 'tls-cert' : 'tls-key';
    throw new UsageError('--tls-cert and --tls-key go together; give both', missing);
  }
  const files = config.tlsCert !== undefined;
  if (config.domain === undefined && config.insecureListen === undefined && !files) {
    throw new UsageError('exactly one of --domain, --tls-cert/--tls-key or --insecure-listen is required', 'domain');
  }
  if (config.domain !== undefined && config.insecureListen !== undefined) {
    throw new UsageError('--domain and --insecure-listen are mutually exclusive; give exactly one', 'insecure-listen');
  }
  if (files && config.domain !== undefined) {
    throw new UsageError('--tls-cert/--tls-key and --domain are mutually exclusive (certificates from files or from ACME)', 'domain');
  }
  if (files && config.insecureListen !== undefined) {
    throw new UsageError('--tls-cert/--tls-key and --insecure-listen are mutually exclusive; give exactly one', 'insecure-listen');
  }
  if (config.insecureListen !== undefined) {
    for (const tlsOnly of TLS_ONLY) {
      if (given.has(tlsOnly)) {
        throw new UsageError(
          `--${tlsOnly} cannot be combined with --insecure-listen (it only applies with --domain or --tls-cert)`,
          tlsOnly,
        );
      }
    }
  }
  // No HTTP-01 listener without ACME: a given --http-listen would silently open nothing.
  if (files && given.has('http-listen')) {
    throw new UsageError('--http-listen only applies with --domain (certificate-file mode answers no ACME challenges)', 'http-listen');
  }
  if (config.domain !== undefined && homedir === '' && (config.certCache === '~' || config.certCache.startsWith('~/'))) {
    throw new UsageError('--cert-cache: cannot expand ~ without a home directory; give an absolute path', 'cert-cache');
  }
  if (config.drainSpreadMs >= config.drainTimeoutMs) {
    throw new UsageError(
      '--drain-spread must be shorter than --drain-timeout',
      given.has('drain-spread') ? 'drain-spread' : 'drain-timeout',
    );
  }
  if (config.maxBufferedBytes < config.phoneOutboxBytes) {
    throw new UsageError(
      '--max-buffered-bytes must be at least --phone-outbox-bytes',
      given.has('max-buffered-bytes') ? 'max-buffered-bytes' : 'phone-outbox-bytes',
    );
  }
}
