// The closed sets of log event names and of the `reason` values an event may
// carry (operations.md §7). The logger accepts only a LogEvent, and for the events
// listed in EventReason only their declared reasons, so a new event or drop reason
// is a compile error until it is added here; test/deploy/docs.test.ts then fails
// until docs/troubleshooting.md and docs/operations.md describe it.
import { PROXY_REASONS, type ProxyRejectReason } from './metrics.js';

/** Every `event` the relay writes. */
export const LOG_EVENTS = [
  // boot and lifecycle
  'relay_started',
  'http01_listening',
  'metrics_listening',
  'boot_refused',
  'unexpected_capabilities',
  'capabilities_unverified',
  'inspector_enabled',
  'inspector_signal_ignored',
  'listen_failed',
  'listener_failed',
  'shutdown_started',
  'shutdown_complete',
  'metrics_scrape_failed',
  'status_failed',
  // binaries and phones
  'server_claimed',
  'server_released',
  'grace_expired',
  'server_id_conflict',
  'server_id_takeover',
  'phone_registered',
  'phone_unregistered',
  'phone_register_no_server',
  'phone_register_at_cap',
  'phone_backlog_full',
  'envelope_dropped',
  'registry_failed',
  'registry_busy',
  // cluster mode
  'redis_unavailable',
  'cluster_joined',
  'cluster_node_reaped',
  'cluster_fenced',
  'cluster_rejoined',
  'cluster_generation_changed',
  'cluster_reasserted',
  'cluster_redis_error',
  'cluster_redis_lost',
  'cluster_redis_restored',
  'cluster_bus_ready',
  'cluster_bus_not_ready',
  'cluster_link_lost',
  'cluster_left',
  // admission
  'rate_limited',
  'conn_cap_reached',
  'ip_conn_cap_reached',
  'proxy_header_rejected',
  // push
  'push_enabled',
  'push_disabled',
  'push_wake_sent',
  'push_wake_send_failed',
  'push_wake_dropped',
  // ACME mode
  'cert_loaded',
  'cert_issued',
  'cert_renewed',
  'cert_cache_created',
  'cert_cache_tightened',
  'cert_cache_expired',
  'cert_cache_unusable',
  'cert_cache_write_failed',
  'acme_issue_failed',
  // ACME mode in a cluster (decision 0020)
  'cert_synced',
  'cert_sync_failed',
  'cert_issuer_busy',
  'cert_lock_lost',
  // certificate-file mode
  'tls_cert_loaded',
  'tls_cert_reloaded',
  'tls_cert_unchanged',
  'tls_cert_reload_failed',
  'tls_watch_failed',
] as const;

export type LogEvent = (typeof LOG_EVENTS)[number];

/** Why a binary's envelope was dropped (envelope_dropped); the first five come from the codec. */
export const ENVELOPE_DROP_REASONS = [
  'malformed',
  'not_object',
  'missing_conn_id',
  'missing_frame',
  'bad_close_code',
  'unknown conn_id',
  'phone refused frame',
] as const;
export type EnvelopeDropReason = (typeof ENVELOPE_DROP_REASONS)[number];

/** Which registry step failed (registry_failed): only a registry on an external store fails. */
export const REGISTRY_STEPS = ['claim', 'resolve_conflict', 'register_phone', 'unregister_phone', 'release'] as const;
export type RegistryStep = (typeof REGISTRY_STEPS)[number];

/** Why a push wake was dropped (push_wake_dropped). */
export const WAKE_DROP_REASONS = [
  'push disabled',
  'shutting down',
  'too many sends in flight',
  'rate limited',
  'wake is not an object',
  'unsupported platform',
  'missing token',
] as const;
export type WakeDropReason = (typeof WAKE_DROP_REASONS)[number];

/** Events whose `reason` is a closed set; every other event's reason is operator-facing text. */
export interface EventReason {
  envelope_dropped: EnvelopeDropReason;
  registry_failed: RegistryStep;
  registry_busy: RegistryStep;
  push_wake_dropped: WakeDropReason;
  proxy_header_rejected: ProxyRejectReason;
  rate_limited: 'no usable client IP';
  push_disabled: 'unset';
}

/** Every closed reason set, by event (the docs test walks this). */
export const EVENT_REASONS: { readonly [E in keyof EventReason]: readonly EventReason[E][] } = {
  envelope_dropped: ENVELOPE_DROP_REASONS,
  registry_failed: REGISTRY_STEPS,
  registry_busy: REGISTRY_STEPS,
  push_wake_dropped: WAKE_DROP_REASONS,
  proxy_header_rejected: PROXY_REASONS, // also the metric's label values
  rate_limited: ['no usable client IP'],
  push_disabled: ['unset'],
};
