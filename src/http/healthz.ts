// GET /healthz (operations.md §5): fixed keys in a fixed order, no per-server
// data, never logged, never rate-limited.
import type { ServerResponse } from 'node:http';

export interface HealthSource {
  counts(): { binaries: number; phones: number };
}

export function healthBody(version: string, source: HealthSource, startedAt: number): string {
  const c = source.counts();
  const uptime = Math.floor((Date.now() - startedAt) / 1000);
  return (
    `{"status":"ok","version":${JSON.stringify(version)},"connected_binaries":${c.binaries},` +
    `"connected_phones":${c.phones},"uptime_seconds":${uptime}}`
  );
}

export function writeHealth(res: ServerResponse, body: string, headOnly: boolean): void {
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(headOnly ? undefined : body);
}
