// GET /healthz (operations.md §5): fixed keys in a fixed order, no per-server
// data, never logged, never rate-limited.
import type { ServerResponse } from 'node:http';

export interface HealthSource {
  counts(): { binaries: number; phones: number };
}

/** Cluster mode (cluster.md §1): two more keys, and 503 while the node is fenced. */
export interface ClusterHealth {
  readonly nodeId: string;
  liveNodes(): number;
  available(): boolean;
}

export function healthBody(version: string, source: HealthSource, startedAt: number, cluster?: ClusterHealth): string {
  const c = source.counts();
  const uptime = Math.floor((Date.now() - startedAt) / 1000);
  const status = cluster === undefined || cluster.available() ? 'ok' : 'unavailable';
  const extra = cluster === undefined ? '' : `,"node_id":${JSON.stringify(cluster.nodeId)},"cluster_nodes":${cluster.liveNodes()}`;
  return (
    `{"status":"${status}","version":${JSON.stringify(version)},"connected_binaries":${c.binaries},` +
    `"connected_phones":${c.phones},"uptime_seconds":${uptime}${extra}}`
  );
}

export function writeHealth(res: ServerResponse, body: string, headOnly: boolean, status = 200): void {
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(headOnly ? undefined : body);
}
