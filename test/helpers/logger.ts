// A logger that writes nothing, for tests that need one but assert no lines
// (and for the type-level checks of the closed event and reason sets).
import type { Logger } from '../../src/ops/logger.js';

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  isLevelEnabled: () => false,
  flush() {},
};
