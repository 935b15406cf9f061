// The frame bus's series (`pyrycode_relay_cluster_bus_*`) on the relay's prom-client
// registry. The bus keeps plain counter fields (bus.ts BusCounters); each series here
// mirrors them when scraped, so the cross-node frame path pays one field add, never a
// prom-client call. Labels are closed sets: direction, a link-lost reason.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BusCounters, FrameBus, LinkLostReason } from './bus.js';

type Read = (c: BusCounters) => number;

/** A counter whose cells follow plain fields: each scrape adds what they grew by. */
function mirrored(
  r: Registry,
  bus: BusSource,
  name: string,
  help: string,
  label: string | undefined,
  cells: [string | undefined, Read][],
): void {
  const state = cells.map(() => 0);
  const counter = new Counter({
    name,
    help,
    labelNames: label === undefined ? [] : [label],
    registers: [r],
    collect() {
      cells.forEach(([value, read], i) => {
        const now = read(bus.counters);
        const child = label === undefined || value === undefined ? this : this.labels({ [label]: value });
        child.inc(Math.max(0, now - state[i]!));
        state[i] = now;
      });
    },
  });
  // Every cell exists from the first scrape, at 0.
  for (const [value] of cells) (label === undefined || value === undefined ? counter : counter.labels({ [label]: value })).inc(0);
}

const LOST_REASONS: readonly LinkLostReason[] = [
  'gap',
  'reset',
  'publish_failed',
  'not_subscribed',
  'overflow',
  'subscriber_lost',
  'probe_lost',
];

/** What the series read: a bus, or a view that follows the node's current bus. */
export type BusSource = Pick<FrameBus, 'counters' | 'isReady'>;

export function registerBusMetrics(r: Registry, bus: BusSource): void {
  const dir = (name: string, help: string, out: Read, inn: Read): void =>
    mirrored(r, bus, `pyrycode_relay_cluster_bus_${name}`, help, 'direction', [
      ['out', out],
      ['in', inn],
    ]);
  const one = (name: string, help: string, read: Read): void =>
    mirrored(r, bus, `pyrycode_relay_cluster_bus_${name}`, help, undefined, [[undefined, read]]);

  dir(
    'batches_total',
    'Bus batches (one PUBLISH each) sent to and accepted from other nodes.',
    (c) => c.batchesOut,
    (c) => c.batchesIn,
  );
  dir(
    'messages_total',
    'Bus messages sent and accepted.',
    (c) => c.messagesOut,
    (c) => c.messagesIn,
  );
  dir(
    'frames_total',
    'Frames carried by bus messages, sent and accepted.',
    (c) => c.framesOut,
    (c) => c.framesIn,
  );
  dir(
    'bytes_total',
    'Bus payload bytes published, and received on this node channel.',
    (c) => c.bytesOut,
    (c) => c.bytesIn,
  );
  one('gaps_total', 'Bus batches that arrived after a missing one (the link is declared lost).', (c) => c.gaps);
  one('duplicates_total', 'Bus batches dropped as a duplicate or of a stale link epoch.', (c) => c.duplicates);
  one('malformed_total', 'Payloads on this node channel that are not a valid bus batch.', (c) => c.malformed);
  one('foreign_total', 'Valid bus batches not meant for this node (other destination, forged probe, too many peers).', (c) => c.foreign);
  one('publish_failures_total', 'Bus PUBLISHes that failed (connection down or refused).', (c) => c.publishFailures);
  one('publish_unheard_total', 'Bus PUBLISHes that reached no subscriber.', (c) => c.publishUnheard);
  one('overflows_total', 'Bus messages refused because their destination queue bound was reached.', (c) => c.overflows);
  one('probes_sent_total', 'Self-probes published to prove this node subscription.', (c) => c.probesSent);
  one('probes_lost_total', 'Self-probes that did not come back in time (the subscriber is restarted).', (c) => c.probesLost);
  one('subscribes_total', 'Explicit SUBSCRIBEs after a subscriber (re)connect.', (c) => c.subscribes);
  mirrored(
    r,
    bus,
    'pyrycode_relay_cluster_bus_links_lost_total',
    'Node links declared lost (their cross-node pairs are closed 1012), by reason.',
    'reason',
    LOST_REASONS.map((reason): [string, Read] => [reason, (c) => c.linksLost[reason]]),
  );
  new Gauge({
    name: 'pyrycode_relay_cluster_bus_ready',
    help: '1 while this node bus subscription is proven by a returned self-probe, else 0.',
    registers: [r],
    collect() {
      this.set(bus.isReady ? 1 : 0);
    },
  });
}
