// Starts a real relay in-process on an ephemeral loopback port, with short
// tunables and a logger whose lines are captured for assertions.
import { homedir } from 'node:os';
import { startApp, type AppDeps, type RunningApp } from '../../src/app.js';
import { defaultConfig, type RelayConfig } from '../../src/ops/config.js';
import { createLogger, type Logger } from '../../src/ops/logger.js';
import { RelayMetrics } from '../../src/ops/metrics.js';
import type { PushDispatcher } from '../../src/push/dispatcher.js';

export interface TestRelay {
  app: RunningApp;
  url: string;
  port: number;
  config: RelayConfig;
  logs: string[];
  /** Parsed log lines. */
  events(): Array<Record<string, unknown>>;
  /**
   * Resolves once `count` log lines of `event` carrying every field in `fields`
   * were written (counting lines already there), or rejects after `ms`.
   */
  waitEvent(event: string, fields?: Record<string, unknown>, count?: number, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Every log line any test relay wrote, checked against the allowlist by logging.test. */
export const allLogLines: string[] = [];

export const FAST: Partial<RelayConfig> = {
  gracePeriodMs: 2000,
  heartbeatIntervalMs: 5000,
  heartbeatTimeoutMs: 5000,
  conflictProbeTimeoutMs: 500,
  writeTimeoutMs: 2000,
  readMessageTimeoutMs: 2000,
  headerTimeoutMs: 1000,
  drainTimeoutMs: 2000,
  // Every test client comes from 127.0.0.1: admission tests set their own limits.
  rateLimitBurst: 1_000_000,
  maxConnectionsPerIp: 0,
  // No fixed metrics port in tests; metrics tests bind 127.0.0.1:0 explicitly.
  metricsListen: undefined,
};

/** A metrics listener on an ephemeral loopback port (the flag parser forbids port 0). */
export const EPHEMERAL_METRICS = { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' };

/** `makePush` builds a dispatcher on the relay's own logger and metrics (push on). */
export type TestDeps = Partial<AppDeps> & { makePush?: (logger: Logger, metrics: RelayMetrics) => PushDispatcher };

export async function startRelay(overrides: Partial<RelayConfig> = {}, testDeps: TestDeps = {}): Promise<TestRelay> {
  const { makePush, ...deps } = testDeps;
  const config: RelayConfig = { ...defaultConfig(homedir()), ...FAST, ...overrides };
  const logs: string[] = [];
  const onLine = new Set<() => void>();
  const logger = createLogger('debug', {
    write(line: string) {
      logs.push(line);
      allLogLines.push(line);
      for (const f of onLine) f();
    },
  });
  const events = (): Array<Record<string, unknown>> => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitEvent = (event: string, fields: Record<string, unknown> = {}, count = 1, ms = 3000): Promise<void> =>
    new Promise((resolve, reject) => {
      const matches = (): boolean =>
        events().filter((e) => e.event === event && Object.entries(fields).every(([k, v]) => e[k] === v)).length >= count;
      if (matches()) return resolve();
      const timer = setTimeout(() => {
        onLine.delete(check);
        reject(new Error(`no ${count} × ${event} ${JSON.stringify(fields)} within ${ms} ms`));
      }, ms);
      function check(): void {
        if (!matches()) return;
        clearTimeout(timer);
        onLine.delete(check);
        resolve();
      }
      onLine.add(check);
    });
  if (makePush !== undefined) {
    deps.metrics ??= new RelayMetrics({ push: true });
    deps.push = makePush(logger, deps.metrics);
  }
  const app = await startApp(
    config,
    { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
    {
      logger,
      closeTimeoutMs: 1000,
      ...deps,
    },
  );
  const port = app.address.port;
  return {
    app,
    url: `ws://127.0.0.1:${port}`,
    port,
    config,
    logs,
    events,
    waitEvent,
    stop: () => app.drain(),
  };
}
