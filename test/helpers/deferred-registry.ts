// A Registry whose lifecycle answers the test releases by hand, for the races
// between a pending registry step and a connection closing (decision 0013).
// Decisions are made by a real MemoryRegistry when the test releases a call,
// the way a store across the network answers late; calls of operations not
// held go straight through.
import { MemoryRegistry, type Registry, type RegistryCounts, type RegistryHooks } from '../../src/relay/registry.js';
import type { BinaryEndpoint, PhoneEndpoint } from '../../src/relay/endpoints.js';

export type LifecycleOp = 'claim' | 'resolveConflict' | 'registerPhone' | 'unregisterPhone' | 'releaseBinary';

interface Held {
  op: LifecycleOp;
  run: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class DeferredRegistry implements Registry {
  readonly inner: MemoryRegistry;
  /** Every lifecycle call in order, with its server-id. */
  readonly calls: string[] = [];
  private readonly queue: Held[] = [];
  private readonly waiters: Array<{ op: LifecycleOp; done: () => void }> = [];

  constructor(
    hooks: RegistryHooks<PhoneEndpoint>,
    readonly held: Set<LifecycleOp>,
    gracePeriodMs = 60_000,
  ) {
    this.inner = new MemoryRegistry(hooks, { gracePeriodMs });
  }

  /** Resolves once a call of `op` is being held. */
  whenHeld(op: LifecycleOp): Promise<void> {
    if (this.queue.some((h) => h.op === op)) return Promise.resolve();
    return new Promise((done) => this.waiters.push({ op, done }));
  }

  /** Lets the oldest held call of `op` reach the inner registry and answer. */
  release(op: LifecycleOp): Promise<void> {
    const h = this.take(op);
    return h.run().then(h.resolve, h.reject);
  }

  /** Fails the oldest held call of `op`, as an unreachable store would. */
  fail(op: LifecycleOp): void {
    this.take(op).reject(new Error('store unreachable'));
  }

  claim(serverId: string, binary: BinaryEndpoint) {
    return this.call('claim', serverId, () => this.inner.claim(serverId, binary));
  }
  resolveConflict(serverId: string, newcomer: BinaryEndpoint, incumbent: BinaryEndpoint, alive: boolean) {
    return this.call('resolveConflict', serverId, () => this.inner.resolveConflict(serverId, newcomer, incumbent, alive));
  }
  registerPhone(serverId: string, phone: PhoneEndpoint, maxPhones: number) {
    return this.call('registerPhone', serverId, () => this.inner.registerPhone(serverId, phone, maxPhones));
  }
  unregisterPhone(serverId: string, phone: PhoneEndpoint) {
    return this.call('unregisterPhone', serverId, () => this.inner.unregisterPhone(serverId, phone));
  }
  releaseBinary(serverId: string, binary: BinaryEndpoint) {
    return this.call('releaseBinary', serverId, () => this.inner.releaseBinary(serverId, binary));
  }
  holder(serverId: string): BinaryEndpoint | undefined {
    return this.inner.holder(serverId);
  }
  phone(serverId: string, connId: string): PhoneEndpoint | undefined {
    return this.inner.phone(serverId, connId);
  }
  phones(serverId: string): Iterable<PhoneEndpoint> {
    return this.inner.phones(serverId);
  }
  counts(): RegistryCounts {
    return this.inner.counts();
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  private call<T>(op: LifecycleOp, serverId: string, run: () => Promise<T>): Promise<T> {
    this.calls.push(`${op} ${serverId}`);
    if (!this.held.has(op)) return run();
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, run, resolve: resolve as (v: unknown) => void, reject });
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i]!;
        if (w.op === op) {
          this.waiters.splice(i, 1);
          w.done();
        }
      }
    });
  }

  private take(op: LifecycleOp): Held {
    const i = this.queue.findIndex((h) => h.op === op);
    if (i === -1) throw new Error(`no held ${op}`);
    return this.queue.splice(i, 1)[0]!;
  }
}
