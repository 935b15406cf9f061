// Structured JSON logging on stderr (operations.md §7). Every line is one event
// with an `event` name from the closed set in log-events.ts (a closed `reason` set
// for the events that declare one) and fields from the closed allowlist in log-keys.ts.
// Unlisted keys are stripped at runtime as a last line of defence; the type of
// `LogFields` makes them a compile error first, and a test fails if one is used.
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { EventReason, LogEvent } from './log-events.js';
import { isAllowedLogKey, type LogFields } from './log-keys.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The fields event `E` may carry: for an event with a closed reason set, `reason` must be one of it. */
export type EventFields<E extends LogEvent> = E extends keyof EventReason
  ? Omit<LogFields, 'reason'> & { reason?: EventReason[E] }
  : LogFields;

export interface Logger {
  debug<E extends LogEvent>(event: E, fields?: EventFields<E>): void;
  info<E extends LogEvent>(event: E, fields?: EventFields<E>): void;
  warn<E extends LogEvent>(event: E, fields?: EventFields<E>): void;
  error<E extends LogEvent>(event: E, fields?: EventFields<E>): void;
  isLevelEnabled(level: LogLevel): boolean;
  /** Writes buffered lines out; called before process exit. */
  flush(): void;
}

const MAX_FIELD_CHARS = 256;
// Boot-time fields written by our own code (never from the network) may run
// longer: a root process names ~40 capabilities.
const LONG_FIELDS: ReadonlySet<string> = new Set(['capabilities', 'reason']);
const MAX_LONG_FIELD_CHARS = 1024;

/** Drops unlisted keys and bounds string lengths so no field can grow a line without limit. */
function sanitize(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value === undefined || !isAllowedLogKey(key)) continue;
    const max = LONG_FIELDS.has(key) ? MAX_LONG_FIELD_CHARS : MAX_FIELD_CHARS;
    out[key] = typeof value === 'string' && value.length > max ? value.slice(0, max) : value;
  }
  return out;
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const base: PinoLogger = pino(
    {
      level,
      base: undefined, // no pid/hostname: keys stay inside the allowlist
      messageKey: 'event',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => sanitize(obj),
      },
    },
    destination ?? pino.destination({ fd: 2, sync: true }),
  );
  const emit =
    (lvl: LogLevel) =>
    (event: LogEvent, fields?: LogFields): void => {
      if (fields === undefined) base[lvl](event);
      else base[lvl](fields, event);
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    isLevelEnabled: (lvl) => base.isLevelEnabled(lvl),
    flush: () => base.flush(),
  };
}

/** Formats an error for the `err` field: its class and message, never a stack or payload. */
export function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
