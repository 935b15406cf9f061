// Every cluster series on a registry, registered by the same call cluster mode makes
// (registerClusterSeries, src/cluster/runtime.ts) but fed by stand-ins: no Redis. The
// docs and alert-rule tests check names and label values against it.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { BusCounters } from '../../src/cluster/bus.js';
import type { Membership } from '../../src/cluster/membership.js';
import { registerClusterSeries } from '../../src/cluster/metrics.js';
import type { ClusterStore } from '../../src/cluster/store.js';

export function registerStandInClusterSeries(registry: Registry): void {
  const up = { status: 'ready' } as unknown as Redis;
  registerClusterSeries(registry, {
    membership: Object.assign(new EventEmitter(), { liveNodes: 1, state: 'live' }) as unknown as Membership,
    bus: { counters: new BusCounters(), isReady: true },
    dropped: () => 0,
    connections: { registry: up, 'bus-pub': up, 'bus-sub': up },
    store: { observe: undefined } as unknown as ClusterStore,
  });
}
