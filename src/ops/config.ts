// The command line's public face (operations.md §1). The parts live in config/:
// go-numbers (Go's bool/int syntax), listen-address (address grammar), flag-table
// (the typed table), go-flag-parser (the Go-style tokenizer), cross-flag (rules
// between flags), command-line (the whole pass) and cluster (cluster mode's
// settings). Callers import from here.
export { UsageError } from './config/errors.js';
export { parseGoInt } from './config/go-numbers.js';
export { parseListenAddress, type ListenAddress } from './config/listen-address.js';
export { FLAGS, TOPICS, type FlagDef } from './config/flag-table.js';
export type { ClusterConfig, RelayConfig } from './config/relay-config.js';
export { defaultConfig, parseCommandLine, type ParseOutcome } from './config/command-line.js';
export { resolveCluster } from './config/cluster.js';
