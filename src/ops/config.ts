// The command line's public face (operations.md §1). The parts live in config/:
// go-numbers (Go's bool/int syntax), listen-address (address grammar), flag-table
// (the typed table), go-flag-parser (the Go-style tokenizer), cross-flag (rules
// between flags), command-line (the whole pass) and cluster (cluster mode's
// settings). Callers import from here.
export { UsageError } from './config/errors.js';
export { parseGoBool, parseGoInt } from './config/go-numbers.js';
export { isLoopbackLiteral, parseListenAddress, type ListenAddress } from './config/listen-address.js';
export { FLAGS, TOPICS, type FlagDef, type FlagType, type Topic } from './config/flag-table.js';
export type { FlagKey, FlagValues, LogLevel, RelayConfig } from './config/relay-config.js';
export { defaultConfig, parseCommandLine, type ParseOutcome } from './config/command-line.js';
export {
  MAX_NODE_TTL_MS,
  MIN_NODE_TTL_MS,
  resolveCluster,
  type ClusterConfig,
  type ClusterResolution,
  type NodeIdFacts,
} from './config/cluster.js';
export type { RedisTarget } from './redis-url.js';
