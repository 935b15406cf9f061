// Usage text, generated from the flag table in ops/config.ts so the two never drift.
import { FLAGS, TOPICS, type FlagDef } from '../ops/config.js';
import { formatGoDuration, parseGoDuration } from '../ops/duration.js';

function valueLabel(def: FlagDef): string {
  switch (def.type) {
    case 'bool':
      return '[=bool]';
    case 'duration':
      return ' duration';
    case 'int':
      return ' int';
    case 'listen-address':
      return ' host:port';
    case 'enum':
      return ' ' + (def.values ?? []).join('|');
    case 'string':
      return ' string';
  }
}

function defaultLabel(def: FlagDef): string {
  if (def.default === undefined) return '';
  switch (def.type) {
    case 'duration':
      return ` (default ${formatGoDuration(parseGoDuration(def.default) ?? 0)})`;
    case 'string':
    case 'listen-address':
      return ` (default ${JSON.stringify(def.default)})`;
    default:
      return ` (default ${def.default})`;
  }
}

export function helpText(): string {
  const lines = [
    'Usage:',
    '  pyrycode-relay --domain <name> [flags]           TLS with certificates from ACME',
    '  pyrycode-relay --tls-cert <file> --tls-key <file> [flags]',
    '                                                   TLS with your own certificate',
    '  pyrycode-relay --insecure-listen <addr> [flags]  plain HTTP/WS behind a TLS proxy',
    '  pyrycode-relay probe [--json] <ws-or-wss-url>    check a running relay end to end',
    '  pyrycode-relay --version | --help',
    '',
    'Exactly one of --domain, --tls-cert/--tls-key or --insecure-listen is required.',
    'Flags take --name value or --name=value (a single dash works too); booleans take',
    '--name or --name=true|false.',
    'Durations use Go syntax: 500ms, 30s, 1m30s.',
    'Cluster mode (several relays sharing one Redis) is on when PYRYCODE_RELAY_REDIS_URL is',
    'set; the Cluster flags are checked always but only used then.',
  ];
  for (const topic of TOPICS) {
    const defs = FLAGS.filter((d) => d.topic === topic);
    if (defs.length === 0) continue;
    lines.push('', `${topic}:`);
    for (const def of defs) {
      lines.push(`  --${def.name}${valueLabel(def)}`, `        ${def.help}${defaultLabel(def)}`);
    }
    // -h/--help is not a table flag (Go handles it outside the flag set either way).
    if (topic === 'General') lines.push('  -h, --help', '        print this help and exit');
  }
  lines.push('');
  return lines.join('\n');
}
