// The relay core: attaches upgraded binary and phone sockets to the registry,
// forwards frames between them, and owns grace timers, the conflict probe, close
// notices and graceful shutdown (relay-behaviour.md §1–§6). HTTP, admission and
// TLS live in src/http and src/tls; this module sees only upgraded sockets.
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { EnvelopeDropReason } from '../ops/log-events.js';
import type { Logger } from '../ops/logger.js';
import type { RelayMetrics } from '../ops/metrics.js';
import type { PushDispatcher } from '../push/dispatcher.js';
import { BinaryLink } from './binary-link.js';
import { BufferBudget } from './buffer-budget.js';
import { CloseCode, Reason } from '../protocol.js';
import { decodeBinaryEnvelope, encodeCloseNotice } from './envelope.js';
import { newConnId, randomHex8 } from './ids.js';
import { isJsonValue } from './json-scan.js';
import { linkOf, type Link, type Timeouts } from './link.js';
import { PhoneLink } from './phone-link.js';
import { MemoryRegistry, type GraceToken, type Registry } from './registry.js';
import { Sweeper } from './sweeper.js';
import { framePhoneFrame } from './wire.js';

export interface RelayOptions extends Timeouts {
  gracePeriodMs: number;
  conflictProbeTimeoutMs: number;
  maxPhonesPerServer: number;
  phoneOutboxBytes: number;
  maxBufferedBytes: number;
  drainTimeoutMs: number;
  drainSpreadMs: number;
  /** Bytes waiting on a binary's socket above which its phones stop being read. */
  binaryHighWaterBytes?: number;
}

export interface RelayDeps {
  logger: Logger;
  metrics: RelayMetrics;
  push: PushDispatcher;
  registry?: Registry<BinaryLink, PhoneLink>;
}

export interface BinaryInfo {
  serverId: string;
  version: string;
  remote: string;
}

export interface PhoneInfo {
  serverId: string;
  deviceName: string | undefined;
  remote: string;
}

/** A ws event listener (the shared, per-relay message and close handlers). */
type WsListener = Parameters<WebSocket['on']>[1];

const DEFAULT_BINARY_HIGH_WATER = 1024 * 1024;
const DEVICE_NAME_LOG_CHARS = 64;
/** At most one envelope_dropped line per binary per this many ms. */
const DROP_LOG_INTERVAL_MS = 1000;

export class Relay {
  private readonly registry: Registry<BinaryLink, PhoneLink>;
  private readonly logger: Logger;
  private readonly metrics: RelayMetrics;
  private readonly push: PushDispatcher;
  private readonly budget: BufferBudget;
  private readonly sweeper: Sweeper;
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private readonly highWater: number;
  private shuttingDown = false;
  private readonly phoneEvents;
  private readonly binaryEvents;
  // ws listeners shared by every connection (the link is found from the emitter).
  private readonly onBinaryMessage: (this: WebSocket, data: Buffer) => void;
  private readonly onBinaryClose: (this: WebSocket) => void;
  private readonly onPhoneMessage: (this: WebSocket, data: Buffer, isBinary: boolean) => void;
  private readonly onPhoneClose: (this: WebSocket, code: number) => void;

  constructor(
    private readonly opts: RelayOptions,
    deps: RelayDeps,
  ) {
    this.registry = deps.registry ?? new MemoryRegistry<BinaryLink, PhoneLink>();
    this.logger = deps.logger;
    this.metrics = deps.metrics;
    this.push = deps.push;
    this.budget = new BufferBudget(opts.maxBufferedBytes);
    deps.metrics.queuedBytesSource = () => this.budget.usedBytes;
    this.sweeper = new Sweeper(opts);
    this.highWater = opts.binaryHighWaterBytes ?? DEFAULT_BINARY_HIGH_WATER;
    const metrics = this.metrics;
    // The forwarded-frame counters are plain fields (metrics.ts): one add per frame.
    this.phoneEvents = {
      onFrameWritten(_phone: PhoneLink, frame: Buffer): void {
        metrics.framesBinaryToPhone.inc();
        metrics.bytesBinaryToPhone.inc(frame.length);
      },
      onBacklogClose: (phone: PhoneLink): void => {
        metrics.phoneBacklogCloses.inc();
        this.logger.warn('phone_backlog_full', { server_id: phone.serverId, conn_id: phone.connId });
      },
    };
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const relay = this;
    this.onBinaryMessage = function (data) {
      const link = linkOf<BinaryLink>(this);
      link.received();
      if (link.state === 'active') relay.routeFromBinary(link, data);
    };
    this.onBinaryClose = function () {
      relay.onBinaryClosed(linkOf<BinaryLink>(this));
    };
    this.onPhoneMessage = function (data, isBinary) {
      const phone = linkOf<PhoneLink>(this);
      phone.received();
      relay.routeFromPhone(phone, data, isBinary);
    };
    this.onPhoneClose = function (code) {
      relay.onPhoneClosed(linkOf<PhoneLink>(this), code);
    };
    this.binaryEvents = {
      pausePhones: (b: BinaryLink): void => {
        for (const p of this.registry.phones(b.serverId)) p.ws.pause();
      },
      resumePhones: (b: BinaryLink): void => {
        for (const p of this.registry.phones(b.serverId)) p.ws.resume();
      },
    };
  }

  counts(): { binaries: number; phones: number } {
    return this.registry.counts();
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  // ---- binaries ------------------------------------------------------------

  attachBinary(ws: WebSocket, socket: Socket, info: BinaryInfo): void {
    const link = new BinaryLink(
      ws,
      socket,
      info.remote,
      info.serverId,
      randomHex8(),
      info.version,
      this.highWater,
      this.binaryEvents,
    );
    if (!this.wire(link, this.onBinaryMessage, this.onBinaryClose)) return;
    const res = this.registry.claim(info.serverId, link);
    if (res.kind === 'conflict') {
      this.probe(link, res.incumbent);
      return;
    }
    if (res.kind === 'reclaimed') this.evict(res.evicted);
    this.activate(link);
  }

  private activate(link: BinaryLink): void {
    link.state = 'active';
    this.cancelGrace(link.serverId);
    this.metrics.upgrades.server.accept.inc();
    this.syncGauges();
    this.logger.info('server_claimed', {
      server_id: link.serverId,
      binary_conn_id: link.binaryConnId,
      binary_version: link.version,
      remote: link.remote,
    });
  }

  /** A live incumbent holds the slot: ping it, and settle once it answers or the probe times out. */
  private probe(newcomer: BinaryLink, incumbent: BinaryLink): void {
    let settled = false;
    const settle = (alive: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Shutdown closes the newcomer itself, without a log line.
      if (this.shuttingDown || newcomer.closed) return;
      const res = this.registry.resolveConflict(newcomer.serverId, newcomer, incumbent, alive);
      switch (res.kind) {
        case 'rejected':
          newcomer.state = 'gone';
          this.metrics.upgrades.server.reject_409.inc();
          this.metrics.registerFailures.server_in_use.inc();
          this.logger.warn('server_id_conflict', { server_id: newcomer.serverId, remote: newcomer.remote });
          newcomer.close(CloseCode.claimed, Reason.claimed);
          return;
        case 'takeover':
          res.displaced.state = 'gone';
          this.evict(res.evicted);
          this.logger.warn('server_id_takeover', {
            server_id: newcomer.serverId,
            from: res.displaced.binaryConnId,
            to: newcomer.binaryConnId,
          });
          res.displaced.close(CloseCode.internal, Reason.heartbeatTimeout);
          break;
        case 'reclaimed':
          this.evict(res.evicted);
          break;
        case 'claimed':
          break;
      }
      this.activate(newcomer);
    };
    const timer = setTimeout(() => settle(false), this.opts.conflictProbeTimeoutMs);
    incumbent.awaitPong(() => settle(true));
    // The incumbent dropping during the probe turns it into a reclaim at once.
    incumbent.ws.once('close', () => settle(false));
  }

  private onBinaryClosed(link: BinaryLink): void {
    this.untrack(link);
    const wasActive = link.state === 'active';
    link.state = 'gone';
    if (!wasActive || this.shuttingDown) return;
    const res = this.registry.releaseBinary(link.serverId, link);
    if (res.kind !== 'grace') return;
    this.syncGauges();
    this.logger.info('server_released', {
      server_id: link.serverId,
      binary_conn_id: link.binaryConnId,
      duration: Date.now() - link.openedAt,
    });
    // Phones stay attached during grace; let them be read again (a frame now closes them).
    if (link.phonesPaused) {
      link.phonesPaused = false;
      this.binaryEvents.resumePhones(link);
    }
    this.armGrace(link.serverId, res.token);
  }

  private armGrace(serverId: string, token: GraceToken): void {
    this.cancelGrace(serverId);
    const timer = setTimeout(() => {
      if (this.graceTimers.get(serverId) === timer) this.graceTimers.delete(serverId);
      const phones = this.registry.expireGrace(serverId, token);
      if (phones === undefined) return; // cancelled or replaced: harmless
      this.metrics.graceExpiries.inc();
      this.logger.info('grace_expired', { server_id: serverId, count: phones.length });
      for (const p of phones) p.closeNow(CloseCode.normal, Reason.graceExpired);
      this.syncGauges();
    }, this.opts.gracePeriodMs);
    this.graceTimers.set(serverId, timer);
  }

  private cancelGrace(serverId: string): void {
    const timer = this.graceTimers.get(serverId);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.graceTimers.delete(serverId);
    }
  }

  /** Closes phones displaced by a reclaim or takeover: no notice, the new daemon never knew them. */
  private evict(phones: PhoneLink[]): void {
    for (const p of phones) p.closeNow(CloseCode.noServer, Reason.reclaimed);
    if (phones.length > 0) this.syncGauges();
  }

  private routeFromBinary(binary: BinaryLink, data: Buffer): void {
    const env = decodeBinaryEnvelope(data);
    switch (env.kind) {
      case 'frame': {
        const phone = this.registry.phone(binary.serverId, env.connId);
        if (phone === undefined) return this.dropped(binary, 'unknown conn_id');
        if (env.closeCode === undefined) {
          if (!phone.outbox.sendFrame(env.frame)) this.dropped(binary, 'phone refused frame');
        } else {
          phone.closeByBinary(env.frame, env.closeCode);
        }
        return;
      }
      case 'close': {
        const phone = this.registry.phone(binary.serverId, env.connId);
        if (phone === undefined) return this.dropped(binary, 'unknown conn_id');
        phone.closeByBinary(undefined, env.closeCode);
        return;
      }
      case 'wake':
        this.push.wake(binary.serverId, env.wake);
        return;
      case 'drop':
        return this.dropped(binary, env.reason);
    }
  }

  private dropped(binary: BinaryLink, reason: EnvelopeDropReason): void {
    this.metrics.envelopesDropped.inc();
    const now = Date.now();
    if (now - binary.lastDropLogAt < DROP_LOG_INTERVAL_MS) return;
    binary.lastDropLogAt = now;
    this.logger.warn('envelope_dropped', { server_id: binary.serverId, binary_conn_id: binary.binaryConnId, reason });
  }

  // ---- phones --------------------------------------------------------------

  attachPhone(ws: WebSocket, socket: Socket, info: PhoneInfo): void {
    const connId = newConnId(info.serverId, (id) => this.registry.phone(info.serverId, id) !== undefined);
    const deviceName = info.deviceName?.slice(0, DEVICE_NAME_LOG_CHARS);
    const phone = new PhoneLink(
      ws,
      socket,
      info.remote,
      info.serverId,
      connId,
      deviceName,
      this.opts.phoneOutboxBytes,
      this.budget,
      this.phoneEvents,
    );
    if (!this.wire(phone, this.onPhoneMessage, this.onPhoneClose)) return;
    const res = this.registry.registerPhone(info.serverId, phone, this.opts.maxPhonesPerServer);
    if (res.kind === 'no_server') {
      this.metrics.upgrades.client.reject_404.inc();
      this.metrics.registerFailures.no_server.inc();
      this.logger.info('phone_register_no_server', { server_id: info.serverId, remote: info.remote });
      phone.close(CloseCode.noServer, Reason.noServer);
      return;
    }
    if (res.kind === 'at_cap') {
      this.metrics.upgrades.client.reject_429.inc();
      this.metrics.registerFailures.phones_at_cap.inc();
      this.logger.warn('phone_register_at_cap', { server_id: info.serverId, remote: info.remote });
      phone.close(CloseCode.tooManyPhones, Reason.tooManyPhones);
      return;
    }
    phone.binary = res.binary;
    if (res.binary.phonesPaused) ws.pause();
    this.metrics.upgrades.client.accept.inc();
    this.syncGauges();
    this.logger.info('phone_registered', {
      server_id: info.serverId,
      conn_id: connId,
      device_name: deviceName,
      remote: info.remote,
    });
  }

  private routeFromPhone(phone: PhoneLink, data: Buffer, isBinary: boolean): void {
    if (phone.closeCodeSent !== undefined || phone.binary === undefined) return;
    // Text frames were UTF-8-checked by ws; a binary opcode must still carry UTF-8 JSON.
    if ((isBinary && !isUtf8(data)) || !isJsonValue(data)) {
      phone.closeNow(CloseCode.invalidPayload, Reason.notJson);
      return;
    }
    const binary = phone.binary;
    if (binary.state !== 'active') {
      // The binary is in grace or gone: the frame cannot reach it; the phone redials.
      phone.closeNow(CloseCode.noServer, Reason.noServer);
      return;
    }
    binary.sendFramed(framePhoneFrame(phone.wrapPrefix, data));
    this.metrics.framesPhoneToBinary.inc();
    this.metrics.bytesPhoneToBinary.inc(data.length);
  }

  private onPhoneClosed(phone: PhoneLink, code: number): void {
    this.untrack(phone);
    phone.outbox.clear();
    if (!this.registry.unregisterPhone(phone.serverId, phone)) return;
    this.syncGauges();
    const closeCode = phone.closeCodeSent ?? (code === CloseCode.noStatus || code === CloseCode.abnormal ? CloseCode.goingAway : code);
    this.logger.info('phone_unregistered', {
      server_id: phone.serverId,
      conn_id: phone.connId,
      close_code: closeCode,
      duration: Date.now() - phone.openedAt,
    });
    const binary = phone.binary;
    // Notice only to the same binary connection the phone registered under, and
    // only when the binary did not ask for the close itself.
    if (binary !== undefined && binary.state === 'active' && !phone.closeRequestedByBinary) {
      binary.send(encodeCloseNotice(phone.connId, closeCode));
    }
  }

  // ---- shared --------------------------------------------------------------

  /**
   * Tracks a freshly upgraded link and attaches its shared listeners. During a
   * drain it is closed with 1001 at once; returns false then.
   */
  private wire(link: Link, onMessage: WsListener, onClose: WsListener): boolean {
    this.track(link);
    link.ws.on('message', onMessage);
    link.ws.on('close', onClose);
    if (!this.shuttingDown) return true;
    link.close(CloseCode.goingAway, Reason.shuttingDown);
    return false;
  }

  private track(link: Link): void {
    this.sweeper.add(link);
  }

  private untrack(link: Link): void {
    link.closed = true;
    this.sweeper.delete(link);
  }

  private syncGauges(): void {
    const c = this.registry.counts();
    this.metrics.connectedBinaries.set(c.binaries);
    this.metrics.connectedPhones.set(c.phones);
  }

  /**
   * Graceful drain (operations.md §10): every phone, then every binary, is closed
   * with 1001, spread over `drainSpreadMs`; whatever is still open after
   * `drainTimeoutMs` is cut. Resolves when every connection is gone.
   */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
    const links = this.sweeper.drainOrder();
    const spread = this.opts.drainSpreadMs;
    const step = links.length > 1 ? spread / (links.length - 1) : 0;
    const spreadTimers: NodeJS.Timeout[] = [];
    links.forEach((link, i) => {
      const closeIt = (): void => {
        if (link instanceof PhoneLink) link.closeNow(CloseCode.goingAway, Reason.shuttingDown);
        else link.close(CloseCode.goingAway, Reason.shuttingDown);
      };
      if (spread === 0 || i === 0) closeIt();
      else spreadTimers.push(setTimeout(closeIt, Math.round(i * step)));
    });
    const pushClosed = this.push.close();
    await this.sweeper.waitEmpty(this.opts.drainTimeoutMs);
    for (const t of spreadTimers) clearTimeout(t);
    for (const link of this.sweeper.drainOrder()) link.ws.terminate();
    await this.sweeper.waitEmpty(1000);
    this.sweeper.stop();
    await pushClosed;
  }
}
