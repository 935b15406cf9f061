// Command line (operations.md §1) end to end: tokenize like Go's flag package, fill
// every config field from its table row (given text or default), then the rules
// between flags. Pure: argv and homedir in, config out.
import { checkCrossFlagRules } from './cross-flag.js';
import { invalidValue, Rule } from './errors.js';
import { CONFIG_ROWS, FLAGS, VERSION_FLAG, type Ctx, type FlagDef } from './flag-table.js';
import { parseGoBool } from './go-numbers.js';
import { tokenize } from './go-flag-parser.js';
import type { FlagValues, RelayConfig } from './relay-config.js';

export type ParseOutcome =
  { kind: 'run'; config: RelayConfig } | { kind: 'version' } | { kind: 'help' } | { kind: 'probe'; args: string[] };

const BY_NAME: ReadonlyMap<string, FlagDef> = new Map(FLAGS.map((d) => [d.name, d]));

/** Each row fills its own field, so the object is whole once every row has run. */
function isWhole(out: Partial<FlagValues>): out is FlagValues {
  return CONFIG_ROWS.every((row) => row.key in out);
}

function build(texts: ReadonlyMap<string, string>, given: ReadonlySet<string>, ctx: Ctx): RelayConfig {
  const out: Partial<FlagValues> = {};
  for (const row of CONFIG_ROWS) {
    const text = texts.get(row.name) ?? row.default;
    if (text === undefined) {
      out[row.key] = undefined; // defineFlag allows no default only where the field may be undefined
      continue;
    }
    try {
      row.assign(out, text, ctx);
    } catch (e) {
      if (e instanceof Rule) throw invalidValue(row.name, text, e.message);
      throw e;
    }
  }
  if (!isWhole(out)) throw new Error('flag table left a config field unset');
  return { ...out, given, cluster: undefined };
}

/** Every default; domain and insecureListen unset, nothing given. */
export function defaultConfig(homedir: string): RelayConfig {
  return build(new Map(), new Set(), { homedir });
}

/**
 * Parse argv (without node and script) the way Go's flag package would, then validate.
 * Throws UsageError for anything that should print usage and exit 2.
 */
export function parseCommandLine(argv: readonly string[], env: { homedir: string }): ParseOutcome {
  if (argv[0] === 'probe') return { kind: 'probe', args: argv.slice(1) };
  const tokens = tokenize(argv, BY_NAME);
  if (tokens.kind === 'help') return tokens;
  const { texts, given } = tokens;
  // Go's relay checks -version right after flag.Parse, before any validation.
  const version = texts.get(VERSION_FLAG.name);
  if (version !== undefined && parseGoBool(version) === true) return { kind: 'version' };

  const config = build(texts, given, env);
  checkCrossFlagRules(config, env.homedir);
  return { kind: 'run', config };
}
