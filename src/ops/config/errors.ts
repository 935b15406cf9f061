// The two failures of command-line handling: UsageError reaches the CLI (usage on
// stderr, exit 2); Rule is a validator's complaint, wrapped into a UsageError that
// names the flag and quotes the offending text.

/** Bad command line: the caller prints usage on stderr and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The offending flag, without dashes, when there is one. */
  readonly flag: string | undefined;
  constructor(message: string, flag?: string) {
    super(message);
    this.flag = flag;
  }
}

/** A rule violation raised by a syntax step or validator: the rule only, never the value. */
export class Rule extends Error {}

const MAX_ECHO = 64;

/** Quote a user-supplied string for a message, cut to ~64 characters. */
export function echo(s: string): string {
  return JSON.stringify(s.length > MAX_ECHO ? s.slice(0, MAX_ECHO) + '…' : s);
}

/** A flag name as it may appear in a message and in UsageError.flag: cut like echo(). */
export function shownFlagName(name: string): { shown: string; flag: string } {
  const shown = echo(name).slice(1, -1);
  return { shown, flag: name.length > MAX_ECHO ? shown : name };
}

export function invalidValue(name: string, text: string, rule: string): UsageError {
  return new UsageError(`invalid value ${echo(text)} for flag --${name}: ${rule}`, name);
}
