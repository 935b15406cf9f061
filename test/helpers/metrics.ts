// Reads one series' value from a relay's metrics registry, as a scrape would.
import type { RelayMetrics } from '../../src/ops/metrics.js';

export async function metricValue(metrics: RelayMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (m === undefined) throw new Error(`no metric ${name}`);
  const data = await m.get();
  const want = Object.entries(labels);
  const v = data.values.find((x) => want.every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value ?? 0;
}
