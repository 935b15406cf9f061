// Forwarded-frame counters, batched: the hot path bumps plain numbers and one
// task per event-loop turn adds them to the Prometheus counters, so a burst of
// N frames costs one prom-client call per series instead of N. The task runs
// before the turn's writes are flushed (wire.ts), so a counter never lags a
// frame that has already reached its peer.
import type { RelayMetrics } from '../ops/metrics.js';
import { atTurnEnd } from './wire.js';

export class Tally {
  private p2bFrames = 0;
  private p2bBytes = 0;
  private b2pFrames = 0;
  private b2pBytes = 0;
  private pending = false;
  private readonly flushTask = (): void => this.flush();

  constructor(private readonly metrics: RelayMetrics) {}

  phoneToBinary(bytes: number): void {
    this.p2bFrames++;
    this.p2bBytes += bytes;
    if (!this.pending) this.arm();
  }

  binaryToPhone(bytes: number): void {
    this.b2pFrames++;
    this.b2pBytes += bytes;
    if (!this.pending) this.arm();
  }

  private arm(): void {
    this.pending = true;
    atTurnEnd(this.flushTask);
  }

  private flush(): void {
    this.pending = false;
    const m = this.metrics;
    if (this.p2bFrames > 0) {
      m.framesPhoneToBinary.inc(this.p2bFrames);
      m.bytesPhoneToBinary.inc(this.p2bBytes);
      this.p2bFrames = 0;
      this.p2bBytes = 0;
    }
    if (this.b2pFrames > 0) {
      m.framesBinaryToPhone.inc(this.b2pFrames);
      m.bytesBinaryToPhone.inc(this.b2pBytes);
      this.b2pFrames = 0;
      this.b2pBytes = 0;
    }
  }
}
