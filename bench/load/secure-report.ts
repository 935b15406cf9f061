// Tables and target checks for the secure workloads (vi)-(viii), each the relay
// against nginx measured in the same run; (ii) over TLS is a plain workload
// table and its check lives in report.ts. Medians with min-max over runs.
import type { IdleResult } from './idle.js';
import { stat, type Check } from './report.js';
import type { HandshakeResult, SecureTarget, StormResult } from './secure-runs.js';

export interface SecureResults {
  handshakes: HandshakeResult[];
  storms: StormResult[];
  idle: IdleResult[];
}

const TARGETS: readonly SecureTarget[] = ['relay', 'nginx', 'direct'];

function cell(xs: number[], digits: number): string {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return '–';
  const s = stat(ok);
  return ok.length === 1 || s.min === s.max
    ? s.med.toFixed(digits)
    : `${s.med.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

const med = (xs: number[]): number => stat(xs.filter(Number.isFinite)).med;

function table<T>(title: string, rows: Array<[string, (r: T) => number, number]>, of: (t: SecureTarget) => T[]): string[] {
  const present = TARGETS.filter((t) => of(t).length > 0);
  if (present.length === 0) return [];
  const out = [title, '', `| metric | ${present.join(' | ')} |`, `|---|${present.map(() => '---:').join('|')}|`];
  for (const [label, pick, digits] of rows) out.push(`| ${label} | ${present.map((t) => cell(of(t).map(pick), digits)).join(' | ')} |`);
  out.push('');
  return out;
}

export function secureTables(r: SecureResults): string {
  const errs = (e: { refused: number; failed: number; corrupt: number }): number => e.refused + e.failed + e.corrupt;
  const hs =
    (resume: boolean) =>
    (t: SecureTarget): HandshakeResult[] =>
      r.handshakes.filter((h) => h.target === t && h.resume === resume);
  const hsRows: Array<[string, (h: HandshakeResult) => number, number]> = [
    ['connections/s', (h) => h.connsPerSec, 0],
    ['target CPU µs per connection', (h) => h.cpuUsPerConn, 0],
    ['target CPU %', (h) => h.cpuPct.target, 0],
    ['generator CPU %', (h) => h.cpuPct.generator, 0],
    ['resumed share', (h) => h.resumedShare, 2],
    ['errors', (h) => errs(h.errors), 0],
  ];
  return [
    ...table('#### (vi) handshake cost: full TLS 1.3 handshake + upgrade + one frame each way + close', hsRows, hs(false)),
    ...table('#### (vi) handshake cost, resumed (session ticket from the previous connection)', hsRows, hs(true)),
    ...table<StormResult>(
      '#### (vii) reconnect storm',
      [
        ['phones', (s) => s.phones, 0],
        ['phones paired, frame delivered', (s) => s.paired, 0],
        ['seconds until the last', (s) => s.seconds, 1],
        ['target CPU µs per phone', (s) => s.cpuUsPerPhone, 0],
        ['4404 redials (binary not there yet)', (s) => s.retries, 0],
        ['binaries failed', (s) => s.binaryFailures, 0],
        ['errors', (s) => errs(s.errors), 0],
      ],
      (t) => r.storms.filter((s) => s.target === t),
    ),
    ...table<IdleResult>(
      '#### (viii) idle secure connections',
      [
        ['connections held', (i) => i.held, 0],
        ['empty RSS MiB', (i) => i.emptyRssKiB / 1024, 1],
        ['loaded RSS MiB', (i) => i.loadedRssKiB / 1024, 1],
        ['KiB RSS per connection (above empty)', (i) => i.kibPerPhone, 2],
        ['marginal KiB per connection (2nd half)', (i) => i.marginalKibPerPhone, 2],
      ],
      (t) => r.idle.filter((i) => i.target === t),
    ),
  ].join('\n');
}

export function secureChecks(r: SecureResults): Check[] {
  const out: Check[] = [];
  const ratio = (name: string, a: number, b: number, limit: number): void => {
    if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return;
    const value = a / b;
    out.push({ name, value, limit, unit: '×', op: '≤', ok: value <= limit });
  };
  for (const resume of [false, true]) {
    const of = (t: SecureTarget): number =>
      med(r.handshakes.filter((h) => h.target === t && h.resume === resume).map((h) => h.cpuUsPerConn));
    const kind = resume ? 'resumed' : 'full handshake';
    ratio(`(vi) relay CPU/new connection ÷ nginx, ${kind}`, of('relay'), of('nginx'), 1.15);
    // Proposed (docs/performance.md): what the relay adds to Node's own TLS + ws floor.
    ratio(`(vi) relay CPU/new connection ÷ direct, ${kind} (proposed)`, of('relay'), of('direct'), 1.5);
  }
  const storm = (t: SecureTarget): StormResult[] => r.storms.filter((s) => s.target === t);
  ratio(
    '(vii) relay CPU/storm phone ÷ nginx',
    med(storm('relay').map((s) => s.cpuUsPerPhone)),
    med(storm('nginx').map((s) => s.cpuUsPerPhone)),
    1.2,
  );
  ratio(
    '(vii) relay CPU/storm phone ÷ direct (proposed)',
    med(storm('relay').map((s) => s.cpuUsPerPhone)),
    med(storm('direct').map((s) => s.cpuUsPerPhone)),
    1.5,
  );
  if (storm('relay').length > 0) {
    const paired = Math.min(...storm('relay').map((s) => s.paired / s.phones));
    out.push({ name: '(vii) relay storm phones paired (worst run)', value: paired, limit: 1, unit: '×', op: '≥', ok: paired >= 1 });
  }
  const idle = (t: SecureTarget): number => med(r.idle.filter((i) => i.target === t).map((i) => i.kibPerPhone));
  ratio('(viii) relay RSS/idle secure phone ÷ nginx', idle('relay'), idle('nginx'), 0.5);
  // Proposed: the relay's own state per phone on top of what Node's TLS + ws hold.
  ratio('(viii) relay RSS/idle secure phone ÷ direct (proposed)', idle('relay'), idle('direct'), 1.15);
  const errors =
    [...r.handshakes, ...r.storms].reduce((n, x) => n + x.errors.refused + x.errors.failed + x.errors.corrupt, 0) +
    r.idle.reduce((n, i) => n + i.droppedDuringHold, 0);
  if (r.handshakes.length + r.storms.length + r.idle.length > 0) {
    out.push({ name: 'secure: connections refused, failed or dropped', value: errors, limit: 0, unit: '', op: '≤', ok: errors === 0 });
  }
  return out;
}
