// The closed allowlist of structured-log field keys (operations.md §7). Operators
// build searches and alerts on these names, and keeping the set closed is what
// stops a token, a header set or a frame from slipping into a log line.

/** Keys a log line may carry besides the logger's own (`level`, `time`, `event`). */
export const LOG_KEYS = [
  // connection and routing
  'server_id',
  'conn_id',
  'binary_conn_id',
  'device_name',
  'remote',
  'binary_version',
  'err',
  'path',
  'from',
  'to',
  'close_code',
  'token_fp',
  'duration',
  'fcm_message_id',
  // boot-time and operational
  'env_var',
  'reason',
  'flag',
  'addr',
  'version',
  'mode',
  'capabilities',
  'count',
  'status',
  'outcome',
  'signal',
  'dir',
  'domain',
  // cluster mode: this node's --node-id, and a peer node's ref (never a metric label)
  'node',
  'peer',
  // certificate-file mode: which file, and the serving certificate's serial
  'file',
  'serial',
  // ACME mode: the problem type of a failed issuance (urn:ietf:params:acme:error:…)
  'acme_error',
] as const;

export type LogKey = (typeof LOG_KEYS)[number];
export type LogFields = Partial<Record<LogKey, string | number | boolean | undefined>>;

/** Keys pino itself writes on every line. */
export const BASE_KEYS = ['level', 'time', 'event'] as const;

const allowed: ReadonlySet<string> = new Set<string>([...LOG_KEYS, ...BASE_KEYS]);

export function isAllowedLogKey(key: string): boolean {
  return allowed.has(key);
}
