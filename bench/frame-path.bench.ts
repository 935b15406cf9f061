// Micro-benchmark of the relay's whole single-node frame path, in process:
// a binary and a phone attached to a real Relay through its public API, on fake
// sockets that only count bytes, so what is measured is the relay's own work per
// frame — binary → phone (decode, conn_id lookup, outbox, write) and phone →
// binary (JSON check, wrap, write). It reports CPU time per frame
// (process.cpuUsage), the median of several rounds, because the benchmark
// machine is shared and wall time is not. Compare two commits by running this on
// each, alternating; `npm run bench:frame`.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { homedir } from 'node:os';
import type { WebSocket } from 'ws';
import { defaultConfig } from '../src/ops/config.js';
import type { Logger } from '../src/ops/logger.js';
import { RelayMetrics } from '../src/ops/metrics.js';
import { Relay } from '../src/relay/relay.js';

const FRAMES = Number(process.env.BENCH_FRAMES ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

class CountingSocket extends EventEmitter {
  writableNeedDrain = false;
  writableLength = 0;
  writableCorked = 0;
  bytes = 0;
  last: Buffer = Buffer.alloc(0);
  cork(): void {
    this.writableCorked++;
  }
  uncork(): void {
    this.writableCorked = 0;
  }
  write(b: Buffer): boolean {
    this.bytes += b.length;
    this.last = b;
    return true;
  }
}

class IdleWs extends EventEmitter {
  readyState = 1;
  readonly _receiver = { _state: 0, _fragmented: 0, _bufferedBytes: 0 };
  ping(): void {}
  pause(): void {}
  resume(): void {}
  close(): void {}
  terminate(): void {}
}

const logger: Logger = { debug() {}, info() {}, warn() {}, error() {}, isLevelEnabled: () => false, flush() {} };
const relay = new Relay(defaultConfig(homedir()), {
  logger,
  metrics: new RelayMetrics(),
  push: { wake() {}, close: () => Promise.resolve() },
});
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const bws = new IdleWs();
const bsock = new CountingSocket();
relay.attachBinary(bws as unknown as WebSocket, bsock as unknown as Socket, { serverId: 's', version: '1', remote: 'r' });
await tick();
const pws = new IdleWs();
const psock = new CountingSocket();
relay.attachPhone(pws as unknown as WebSocket, psock as unknown as Socket, { serverId: 's', deviceName: undefined, remote: 'r' });
await tick();

const frame = Buffer.from(JSON.stringify({ type: 'msg', seq: 1, body: 'x'.repeat(1000) }));
pws.emit('message', frame, false);
const connId = /"conn_id":"([^"]+)"/.exec(bsock.last.toString())?.[1];
if (connId === undefined) throw new Error('the phone frame did not reach the binary');
const envelope = Buffer.from(`{"conn_id":"${connId}","frame":${frame.toString()}}`);

/** Median CPU nanoseconds per call of `fn` over ROUNDS rounds of FRAMES calls. */
function cpuNsPerCall(fn: () => void): number {
  for (let i = 0; i < FRAMES; i++) fn(); // warm-up
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < FRAMES; i++) fn();
    const c = process.cpuUsage(c0);
    rounds.push(((c.user + c.system) * 1000) / FRAMES);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!;
}

const binaryToPhone = cpuNsPerCall(() => bws.emit('message', envelope));
const phoneToBinary = cpuNsPerCall(() => pws.emit('message', frame, false));
if (psock.bytes === 0 || bsock.bytes === 0) throw new Error('no bytes were written');
console.log(`frame path, ~1 KiB frames, CPU ns per frame (median of ${ROUNDS} × ${FRAMES}):`);
console.log(`binary → phone  ${binaryToPhone.toFixed(0).padStart(6)}`);
console.log(`phone → binary  ${phoneToBinary.toFixed(0).padStart(6)}`);
await relay.shutdown();
