// The conflict probe (relay-behaviour.md §1): a newcomer claims a server-id a
// live binary holds, so the incumbent is pinged and keeps the slot only if it
// answers within the probe timeout. The incumbent is an endpoint — in a cluster
// possibly on another node, which runs the ping there — and this part adds the
// deadline on the injected clock, so a probe that never settles (a lost node)
// still counts as no answer.
import type { Clock } from './clock.js';
import type { BinaryEndpoint } from './endpoints.js';

export class ConflictProbe {
  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  /** Whether `incumbent` answered in time. Never rejects. */
  alive(incumbent: Pick<BinaryEndpoint, 'probe'>): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (alive: boolean): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(deadline);
        resolve(alive);
      };
      const deadline = this.clock.setTimeout(() => settle(false), this.timeoutMs);
      incumbent.probe(this.timeoutMs).then(settle, () => settle(false));
    });
  }
}
