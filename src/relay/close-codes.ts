// Close codes and their fixed reasons (protocol.md §4). Reasons never echo a
// server-id, token or limit, so they are constants.

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  invalidPayload: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  noServer: 4404,
  claimed: 4409,
  tooManyPhones: 4429,
} as const;

export const Reason = {
  shuttingDown: 'shutting down',
  graceExpired: '',
  notJson: 'frame is not json',
  messageTimeout: 'message timeout',
  tooBig: 'message too big',
  heartbeatTimeout: 'heartbeat timeout',
  backlogFull: 'phone backlog full',
  phoneWriteFailed: 'phone write failed',
  binaryWriteFailed: 'binary write failed',
  noServer: 'no server with that id',
  reclaimed: 'binary reclaimed server-id',
  claimed: 'server-id already claimed',
  tooManyPhones: 'too many phones for server-id',
} as const;
