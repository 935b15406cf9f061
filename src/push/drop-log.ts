// Rate-limits the push_wake_dropped warn line. A hostile binary can send wakes as
// fast as its socket allows; each is dropped cheaply, and the log must not turn
// that into a flood. At most `perSecond` lines a second relay-wide; the next line
// after a quiet spell carries `count` = the lines suppressed in between.
import type { WakeDropReason } from '../ops/log-events.js';
import type { Logger } from '../ops/logger.js';

export class DropLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly perSecond = 10,
  ) {}

  drop(serverId: string, reason: WakeDropReason): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.suppressed++;
      return;
    }
    this.inWindow++;
    const count = this.suppressed > 0 ? this.suppressed : undefined;
    this.suppressed = 0;
    this.logger.warn('push_wake_dropped', { server_id: serverId, reason, count });
  }
}
