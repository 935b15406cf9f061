#!/usr/bin/env -S node --max-semi-space-size=4
// The `pyrycode-relay` command: parse flags, run boot checks, start the relay,
// and turn signals into a graceful drain. Exit codes (operations.md §3): 0 after
// a signal-triggered drain or --version/--help, 1 when a listener fails, 2 for
// any refusal at boot (bad flag, bad env, unsafe setup).
import { readFileSync } from 'node:fs';
import { url as inspectorUrl } from 'node:inspector';
import { randomBytes } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { startApp, type RunningApp } from '../app.js';
import { RedisUnavailableError, RedisVersionError } from '../cluster/redis-client.js';
import { CacheDirError } from '../tls/cache-dir.js';
import { CertFileError } from '../tls/file-certs.js';
import { runBootChecks, type BootFacts } from '../ops/boot-checks.js';
import type { RelayEnvironment } from '../ops/env.js';
import { parseCommandLine, UsageError, type RelayConfig } from '../ops/config.js';
import { createLogger, errText, type Logger } from '../ops/logger.js';
import { VERSION } from '../ops/version.js';
import { pushSettings } from '../push/setup.js';
import { helpText } from './help.js';
import { runProbe } from './probe.js';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

function usageFailure(message: string): never {
  process.stderr.write(`pyrycode-relay: ${message}\n\n${helpText()}`);
  process.exit(EXIT_USAGE);
}

function readProcStatus(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Boot checks §3 steps 2–7: the validated environment and the config with its cluster
 * settings filled in, or undefined after logging the refusal.
 */
function bootChecks(config: RelayConfig, logger: Logger): { environment: RelayEnvironment; config: RelayConfig } | undefined {
  const facts: BootFacts = {
    env: process.env,
    platform: process.platform,
    euid: process.geteuid?.(),
    procSelfStatus: readProcStatus(),
    execArgv: process.execArgv,
    inspectorUrl: inspectorUrl(),
    hostname: hostname(),
    randomHex: randomBytes(3).toString('hex'),
  };
  const verdict = runBootChecks(config, facts);
  for (const w of verdict.warnings) logger.warn(w.event, w.fields);
  if (!verdict.ok) {
    logger.error(verdict.refusal.event, verdict.refusal.fields);
    return undefined;
  }
  return { environment: verdict.environment, config: { ...config, cluster: verdict.cluster } };
}

async function run(parsed: RelayConfig, logger: Logger): Promise<number> {
  // The validated environment (production flag, FCM key and URL) is for the push sender.
  const booted = bootChecks(parsed, logger);
  if (booted === undefined) return EXIT_USAGE;
  const { environment, config } = booted;
  const listenAt = config.insecureListen ?? config.httpsListen;
  let app: RunningApp;
  try {
    // --https-proxy-protocol (TLS modes only): the PROXY v2 header comes before the TLS handshake.
    app = await startApp(config, listenAt, {
      logger,
      proxyProtocol: config.httpsProxyProtocol ? {} : undefined,
      pushSettings: pushSettings(environment, config.fcmProject),
    });
  } catch (err) {
    // Cluster boot: one line with the reason (never the URL), exit 1.
    if (err instanceof RedisVersionError) {
      logger.error('redis_unavailable', { reason: err.reason, version: err.version });
      return EXIT_RUNTIME;
    }
    if (err instanceof RedisUnavailableError) {
      logger.error('redis_unavailable', { reason: err.code === undefined ? err.reason : `${err.reason} (${err.code})` });
      return EXIT_RUNTIME;
    }
    if (err instanceof CacheDirError) {
      logger.error('boot_refused', { flag: 'cert-cache', dir: err.dir, reason: err.message });
      return EXIT_RUNTIME;
    }
    if (err instanceof CertFileError) {
      logger.error('boot_refused', { flag: err.flag, file: err.file, reason: err.reason });
      return EXIT_RUNTIME;
    }
    logger.error('listen_failed', { err: errText(err) });
    return EXIT_RUNTIME;
  }
  return new Promise<number>((resolve) => {
    let draining = false;
    const drain = (code: number, signal?: string): void => {
      if (draining) return; // a second signal during the drain is ignored
      draining = true;
      logger.info('shutdown_started', { signal });
      void app.drain().then(() => {
        logger.info('shutdown_complete', {});
        resolve(code);
      });
    };
    process.on('SIGTERM', () => drain(EXIT_OK, 'SIGTERM'));
    process.on('SIGINT', () => drain(EXIT_OK, 'SIGINT'));
    // Certificate-file mode: SIGHUP rereads the pair (other modes keep the default: exit).
    const files = app.tlsFiles;
    if (files !== undefined) process.on('SIGHUP', () => void files.reloader.reload('SIGHUP'));
    for (const listener of app.listeners) {
      listener.on('error', (err) => {
        logger.error('listener_failed', { err: errText(err) });
        drain(EXIT_RUNTIME);
      });
    }
    // Announced only once the signal handlers are in place: a supervisor (or a
    // test) may send SIGTERM the moment it reads this line.
    if (config.insecureListen !== undefined) {
      logger.info('relay_started', { version: VERSION, mode: 'insecure', addr: listenAt.text });
    } else if (files !== undefined) {
      logger.info('relay_started', { version: VERSION, mode: 'tls-files', addr: listenAt.text, file: config.tlsCert });
    } else {
      logger.info('relay_started', { version: VERSION, mode: 'tls', addr: listenAt.text, domain: config.domain });
      logger.info('http01_listening', { addr: config.httpListen.text });
    }
    if (app.metricsAddress !== undefined) logger.info('metrics_listening', { addr: config.metricsListen?.text });
  });
}

async function main(argv: readonly string[]): Promise<void> {
  let outcome;
  try {
    outcome = parseCommandLine(argv, { homedir: homedir() });
  } catch (err) {
    if (err instanceof UsageError) usageFailure(err.message);
    throw err;
  }
  switch (outcome.kind) {
    case 'help':
      process.stdout.write(helpText());
      process.exit(EXIT_OK);
    // falls through (exit never returns)
    case 'version':
      process.stdout.write(`pyrycode-relay ${VERSION}\n`);
      process.exit(EXIT_OK);
    // falls through
    case 'probe':
      process.exit(await runProbe(outcome.args));
    // falls through
    case 'run': {
      const logger = createLogger(outcome.config.logLevel);
      // Node opens an inspector on SIGUSR1 unless someone listens for it; no
      // debug listener may ever be opened (operations.md §3 step 7).
      process.on('SIGUSR1', () => logger.warn('inspector_signal_ignored', { signal: 'SIGUSR1' }));
      const code = await run(outcome.config, logger);
      logger.flush();
      process.exit(code);
    }
  }
}

void main(process.argv.slice(2));
