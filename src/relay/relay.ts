// The relay core: attaches upgraded binary and phone sockets to the registry,
// forwards frames between them, and turns registry decisions into close codes,
// close notices and log lines; graceful shutdown (relay-behaviour.md §1–§6).
// HTTP, admission and TLS live in src/http and src/tls; this module sees only
// upgraded sockets. Lifecycle steps go through the (asynchronous) Registry and
// stay correct when a connection closes while one is pending; the frame path
// (routeFromBinary, routeFromPhone) uses only the registry's synchronous views.
// Named parts: grace windows are the registry's (grace-timers.ts), the conflict
// probe is conflict-probe.ts, the drain spread drain-schedule.ts.
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { EnvelopeDropReason, RegistryStep } from '../ops/log-events.js';
import type { Logger } from '../ops/logger.js';
import type { RelayMetrics } from '../ops/metrics.js';
import type { PushDispatcher } from '../push/dispatcher.js';
import { CloseCode, Reason } from '../protocol.js';
import { BinaryLink } from './binary-link.js';
import { BufferBudget } from './buffer-budget.js';
import { realClock, type Clock } from './clock.js';
import { ConflictProbe } from './conflict-probe.js';
import { scheduleDrain } from './drain-schedule.js';
import type { BinaryEndpoint, PhoneEndpoint } from './endpoints.js';
import { decodeBinaryEnvelope } from './envelope.js';
import { newConnId, randomHex8 } from './ids.js';
import { isJsonValue } from './json-scan.js';
import { linkOf, type Link } from './link.js';
import { PhoneLink } from './phone-link.js';
import {
  MemoryRegistry,
  RegistryBusyError,
  type ClaimResult,
  type ConflictResult,
  type RegisterResult,
  type Registry,
  type RegistryFactory,
  type RegistryHooks,
} from './registry.js';
import { Sweeper, type Timeouts } from './sweeper.js';

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
  /** Builds the registry from the relay's hooks; defaults to a MemoryRegistry. */
  registry?: RegistryFactory;
  /** Defaults to the real clock; unit tests pass a fake one. */
  clock?: Clock;
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
  private readonly registry: Registry;
  private readonly logger: Logger;
  private readonly metrics: RelayMetrics;
  private readonly push: PushDispatcher;
  private readonly clock: Clock;
  private readonly budget: BufferBudget;
  private readonly sweeper: Sweeper<Link>;
  private readonly conflictProbe: ConflictProbe;
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
    this.logger = deps.logger;
    this.metrics = deps.metrics;
    this.push = deps.push;
    this.clock = deps.clock ?? realClock;
    const hooks: RegistryHooks<PhoneEndpoint> = {
      graceExpired: (serverId, phones) => this.graceExpired(serverId, phones),
      changed: () => this.syncGauges(),
    };
    this.registry = deps.registry?.(hooks) ?? new MemoryRegistry(hooks, { gracePeriodMs: opts.gracePeriodMs, clock: this.clock });
    this.budget = new BufferBudget(opts.maxBufferedBytes);
    deps.metrics.queuedBytesSource = () => this.budget.usedBytes;
    this.sweeper = new Sweeper<Link>(opts, this.clock);
    this.conflictProbe = new ConflictProbe(this.clock, opts.conflictProbeTimeoutMs);
    this.highWater = opts.binaryHighWaterBytes ?? DEFAULT_BINARY_HIGH_WATER;
    const metrics = this.metrics;
    // The forwarded-frame counters are plain fields (metrics.ts): one add per frame.
    this.phoneEvents = {
      onFrameWritten(frame: Buffer): void {
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
        for (const p of this.registry.phones(b.serverId)) p.pause();
      },
      resumePhones: (b: BinaryLink): void => {
        for (const p of this.registry.phones(b.serverId)) p.resume();
      },
    };
  }

  counts(): { binaries: number; phones: number } {
    return this.registry.counts();
  }

  /** Upgraded connections still open, registered or not. */
  get openConnections(): number {
    return this.sweeper.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  // ---- binaries ------------------------------------------------------------

  attachBinary(ws: WebSocket, socket: Socket, info: BinaryInfo): void {
    const link = new BinaryLink(
      ws,
      socket,
      this.clock,
      info.remote,
      info.serverId,
      randomHex8(),
      info.version,
      this.highWater,
      this.binaryEvents,
    );
    if (!this.wire(link, this.onBinaryMessage, this.onBinaryClose)) return;
    // Not read until it holds the slot: nothing it sends could be routed yet.
    ws.pause();
    this.registry.claim(info.serverId, link).then(
      (res) => this.claimSettled(link, res),
      (err: unknown) => this.registryFailed(link, 'claim', err),
    );
  }

  private claimSettled(link: BinaryLink, res: ClaimResult<BinaryEndpoint, PhoneEndpoint>): void {
    link.ws.resume();
    if (res.kind === 'conflict') {
      // Holding nothing yet: a newcomer that is gone (or a drain) ends here.
      if (this.shuttingDown || link.closed) return;
      const incumbent = res.incumbent;
      // alive() never rejects; what follows handles its own failures.
      void this.conflictProbe.alive(incumbent).then((alive) => {
        // Shutdown closes the newcomer itself, without a log line.
        if (this.shuttingDown || link.closed) return;
        this.registry.resolveConflict(link.serverId, link, incumbent, alive).then(
          (r) => this.conflictSettled(link, r),
          (err: unknown) => this.registryFailed(link, 'resolve_conflict', err),
        );
      });
      return;
    }
    if (res.kind === 'reclaimed') this.evict(res.evicted);
    this.holding(link);
  }

  private conflictSettled(newcomer: BinaryLink, res: ConflictResult<BinaryEndpoint, PhoneEndpoint>): void {
    switch (res.kind) {
      case 'rejected':
        newcomer.state = 'gone';
        if (newcomer.closed) return;
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
    this.holding(newcomer);
  }

  /** The binary now holds its server-id. If it closed meanwhile, release the slot again. */
  private holding(link: BinaryLink): void {
    // A drain closes every link itself; the registry is closed after it.
    if (this.shuttingDown) return;
    link.state = 'active';
    this.metrics.upgrades.server.accept.inc();
    this.syncGauges();
    this.logger.info('server_claimed', {
      server_id: link.serverId,
      binary_conn_id: link.binaryConnId,
      binary_version: link.version,
      remote: link.remote,
    });
    if (link.closed) this.release(link);
  }

  private onBinaryClosed(link: BinaryLink): void {
    this.untrack(link);
    const wasActive = link.state === 'active';
    link.state = 'gone';
    // A claim still pending releases the slot once it settles (holding()).
    if (wasActive && !this.shuttingDown) this.release(link);
  }

  private release(link: BinaryLink): void {
    link.state = 'gone';
    this.registry.releaseBinary(link.serverId, link).then(
      (graceArmed) => {
        if (!graceArmed) return;
        this.syncGauges();
        this.logger.info('server_released', {
          server_id: link.serverId,
          binary_conn_id: link.binaryConnId,
          duration: this.clock.now() - link.openedAt,
        });
        // Phones stay attached during grace; let them be read again (a frame now closes them).
        if (link.phonesPaused) {
          link.phonesPaused = false;
          this.binaryEvents.resumePhones(link);
        }
      },
      (err: unknown) => this.registryFailed(link, 'release', err),
    );
  }

  /** Reported by the registry: the grace window ended without a reclaim. */
  private graceExpired(serverId: string, phones: PhoneEndpoint[]): void {
    // A drain closes every phone itself.
    if (this.shuttingDown) return;
    this.metrics.graceExpiries.inc();
    this.logger.info('grace_expired', { server_id: serverId, count: phones.length });
    for (const p of phones) p.closeNow(CloseCode.normal, Reason.graceExpired);
    this.syncGauges();
  }

  /** Closes phones displaced by a reclaim or takeover: no notice, the new daemon never knew them. */
  private evict(phones: PhoneEndpoint[]): void {
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
          if (!phone.sendFrame(env.frame)) this.dropped(binary, 'phone refused frame');
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
    const now = this.clock.now();
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
      this.clock,
      info.remote,
      info.serverId,
      connId,
      deviceName,
      this.opts.phoneOutboxBytes,
      this.budget,
      this.phoneEvents,
    );
    if (!this.wire(phone, this.onPhoneMessage, this.onPhoneClose)) return;
    // Not read until registered: a frame needs the binary registration returns.
    ws.pause();
    this.registry.registerPhone(info.serverId, phone, this.opts.maxPhonesPerServer).then(
      (res) => this.registerSettled(phone, res),
      (err: unknown) => this.registryFailed(phone, 'register_phone', err),
    );
  }

  private registerSettled(phone: PhoneLink, res: RegisterResult<BinaryEndpoint>): void {
    if (res.kind === 'registered') {
      if (phone.closed) {
        // Closed while registration was pending: take it back; nobody saw it, no notice.
        this.registry.unregisterPhone(phone.serverId, phone).then(
          () => res.binary.phoneLeft(phone.connId, undefined),
          (err: unknown) => this.registryFailed(phone, 'unregister_phone', err),
        );
        return;
      }
      phone.binary = res.binary;
      if (!res.binary.phonesPaused) phone.resume();
      this.metrics.upgrades.client.accept.inc();
      this.syncGauges();
      this.logger.info('phone_registered', {
        server_id: phone.serverId,
        conn_id: phone.connId,
        device_name: phone.deviceName,
        remote: phone.remote,
      });
      return;
    }
    // Refused: read again so the close handshake completes.
    phone.ws.resume();
    if (phone.closed) return;
    if (res.kind === 'no_server') {
      this.metrics.upgrades.client.reject_404.inc();
      this.metrics.registerFailures.no_server.inc();
      this.logger.info('phone_register_no_server', { server_id: phone.serverId, remote: phone.remote });
      phone.close(CloseCode.noServer, Reason.noServer);
    } else {
      this.metrics.upgrades.client.reject_429.inc();
      this.metrics.registerFailures.phones_at_cap.inc();
      this.logger.warn('phone_register_at_cap', { server_id: phone.serverId, remote: phone.remote });
      phone.close(CloseCode.tooManyPhones, Reason.tooManyPhones);
    }
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
    binary.fromPhone(phone, data);
    this.metrics.framesPhoneToBinary.inc();
    this.metrics.bytesPhoneToBinary.inc(data.length);
  }

  private onPhoneClosed(phone: PhoneLink, code: number): void {
    this.untrack(phone);
    phone.outbox.clear();
    // Not registered (pending or refused): registerSettled deals with it.
    if (phone.binary === undefined) return;
    const closeCode = phone.closeCodeSent ?? (code === CloseCode.noStatus || code === CloseCode.abnormal ? CloseCode.goingAway : code);
    this.registry.unregisterPhone(phone.serverId, phone).then(
      (removed) => {
        if (!removed) return;
        this.syncGauges();
        this.logger.info('phone_unregistered', {
          server_id: phone.serverId,
          conn_id: phone.connId,
          close_code: closeCode,
          duration: this.clock.now() - phone.openedAt,
        });
        const binary = phone.binary!;
        // Notice only to the same binary connection the phone registered under, and
        // only when the binary did not ask for the close itself.
        binary.phoneLeft(phone.connId, binary.state === 'active' && !phone.closeRequestedByBinary ? closeCode : undefined);
      },
      (err: unknown) => this.registryFailed(phone, 'unregister_phone', err),
    );
  }

  // ---- shared --------------------------------------------------------------

  /**
   * A lifecycle step failed in the registry's store. The connection cannot be
   * placed, so it is closed with 1011; the error itself is not logged, since a
   * store error may carry its address.
   */
  private registryFailed(link: Link, step: RegistryStep, err: unknown): void {
    link.ws.resume();
    // A store that cannot decide right now (re-asserting after a Redis restart,
    // fenced): the client is told to redial (1013), not that something broke.
    if (err instanceof RegistryBusyError) {
      this.logger.warn('registry_busy', { reason: step });
      if (!link.closed) link.close(CloseCode.tryAgainLater, Reason.tryAgainLater);
      return;
    }
    this.logger.error('registry_failed', { reason: step });
    if (!link.closed) link.close(CloseCode.internal, Reason.registryFailed);
  }

  /**
   * Tracks a freshly upgraded link and attaches its shared listeners. During a
   * drain it is closed with 1001 at once; returns false then.
   */
  private wire(link: Link, onMessage: WsListener, onClose: WsListener): boolean {
    this.sweeper.add(link);
    link.ws.on('message', onMessage);
    link.ws.on('close', onClose);
    if (!this.shuttingDown) return true;
    link.goAway();
    return false;
  }

  private untrack(link: Link): void {
    link.markClosed();
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
   * `drainTimeoutMs` is cut. Resolves when every connection is gone and the
   * registry is closed.
   */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    // Cluster mode: every slot enters grace in the store before its binary is
    // closed, so a binary redialling another node reclaims with no probe wait.
    await this.registry.releaseAll?.();
    const drain = scheduleDrain(this.clock, this.sweeper.drainOrder(), this.opts.drainSpreadMs, (link) => link.goAway());
    const pushClosed = this.push.close();
    await this.sweeper.waitEmpty(this.opts.drainTimeoutMs);
    drain.cancel();
    for (const link of this.sweeper.drainOrder()) link.terminate();
    await this.sweeper.waitEmpty(1000);
    this.sweeper.stop();
    await this.registry.close();
    await pushClosed;
  }
}
