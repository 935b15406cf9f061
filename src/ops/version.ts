// The package version, read once from package.json so /healthz, --version and
// the startup log line never drift from what was released.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  // dist/src/ops/version.js and src/ops/version.ts both sit three levels below the root.
  const url = new URL('../../../package.json', import.meta.url);
  try {
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') return pkg.version;
  } catch {
    // fall through
  }
  return '0.0.0-unknown';
}

export const VERSION: string = readVersion();
