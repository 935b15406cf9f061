// Connection ids. conn_id = `client-<server-id>-<8 lowercase hex>` from a CSPRNG
// (protocol.md §3.3); the binary keys Noise sessions by it. Binary connection
// ids only label log lines.
import { randomBytes } from 'node:crypto';

export function randomHex8(): string {
  return randomBytes(4).toString('hex');
}

/** A conn_id not currently used by a live phone of `serverId`. */
export function newConnId(serverId: string, taken: (connId: string) => boolean): string {
  for (;;) {
    const id = `client-${serverId}-${randomHex8()}`;
    if (!taken(id)) return id;
  }
}
