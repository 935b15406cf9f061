// The hand-off point for push wakes (operations.md §9). The relay calls
// `wake()` from the binary's read loop and never waits on it; an
// implementation must return at once and do its work asynchronously.
import type { Logger } from '../ops/logger.js';
import { DropLog } from './drop-log.js';

export interface PushDispatcher {
  /** `request` is the parsed `push_wake` value, not yet validated. */
  wake(serverId: string, request: unknown): void;
  /** Cancels in-flight work on shutdown. */
  close(): Promise<void>;
}

/** Push off (no credentials configured): every wake is dropped with a warn line. */
export class DisabledPush implements PushDispatcher {
  private readonly dropLog: DropLog;

  constructor(logger: Logger) {
    this.dropLog = new DropLog(logger);
  }

  wake(serverId: string): void {
    this.dropLog.drop(serverId, 'push disabled');
  }

  async close(): Promise<void> {}
}
