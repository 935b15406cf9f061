// The wire, in one place (protocol.md §2–§4): endpoint paths, upgrade header
// names, every close code with its fixed reason, and the routing-envelope keys.
// The HTTP layer, the relay, the codec and the probe all speak it, so it sits at
// the top of src/ rather than inside one of them. Constants only: the frame path
// reads them as it would a literal.

/** Request paths (protocol.md §2). Query strings are ignored by the router. */
export const Path = {
  server: '/v1/server',
  client: '/v1/client',
  healthz: '/healthz',
} as const;

/** Upgrade header names, lower-case as Node delivers them (HTTP names are case-insensitive). */
export const Header = {
  serverId: 'x-pyrycode-server',
  version: 'x-pyrycode-version',
  token: 'x-pyrycode-token',
  deviceName: 'x-pyrycode-device-name',
  userAgent: 'user-agent',
  /** Read only with --trust-x-forwarded-for (operations.md §4). */
  forwardedFor: 'x-forwarded-for',
} as const;

/**
 * Every close code the relay sends, passes on or interprets (protocol.md §4).
 * Codes the binary chooses (4401, 4408, …) are an open set passed through
 * unchanged and are not listed.
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  /** Sent by ws for a frame that breaks RFC 6455 (unmasked, bad opcode, …). */
  protocolError: 1002,
  /** Never on the wire: a peer's close frame without a code. */
  noStatus: 1005,
  /** Never on the wire: the connection dropped without a close frame. */
  abnormal: 1006,
  invalidPayload: 1007,
  policy: 1008,
  /** Sent by ws (maxPayload = --max-message-bytes) as a bare code: the spec fixes no reason text. */
  tooBig: 1009,
  internal: 1011,
  /** Cluster mode: a route between nodes was lost, or the node fenced itself; redial. */
  serviceRestart: 1012,
  /** Cluster mode: the registry cannot decide right now (re-asserting); redial. */
  tryAgainLater: 1013,
  noServer: 4404,
  claimed: 4409,
  tooManyPhones: 4429,
} as const;

/** Fixed close reasons. They never echo a server-id, token or limit, so they are constants. */
export const Reason = {
  shuttingDown: 'shutting down',
  graceExpired: '',
  notJson: 'frame is not json',
  messageTimeout: 'message timeout',
  heartbeatTimeout: 'heartbeat timeout',
  backlogFull: 'phone backlog full',
  phoneWriteFailed: 'phone write failed',
  binaryWriteFailed: 'binary write failed',
  noServer: 'no server with that id',
  reclaimed: 'binary reclaimed server-id',
  claimed: 'server-id already claimed',
  tooManyPhones: 'too many phones for server-id',
  registryFailed: 'registry unavailable',
  routeLost: 'relay route lost',
  tryAgainLater: 'try again later',
} as const;

/** Keys of the routing envelope (protocol.md §3.2). */
export const EnvelopeKey = {
  connId: 'conn_id',
  frame: 'frame',
  closeCode: 'close_code',
  pushWake: 'push_wake',
} as const;
