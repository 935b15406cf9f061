// Turns the measurements into the printed table, the markdown table in
// bench/results/latest.md and a hand-written SVG chart (no dependencies):
// median with min–max of 3 runs, and the target ratios of issue #6.
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

/** The issue's targets, computed from medians of this run. */
export function checks(all: Measurement[], idleKiBPerPhone: number | undefined): Check[] {
  const cpu: Pick = (m) => m.cpuUsPerFrame;
  const rt: Pick = (m) => m.roundTripsPerSec;
  const p50: Pick = (m) => m.latencyUs.p50;
  const p99: Pick = (m) => m.latencyUs.p99;
  const out: Check[] = [];
  const paired = (w: string, base: Target, f: (a: number, b: number) => number, pick: Pick): number => {
    const r = select(all, w, 'relay');
    const b = select(all, w, base);
    return stat(r.slice(0, b.length).map((m, i) => f(pick(m), pick(b[i]!)))).med;
  };
  // One comparison of the relay with a baseline: a ratio (×) or a difference (µs) of
  // the medians, with the same comparison run by run beside it.
  const compare = (unit: '×' | 'µs') => (name: string, w: string, base: Target, pick: Pick, limit: number, atLeast = false): void => {
    const f = unit === '×' ? (x: number, y: number): number => x / y : (x: number, y: number): number => x - y;
    const a = median(all, w, 'relay', pick);
    const b = median(all, w, base, pick);
    if (!Number.isFinite(a) || !Number.isFinite(b)) return;
    const value = f(a, b);
    out.push({
      name, value, limit, unit, op: atLeast ? '≥' : '≤', ok: atLeast ? value >= limit : value <= limit,
      paired: paired(w, base, f, pick),
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
  const errors = all.reduce((n, m) => n + m.errors, 0);
  out.push({ name: 'frames lost/duplicated/reordered/corrupt', value: errors, limit: 0, unit: '', op: '≤', ok: errors === 0 });
  return out;
}

export function checksTable(cs: Check[]): string {
  const num = (c: Check, v: number | undefined): string =>
    v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(c.unit === '×' ? 2 : 1)} ${c.unit}`.trim();
  const rows = cs.map((c) => `| ${c.name} | ${num(c, c.value)} | ${c.op} ${c.limit} ${c.unit} | ${c.ok ? 'holds' : 'MISSED'} | ${num(c, c.paired)} |`);
  return ['| target | measured (medians) | limit | | run by run (median) |', '|---|---:|---:|---|---:|', ...rows].join('\n');
}

const COLORS: Record<Target, string> = {
  relay: '#d9534f', direct: '#5b8bd9', nginx: '#4caf50', 'node-pipe': '#999999', 'ws-pipe': '#f0ad4e',
};

/** Grouped bar charts, one panel per metric, workloads along x, one bar per target with a min–max whisker. */
export function svgChart(all: Measurement[], workloads: Workload[], targets: Target[], title: string): string {
  const panels: Array<{ label: string; pick: Pick }> = [
    { label: 'round trips/s (higher is better)', pick: (m) => m.roundTripsPerSec },
    { label: 'target CPU µs per frame (lower is better)', pick: (m) => m.cpuUsPerFrame },
    { label: 'p99 latency µs (lower is better)', pick: (m) => m.latencyUs.p99 },
  ];
  const pw = 300, ph = 220, top = 60, left = 50, gap = 40;
  const width = left + panels.length * (pw + gap);
  const height = top + ph + 70;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  targets.forEach((t, i) => {
    parts.push(`<rect x="${left + i * 90}" y="32" width="12" height="12" fill="${COLORS[t]}"/><text x="${left + i * 90 + 16}" y="42">${t}</text>`);
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
        parts.push(`<rect x="${bx.toFixed(1)}" y="${y(s.med).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(top + ph - y(s.med)).toFixed(1)}" fill="${COLORS[t]}"><title>${t} (${w.id}): ${short(s.med)}</title></rect>`);
        const cx = bx + (bw - 2) / 2;
        parts.push(`<line x1="${cx.toFixed(1)}" y1="${y(s.min).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(s.max).toFixed(1)}" stroke="#222"/>`);
      });
      parts.push(`<text x="${(gx + (gw - 10) / 2).toFixed(1)}" y="${top + ph + 14}" text-anchor="middle">(${w.id})</text>`);
    });
  });
  parts.push(`<text x="${left}" y="${height - 12}" fill="#555">bars: median of runs; whiskers: min–max. Workloads: ${esc(workloads.map((w) => `(${w.id}) ${w.title}`).join('; '))}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

function short(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(v < 10 ? 1 : 0);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
