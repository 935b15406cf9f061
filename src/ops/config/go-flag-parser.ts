// The tokenizer: argv → flag texts, the way Go's flag package reads a command line
// (so the Go relay's unit files keep working). -name and --name alike, =value or the
// next argument, bare booleans, "--" ends flags, last occurrence wins, and each
// value's syntax is checked as it is read. Range checks come later (command-line.ts).
import { echo, invalidValue, Rule, shownFlagName, UsageError } from './errors.js';
import type { FlagDef } from './flag-table.js';

export type Tokens =
  | { kind: 'help' }
  | {
      kind: 'flags';
      /** Flag name → the text of its last occurrence. */
      texts: ReadonlyMap<string, string>;
      /** Names that appeared at all. */
      given: ReadonlySet<string>;
    };

export function tokenize(argv: readonly string[], byName: ReadonlyMap<string, FlagDef>): Tokens {
  const texts = new Map<string, string>();
  const given = new Set<string>();
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    if (arg.length < 2 || arg[0] !== '-') {
      throw new UsageError(`unexpected argument ${echo(arg)}`);
    }
    i++;
    let name = arg.slice(arg[1] === '-' ? 2 : 1);
    if (arg === '--') break; // end of flags
    if (name === '' || name[0] === '-' || name[0] === '=') throw new UsageError(`bad flag syntax: ${echo(arg)}`);

    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const def = byName.get(name);
    if (def === undefined) {
      // Go answers -h/-help with usage (exit 0) unless the program defines them.
      if (name === 'h' || name === 'help') return { kind: 'help' };
      const { shown, flag } = shownFlagName(name);
      throw new UsageError(`flag provided but not defined: --${shown}`, flag);
    }
    if (def.type !== 'bool' && value === undefined) {
      // Like Go, the next argument is the value whatever it looks like.
      if (i >= argv.length) throw new UsageError(`flag needs an argument: --${name}`, name);
      value = argv[i++];
    }
    const text = value ?? 'true'; // a bare bool flag never consumes the next argument
    try {
      def.checkSyntax(text);
    } catch (e) {
      if (e instanceof Rule) throw invalidValue(def.name, text, e.message);
      throw e;
    }
    texts.set(name, text);
    given.add(name);
  }
  if (i < argv.length) throw new UsageError(`unexpected argument ${echo(argv[i] as string)}`);
  return { kind: 'flags', texts, given };
}
