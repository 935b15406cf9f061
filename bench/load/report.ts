// Turns the measurements into the printed table, the markdown table in
// bench/results/latest.md and a hand-written SVG chart (no dependencies):
// median with min–max of 3 runs, and the target ratios of issue #6.
import type { ClusterIdleResult } from './cluster-idle.js';
import type { LifecycleResult, LifecycleTarget } from './lifecycle.js';
import type { Measurement } from './run.js';
import type { Target, Workload } from './settings.js';

export interface Stat {
  med: number;
  min: number;
  max: number;
}

export function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return { med: NaN, min: NaN, max: NaN };
  const mid = s.length >> 1;
  const med = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { med, min: s[0]!, max: s[s.length - 1]! };
}

export type Pick = (m: Measurement) => number;

export const METRICS: Array<{ label: string; pick: Pick; digits: number }> = [
  { label: 'round trips/s', pick: (m) => m.roundTripsPerSec, digits: 0 },
  { label: 'frames/s', pick: (m) => m.framesPerSec, digits: 0 },
  { label: 'p50 µs', pick: (m) => m.latencyUs.p50, digits: 0 },
  { label: 'p90 µs', pick: (m) => m.latencyUs.p90, digits: 0 },
  { label: 'p99 µs', pick: (m) => m.latencyUs.p99, digits: 0 },
  { label: 'p99.9 µs', pick: (m) => m.latencyUs.p999, digits: 0 },
  { label: 'CPU µs/frame', pick: (m) => m.cpuUsPerFrame, digits: 2 },
  { label: 'target CPU %', pick: (m) => m.cpuPct.target, digits: 0 },
  { label: 'echo CPU %', pick: (m) => m.cpuPct.echo, digits: 0 },
  { label: 'generator CPU %', pick: (m) => m.cpuPct.generator, digits: 0 },
  { label: 'peak RSS MiB', pick: (m) => m.peakRssKiB / 1024, digits: 1 },
  { label: 'errors', pick: (m) => m.errors, digits: 0 },
];

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

export function cell(ms: Measurement[], pick: Pick, digits: number): string {
  if (ms.length === 0) return '–';
  const s = stat(ms.map(pick));
  return ms.length === 1 || s.min === s.max ? fmt(s.med, digits) : `${fmt(s.med, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

export function select(all: Measurement[], w: string, t: Target): Measurement[] {
  return all.filter((m) => m.workload === w && m.target === t);
}

export function median(all: Measurement[], w: string, t: Target, pick: Pick): number {
  return stat(select(all, w, t).map(pick)).med;
}

/** One markdown table per workload: metrics as rows, targets as columns. */
export function markdownTables(all: Measurement[], workloads: Workload[], targets: Target[]): string {
  const out: string[] = [];
  for (const w of workloads) {
    out.push(`#### (${w.id}) ${w.title}`, '', `| metric | ${targets.join(' | ')} |`, `|---|${targets.map(() => '---:').join('|')}|`);
    for (const m of METRICS) {
      out.push(`| ${m.label} | ${targets.map((t) => cell(select(all, w.id, t), m.pick, m.digits)).join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

export interface Check {
  name: string;
  value: number;
  limit: number;
  unit: string;
  op: '≤' | '≥';
  ok: boolean;
  /**
   * The same comparison run by run (run r of the relay against run r of the
   * baseline, which ran right after it), median over runs. It is less sensitive
   * to load that changes during the run; `value` is what the target is judged on.
   */
  paired?: number;
}

/** Results of the cluster runs other than the frame workloads (issue #13). */
export interface ClusterExtras {
  lifecycle?: LifecycleResult[];
  clusterIdle?: ClusterIdleResult[];
}

/** The issues' targets (#6, #13), computed from medians of this run. */
export function checks(all: Measurement[], idleKiBPerPhone: number | undefined, extras: ClusterExtras = {}): Check[] {
  const cpu: Pick = (m) => m.cpuUsPerFrame;
  const rt: Pick = (m) => m.roundTripsPerSec;
  const p50: Pick = (m) => m.latencyUs.p50;
  const p99: Pick = (m) => m.latencyUs.p99;
  const out: Check[] = [];
  const paired = (w: string, subject: Target, base: Target, f: (a: number, b: number) => number, pick: Pick): number => {
    const r = select(all, w, subject);
    const b = select(all, w, base);
    return stat(r.slice(0, b.length).map((m, i) => f(pick(m), pick(b[i]!)))).med;
  };
  // One comparison of the relay with a baseline: a ratio (×) or a difference (µs) of
  // the medians, with the same comparison run by run beside it.
  const compare =
    (unit: '×' | 'µs', subject: Target = 'relay') =>
    (name: string, w: string, base: Target, pick: Pick, limit: number, atLeast = false): void => {
      const f = unit === '×' ? (x: number, y: number): number => x / y : (x: number, y: number): number => x - y;
      const a = median(all, w, subject, pick);
      const b = median(all, w, base, pick);
      if (!Number.isFinite(a) || !Number.isFinite(b)) return;
      const value = f(a, b);
      out.push({
        name,
        value,
        limit,
        unit,
        op: atLeast ? '≥' : '≤',
        ok: atLeast ? value >= limit : value <= limit,
        paired: paired(w, subject, base, f, pick),
      });
    };
  const ratio = compare('×');
  const difference = compare('µs');
  ratio('(ii) relay CPU/frame ÷ direct', 'ii', 'direct', cpu, 1.3);
  ratio('(iii) relay CPU/frame ÷ direct', 'iii', 'direct', cpu, 1.3);
  ratio('(ii) relay CPU/frame ÷ nginx', 'ii', 'nginx', cpu, 6);
  ratio('(ii) relay round trips/s ÷ nginx', 'ii', 'nginx', rt, 0.45, true);
  difference('(i) relay p50 − nginx p50', 'i', 'nginx', p50, 30);
  // Proposed replacement for the p50 target above (docs/performance.md, "Latency (i)"):
  // what the relay adds to a bare ws forwarder in the same topology.
  difference('(i) relay p50 − ws-pipe p50 (proposed)', 'i', 'ws-pipe', p50, 30);
  ratio('(i) relay p99 ÷ nginx p99', 'i', 'nginx', p99, 2);
  ratio('(iv) relay round trips/s ÷ nginx', 'iv', 'nginx', rt, 0.9, true);
  ratio('(ii) over TLS: relay CPU/frame ÷ nginx', 'ii-tls', 'nginx', cpu, 1.5);
  if (idleKiBPerPhone !== undefined) {
    out.push({ name: '(v) relay RSS per idle phone', value: idleKiBPerPhone, limit: 7, unit: 'KiB', op: '≤', ok: idleKiBPerPhone <= 7 });
  }
  // Cluster mode (#13): CPU of every process under test (both nodes and
  // redis-server) per forwarded frame, against the single relay of the same run.
  compare('×', 'cluster-same')('(ii) cluster same-node CPU/frame ÷ single-node', 'ii', 'relay', cpu, 1.1);
  compare('×', 'cluster-cross')('(ii) cluster cross-node CPU/frame (2 relays + redis) ÷ single-node', 'ii', 'relay', cpu, 2.5);
  compare('µs', 'cluster-cross')('(i) cluster cross-node p50 − same-node p50', 'i', 'cluster-same', p50, 100);
  // Proposed (docs/performance.md, "Cluster mode"): each node's own CPU per cross-node
  // frame against the single relay, and the cross-node latency against two bus hops.
  for (const node of ['node-a', 'node-b'] as const) {
    compare('×', 'cluster-cross')(
      `(ii) cluster cross-node CPU/frame of ${node} ÷ single-node (proposed)`,
      'ii',
      'relay',
      (m) => m.cpuUsPerFrameBy?.[node] ?? (m.target === 'relay' ? m.cpuUsPerFrame : NaN),
      1.5,
    );
  }
  const hops = (extras.lifecycle ?? []).filter((r) => r.hopUs !== undefined).map((r) => r.hopUs!.p50);
  if (hops.length > 0) {
    const limit = 2 * stat(hops).med + 100;
    compare('µs', 'cluster-cross')(
      `(i) cluster cross-node p50 − same-node p50 (proposed: 2 Redis hops + 100 µs)`,
      'i',
      'cluster-same',
      p50,
      limit,
    );
  }
  out.push(...lifecycleChecks(extras.lifecycle ?? []));
  const ci = extras.clusterIdle ?? [];
  if (ci.length > 0) {
    const bytes = stat(ci.map((r) => r.bytesPerPhone)).med;
    out.push({ name: '(vc) Redis memory per registered phone', value: bytes, limit: 512, unit: 'B', op: '≤', ok: bytes <= 512 });
    // cluster.md §3: once every connection has ended only the live nodes' own keys remain.
    const left = Math.max(...ci.map((r) => r.stateKeysLeft));
    out.push({
      name: '(vc) per-server-id/per-phone keys left after all disconnect',
      value: left,
      limit: 0,
      unit: '',
      op: '≤',
      ok: left === 0,
    });
  }
  const errors = all.reduce((n, m) => n + m.errors, 0);
  out.push({ name: 'frames lost/duplicated/reordered/corrupt', value: errors, limit: 0, unit: '', op: '≤', ok: errors === 0 });
  return out;
}

/** Round trips per connect/disconnect (medians over runs) and connect → first frame p50 over the single relay. */
function lifecycleChecks(runs: LifecycleResult[]): Check[] {
  const out: Check[] = [];
  const of = (t: LifecycleTarget): LifecycleResult[] => runs.filter((r) => r.target === t);
  for (const t of ['cluster-same', 'cluster-cross'] as const) {
    const rs = of(t);
    if (rs.length === 0) continue;
    const conn = stat(rs.map((r) => r.perConnect ?? NaN)).med;
    const disc = stat(rs.map((r) => r.perDisconnect ?? NaN)).med;
    out.push({ name: `(life) ${t}: Redis round trips per phone connect`, value: conn, limit: 2, unit: '', op: '≤', ok: conn <= 2 });
    out.push({ name: `(life) ${t}: Redis round trips per phone disconnect`, value: disc, limit: 2, unit: '', op: '≤', ok: disc <= 2 });
    const single = of('relay');
    if (single.length === 0) continue;
    const p50 = (r: LifecycleResult): number => r.firstFrameUs.p50;
    const value = stat(rs.map(p50)).med - stat(single.map(p50)).med;
    const paired = stat(rs.slice(0, single.length).map((r, i) => p50(r) - p50(single[i]!))).med;
    out.push({
      name: `(life) ${t}: connect → first frame p50 − single-node`,
      value,
      limit: 1000,
      unit: 'µs',
      op: '≤',
      ok: value <= 1000,
      paired,
    });
  }
  return out;
}

export function checksTable(cs: Check[]): string {
  const num = (c: Check, v: number | undefined): string =>
    v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(c.unit === '×' || c.unit === '' ? 2 : 1)} ${c.unit}`.trim();
  const rows = cs.map(
    (c) => `| ${c.name} | ${num(c, c.value)} | ${c.op} ${c.limit} ${c.unit} | ${c.ok ? 'holds' : 'MISSED'} | ${num(c, c.paired)} |`,
  );
  return ['| target | measured (medians) | limit | | run by run (median) |', '|---|---:|---:|---|---:|', ...rows].join('\n');
}

const COLORS: Record<Target, string> = {
  relay: '#d9534f',
  direct: '#5b8bd9',
  nginx: '#4caf50',
  'node-pipe': '#999999',
  'ws-pipe': '#f0ad4e',
  'cluster-same': '#8e44ad',
  'cluster-cross': '#16a085',
};

/** Grouped bar charts, one panel per metric, workloads along x, one bar per target with a min–max whisker. */
export function svgChart(all: Measurement[], workloads: Workload[], targets: Target[], title: string): string {
  const panels: Array<{ label: string; pick: Pick }> = [
    { label: 'round trips/s (higher is better)', pick: (m) => m.roundTripsPerSec },
    { label: 'target CPU µs per frame (lower is better)', pick: (m) => m.cpuUsPerFrame },
    { label: 'p99 latency µs (lower is better)', pick: (m) => m.latencyUs.p99 },
  ];
  const pw = 300,
    ph = 220,
    top = 60,
    left = 50,
    gap = 40;
  const width = left + panels.length * (pw + gap);
  const height = top + ph + 70;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  targets.forEach((t, i) => {
    parts.push(
      `<rect x="${left + i * 90}" y="32" width="12" height="12" fill="${COLORS[t]}"/><text x="${left + i * 90 + 16}" y="42">${t}</text>`,
    );
  });
  panels.forEach((p, pi) => {
    const x0 = left + pi * (pw + gap);
    let maxV = 0;
    for (const m of all) maxV = Math.max(maxV, p.pick(m));
    if (maxV <= 0) maxV = 1;
    parts.push(`<text x="${x0}" y="${top - 4}" font-weight="bold">${esc(p.label)}</text>`);
    parts.push(`<line x1="${x0}" y1="${top + ph}" x2="${x0 + pw}" y2="${top + ph}" stroke="#333"/>`);
    parts.push(`<line x1="${x0}" y1="${top}" x2="${x0}" y2="${top + ph}" stroke="#333"/>`);
    parts.push(`<text x="${x0 - 4}" y="${top + 4}" text-anchor="end">${short(maxV)}</text>`);
    const gw = pw / Math.max(1, workloads.length);
    const bw = (gw - 10) / Math.max(1, targets.length);
    workloads.forEach((w, wi) => {
      const gx = x0 + wi * gw + 5;
      targets.forEach((t, ti) => {
        const ms = select(all, w.id, t);
        if (ms.length === 0) return;
        const s = stat(ms.map(p.pick));
        const y = (v: number): number => top + ph - (ph * v) / maxV;
        const bx = gx + ti * bw;
        parts.push(
          `<rect x="${bx.toFixed(1)}" y="${y(s.med).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(top + ph - y(s.med)).toFixed(1)}" fill="${COLORS[t]}"><title>${t} (${w.id}): ${short(s.med)}</title></rect>`,
        );
        const cx = bx + (bw - 2) / 2;
        parts.push(
          `<line x1="${cx.toFixed(1)}" y1="${y(s.min).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(s.max).toFixed(1)}" stroke="#222"/>`,
        );
      });
      parts.push(`<text x="${(gx + (gw - 10) / 2).toFixed(1)}" y="${top + ph + 14}" text-anchor="middle">(${w.id})</text>`);
    });
  });
  parts.push(
    `<text x="${left}" y="${height - 12}" fill="#555">bars: median of runs; whiskers: min–max. Workloads: ${esc(workloads.map((w) => `(${w.id}) ${w.title}`).join('; '))}</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

/** Markdown for the lifecycle and cluster-idle runs (issue #13). */
export function clusterTables(extras: ClusterExtras): string {
  const out: string[] = [];
  const life = extras.lifecycle ?? [];
  if (life.length > 0) {
    const by = (o: Record<string, number> | undefined): string =>
      o === undefined
        ? '–'
        : Object.entries(o)
            .filter(([, v]) => Math.abs(v) >= 0.01)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${v.toFixed(2)}`)
            .join(', ');
    out.push(
      '#### (life) phone lifecycle',
      '',
      'Round trips: commands the relays sent to Redis (INFO commandstats deltas, script-internal commands excluded) per phone, over one batch of sequential connects and one of disconnects, less the background rate of an idle window (raw in brackets). Per-command columns: calls per phone, background subtracted, script-internal commands included for the record. Latency: dial → 101, and dial → first frame at the binary. Redis hop: one 1 KiB PUBLISH → message on another connection (ioredis both ends), the floor of one bus hop.',
      '',
      '| run | target | phones | round trips / connect (raw) | / disconnect (raw) | background /s | dial → 101 p50 µs | first frame p50 µs | p90 µs | p99 µs | Redis hop p50 / p99 µs | commands per connect | commands per disconnect |',
      '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
      ...life.map(
        (r, i) =>
          `| ${i + 1} | ${r.target} | ${r.connects} | ${fmt(r.perConnect ?? NaN, 2)} (${fmt(r.rawPerConnect ?? NaN, 2)}) | ${fmt(r.perDisconnect ?? NaN, 2)} (${fmt(r.rawPerDisconnect ?? NaN, 2)}) | ${fmt(r.backgroundPerSec ?? NaN, 1)} | ${r.openUs?.p50 ?? '–'} | ${r.firstFrameUs.p50} | ${r.firstFrameUs.p90} | ${r.firstFrameUs.p99} | ${r.hopUs === undefined ? '–' : `${r.hopUs.p50} / ${r.hopUs.p99}`} | ${by(r.connectBy)} | ${by(r.disconnectBy)} |`,
      ),
      '',
    );
  }
  const ci = extras.clusterIdle ?? [];
  if (ci.length > 0) {
    out.push(
      '#### (vc) cluster idle capacity',
      '',
      'Keys (DBSIZE): with the binaries only → with the phones → after the phones left → after the binaries left and grace expired (the keys named) → after the nodes stopped (named).',
      '',
      '| run | nodes | server-ids | phones held | connect s | Redis used_memory MiB (binaries only → with phones) | bytes per phone | keys | state keys left |',
      '|---:|---:|---:|---:|---:|---:|---:|---|---:|',
      ...ci.map(
        (r, i) =>
          `| ${i + 1} | ${r.nodes} | ${r.servers} | ${r.held}/${r.phones} | ${r.connectSeconds.toFixed(1)} | ${(r.baseUsedBytes / 2 ** 20).toFixed(2)} → ${(r.loadedUsedBytes / 2 ** 20).toFixed(2)} | ${r.bytesPerPhone.toFixed(0)} | ${r.keysWithBinaries} → ${r.keysLoaded} → ${r.keysAfterPhones} → ${r.keysAfterBinaries} (${r.leftAfterBinaries.join(', ') || 'none'}) → ${r.keysAfterNodes} (${r.leftAfterNodes.join(', ') || 'none'}) | ${r.stateKeysLeft} |`,
      ),
      '',
    );
  }
  return out.join('\n');
}

/** Per-process CPU of the cluster targets (node A with the binaries, node B, redis-server), medians. */
export function clusterCpuTable(all: Measurement[], workloads: Workload[]): string {
  const rows: string[] = [];
  for (const w of workloads) {
    for (const t of ['cluster-same', 'cluster-cross'] as const) {
      const ms = select(all, w.id, t).filter((m) => m.cpuUsPerFrameBy !== undefined);
      if (ms.length === 0) continue;
      const part = (k: string): string => fmt(stat(ms.map((m) => m.cpuUsPerFrameBy![k] ?? NaN)).med, 2);
      const fpp = stat(ms.map((m) => (m.publishesPerFrame ? 1 / m.publishesPerFrame : NaN))).med;
      rows.push(
        `| (${w.id}) | ${t} | ${part('node-a')} | ${part('node-b')} | ${part('redis')} | ${fmt(
          median(all, w.id, t, (m) => m.cpuUsPerFrame),
          2,
        )} | ${fmt(
          median(all, w.id, 'relay', (m) => m.cpuUsPerFrame),
          2,
        )} | ${fmt(fpp, 1)} |`,
      );
    }
  }
  if (rows.length === 0) return '';
  return [
    '#### Cluster CPU µs per forwarded frame, by process (medians)',
    '',
    '| workload | target | node A (binaries) | node B | redis-server | total | single relay | frames per PUBLISH |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
}

function short(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(v < 10 ? 1 : 0);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
