// Dialling process for the secure workloads: phones that connect, deliver one
// frame and get it back, over TLS 1.3 (secure.ts).
//   handshakes (vi): C workers each dial a phone, send one frame, wait for its
//     echo through the binary, drop the connection and dial again; counted over
//     a measured window with the target's CPU sampled over exactly that window.
//     `resume` offers the previous connection's TLS session ticket, as a phone
//     redialling would.
//   storm (vii): every phone (and, for the relay, every binary) dials at once;
//     done when each phone has had its frame back. A phone that arrives before
//     its binary is closed by the relay with 4404 and redials after 100-300 ms,
//     as the app does. Phones stay open until the end.
// Prints one JSON line and exits.
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { echo } from './echo.js';
import { makeFrame } from './frames.js';
import { cpuMs, isMain } from './proc.js';
import { clientTls } from './secure.js';

export interface DialSpec {
  mode: 'handshakes' | 'storm';
  url: string;
  /** Relay mode: /v1/client with a phone's headers, and binaries for the storm. */
  relay: boolean;
  serverIds: string[];
  /** Source addresses to spread connections over (fresh per run: no TIME_WAIT collisions). */
  localAddresses: string[];
  /** CPU is read per label, summed over the label's processes. */
  pids: Record<string, number[]>;
  resume?: boolean;
  concurrency?: number;
  warmupMs?: number;
  durationMs?: number;
  phones?: number;
}

export interface DialErrors {
  /** Upgrade answered with a status other than 101, or closed 4404 (retried during a storm, not counted). */
  refused: number;
  /** TCP/TLS errors and connections closed before the echo. */
  failed: number;
  corrupt: number;
}

export interface DialResult {
  completed: number;
  resumed: number;
  seconds: number;
  cpuMs: Record<string, number>;
  errors: DialErrors;
  /** Storm: phones redialled after a 4404 (their binary was not there yet). */
  retries: number;
  /** Storm: binaries that failed to connect. */
  binaryFailures: number;
}

const FRAME = makeFrame(256);
const tls = clientTls();
const errors: DialErrors = { refused: 0, failed: 0, corrupt: 0 };

function sampleCpu(pids: Record<string, number[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, list] of Object.entries(pids)) out[label] = list.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const self = process.cpuUsage();
  out.generator = (self.user + self.system) / 1000;
  return out;
}

type Outcome =
  { kind: 'ok'; resumed: boolean; ws: WebSocket } | { kind: 'status'; status: number } | { kind: 'failed' } | { kind: 'corrupt' };

/** One phone: dial, send FRAME, wait for it back. `onSession` receives the TLS session ticket. */
function dial(spec: DialSpec, n: number, session: Buffer | undefined, onSession: (s: Buffer) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers = spec.relay
      ? { 'x-pyrycode-server': spec.serverIds[n % spec.serverIds.length]!, 'x-pyrycode-token': 'bench', 'user-agent': 'bench-dial' }
      : {};
    let socket: TLSSocket | undefined;
    const ws = new WebSocket(spec.relay ? `${spec.url}/v1/client` : spec.url, {
      headers,
      perMessageDeflate: false,
      localAddress: spec.localAddresses[n % spec.localAddresses.length],
      createConnection: (opts: object) => {
        socket = tlsConnect({ ...(opts as ConnectionOptions), ...tls, session });
        socket.on('session', onSession);
        return socket;
      },
    });
    let settled = false;
    const finish = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      if (o.kind !== 'ok') ws.terminate();
      resolve(o);
    };
    ws.once('open', () => ws.send(FRAME));
    ws.once('message', (data: Buffer) => {
      finish(data.equals(FRAME) ? { kind: 'ok', resumed: socket?.isSessionReused() ?? false, ws } : { kind: 'corrupt' });
    });
    ws.once('unexpected-response', (_req, res) => finish({ kind: 'status', status: res.statusCode ?? 0 }));
    ws.on('error', () => finish({ kind: 'failed' }));
    // 4404: the relay took the phone but its binary is not there (yet).
    ws.once('close', (code: number) => finish(code === 4404 ? { kind: 'status', status: 4404 } : { kind: 'failed' }));
  });
}

function count(o: Outcome): void {
  if (o.kind === 'status') errors.refused++;
  else if (o.kind === 'failed') errors.failed++;
  else if (o.kind === 'corrupt') errors.corrupt++;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function handshakes(spec: DialSpec): Promise<DialResult> {
  let measuring = false;
  let running = true;
  let completed = 0;
  let resumed = 0;
  let n = 0;
  const worker = async (): Promise<void> => {
    let session: Buffer | undefined;
    while (running) {
      const o = await dial(spec, n++, spec.resume === true ? session : undefined, (s) => (session = s));
      if (o.kind === 'ok') {
        o.ws.terminate();
        if (measuring) {
          completed++;
          if (o.resumed) resumed++;
        }
      } else if (running) count(o);
    }
  };
  const workers = Array.from({ length: spec.concurrency ?? 16 }, () => worker());
  await sleep(spec.warmupMs ?? 1000);
  const before = sampleCpu(spec.pids);
  const t0 = performance.now();
  measuring = true;
  await sleep(spec.durationMs ?? 5000);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const after = sampleCpu(spec.pids);
  running = false;
  await Promise.all(workers);
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(after)) cpu[k] = after[k]! - before[k]!;
  return { completed, resumed, seconds, cpuMs: cpu, errors, retries: 0, binaryFailures: 0 };
}

/** Storm: one binary per server-id (relay only), each echoing what it gets. */
function openBinary(spec: DialSpec, id: string, i: number): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${spec.url}/v1/server`, {
      perMessageDeflate: false,
      localAddress: spec.localAddresses[i % spec.localAddresses.length],
      ...tls,
      headers: { 'x-pyrycode-server': id, 'x-pyrycode-version': 'bench', 'user-agent': 'bench-dial' },
    });
    ws.once('open', () => {
      echo(ws, true);
      resolve(ws);
    });
    ws.once('error', () => resolve(undefined));
    ws.once('unexpected-response', () => resolve(undefined));
  });
}

async function storm(spec: DialSpec): Promise<DialResult> {
  const phones = spec.phones ?? 10_000;
  const open: WebSocket[] = [];
  let retries = 0;
  let completed = 0;
  const before = sampleCpu(spec.pids);
  const t0 = performance.now();
  const binaries = spec.relay ? Promise.all(spec.serverIds.map((id, i) => openBinary(spec, id, i))) : Promise.resolve([]);
  const phone = async (n: number): Promise<void> => {
    for (;;) {
      const o = await dial(spec, n, undefined, () => undefined);
      if (o.kind === 'ok') {
        open.push(o.ws);
        completed++;
        return;
      }
      if (o.kind === 'status' && o.status === 4404 && spec.relay) {
        retries++;
        await sleep(100 + Math.random() * 200);
        continue;
      }
      count(o);
      return;
    }
  };
  await Promise.all(Array.from({ length: phones }, (_, n) => phone(n)));
  const seconds = (performance.now() - t0) / 1000;
  const after = sampleCpu(spec.pids);
  const bins = await binaries;
  for (const ws of open) ws.terminate();
  for (const b of bins) b?.terminate();
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(after)) cpu[k] = after[k]! - before[k]!;
  return { completed, resumed: 0, seconds, cpuMs: cpu, errors, retries, binaryFailures: bins.filter((b) => b === undefined).length };
}

if (isMain(import.meta.url)) {
  const spec = JSON.parse(process.argv[2]!) as DialSpec;
  (spec.mode === 'storm' ? storm(spec) : handshakes(spec)).then(
    (res) => {
      process.stdout.write(`${JSON.stringify(res)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`dialer: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
