// `pyrycode-relay probe <ws-or-wss-url>`: a smoke test an operator (or a cron
// job, or a deploy pipeline) runs against a live relay. It parses its own small
// flag set with node:util's parseArgs (unlike the relay's flags, no Go
// compatibility to keep), runs the checks in probe-checks.ts, and prints one
// line per check (or one JSON document with --json). Exit 0 = every check passed, 1 = any
// check failed or was skipped, 2 = usage error.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { formatGoDuration, parseGoDuration } from '../ops/duration.js';
import { CHECK_NAMES, runChecks, type CheckResult } from './probe-checks.js';

export interface ProbeOptions {
  url: URL;
  json: boolean;
  timeoutMs: number;
  caFile: string | undefined;
  resolve: string | undefined;
}

const DEFAULT_TIMEOUT_MS = 5000;
const MAX_TIMEOUT_MS = 5 * 60 * 1000;

export function probeHelp(): string {
  return [
    'Usage: pyrycode-relay probe [flags] <ws-or-wss-url>',
    '',
    'Plays a binary and phones against a running relay under a fresh random server-id',
    'and checks the behaviour the real clients rely on:',
    `  ${CHECK_NAMES.slice(0, 4).join(', ')},`,
    `  ${CHECK_NAMES.slice(4).join(', ')}.`,
    "The endpoint paths (/v1/server, /v1/client) are appended to the URL's path.",
    'Exit status: 0 all checks passed, 1 a check failed, 2 usage error.',
    '',
    'Flags:',
    '  --json',
    '        print one JSON document instead of one line per check',
    '  --timeout duration',
    `        deadline for each check (default ${formatGoDuration(DEFAULT_TIMEOUT_MS)})`,
    '  --ca file',
    '        PEM file of CA certificates to trust for wss:// instead of the system store',
    '  --resolve ip',
    "        connect to this IP instead of resolving the URL's host (TLS name and Host stay",
    "        the URL's), e.g. to check a new server before moving DNS to it",
    '  -h, --help',
    '        print this help and exit',
    '',
  ].join('\n');
}

export class ProbeUsageError extends Error {}

export type ProbeParse = { kind: 'help' } | { kind: 'run'; options: ProbeOptions };

const OPTIONS = {
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  ca: { type: 'string' },
  resolve: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type OptionName = keyof typeof OPTIONS;

function isOption(name: string): name is OptionName {
  return Object.hasOwn(OPTIONS, name);
}

export function parseProbeArgs(args: readonly string[]): ProbeParse {
  // Non-strict with tokens, so each refusal gets this command's own wording below.
  const { tokens } = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const values: { [K in OptionName]?: string | boolean } = {};
  const positional: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') positional.push(t.value);
    if (t.kind !== 'option') continue;
    if (!isOption(t.name)) throw new ProbeUsageError(`flag provided but not defined: ${t.rawName}`);
    if (OPTIONS[t.name].type === 'boolean') {
      if (t.inlineValue) throw new ProbeUsageError(`${t.rawName} takes no value`);
      values[t.name] = true;
    } else {
      if (t.value === undefined) throw new ProbeUsageError(`flag needs an argument: ${t.rawName}`);
      values[t.name] = t.value; // the last occurrence wins
    }
  }
  if (values.help === true) return { kind: 'help' };

  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (typeof values.timeout === 'string') {
    const ms = parseGoDuration(values.timeout);
    if (ms === undefined || ms <= 0 || ms > MAX_TIMEOUT_MS) {
      throw new ProbeUsageError(
        `invalid value ${JSON.stringify(values.timeout)} for flag --timeout: must be a positive duration up to 5m, e.g. 5s`,
      );
    }
    timeoutMs = ms;
  }
  const caFile = typeof values.ca === 'string' ? values.ca : undefined;
  if (caFile === '') throw new ProbeUsageError('--ca must name a PEM file');
  const resolve = typeof values.resolve === 'string' ? values.resolve : undefined;
  if (resolve !== undefined && isIP(resolve) === 0)
    throw new ProbeUsageError(`--resolve must be an IP address, got ${JSON.stringify(resolve)}`);
  const json = values.json === true;
  if (positional.length !== 1) {
    throw new ProbeUsageError(positional.length === 0 ? 'missing the relay URL' : `expected one URL, got ${positional.length} arguments`);
  }
  const text = positional[0] as string;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProbeUsageError(`not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ProbeUsageError(`the URL must start with ws:// or wss://, got ${JSON.stringify(url.protocol)}`);
  }
  if (url.search !== '' || url.hash !== '') throw new ProbeUsageError('the URL must not carry a query or fragment');
  if (caFile !== undefined && url.protocol !== 'wss:') throw new ProbeUsageError('--ca only applies to wss:// URLs');
  return { kind: 'run', options: { url, json, timeoutMs, caFile, resolve } };
}

const LABEL: Record<CheckResult['status'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' };

function textReport(url: URL, serverId: string, results: readonly CheckResult[], totalMs: number): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = [`probing ${url.href} as server-id ${serverId}`];
  for (const r of results) {
    const ms = `${Math.round(r.ms)} ms`.padStart(8);
    lines.push(`${LABEL[r.status]} ${r.name.padEnd(width)} ${ms}  ${r.detail}`);
  }
  const passed = results.filter((r) => r.status === 'pass').length;
  const failed = results.filter((r) => r.status === 'fail').map((r) => r.name);
  const verdict = failed.length === 0 ? '' : `; failed: ${failed.join(', ')}`;
  lines.push(`${passed}/${results.length} checks passed${verdict} (${Math.round(totalMs)} ms)`, '');
  return lines.join('\n');
}

function jsonReport(url: URL, serverId: string, results: readonly CheckResult[], totalMs: number): string {
  const ok = results.every((r) => r.status === 'pass');
  const checks = results.map((r) => ({ name: r.name, status: r.status, ms: Math.round(r.ms), detail: r.detail }));
  return JSON.stringify({ url: url.href, server_id: serverId, ok, ms: Math.round(totalMs), checks }) + '\n';
}

/** Runs the subcommand; resolves with the exit code. */
export async function runProbe(args: readonly string[]): Promise<number> {
  let parsed: ProbeParse;
  let ca: Buffer | undefined;
  try {
    parsed = parseProbeArgs(args);
    if (parsed.kind === 'run' && parsed.options.caFile !== undefined) {
      try {
        ca = readFileSync(parsed.options.caFile);
      } catch (err) {
        throw new ProbeUsageError(`cannot read --ca file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
  } catch (err) {
    if (!(err instanceof ProbeUsageError)) throw err;
    process.stderr.write(`pyrycode-relay probe: ${err.message}\n\n${probeHelp()}`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(probeHelp());
    return 0;
  }
  const { url, json, timeoutMs, resolve } = parsed.options;
  const serverId = randomUUID();
  const started = performance.now();
  const results = await runChecks({
    base: url,
    timeoutMs,
    serverId,
    ...(ca !== undefined ? { ca } : {}),
    ...(resolve !== undefined ? { resolve } : {}),
  });
  const totalMs = performance.now() - started;
  process.stdout.write((json ? jsonReport : textReport)(url, serverId, results, totalMs));
  return results.every((r) => r.status === 'pass') ? 0 : 1;
}
