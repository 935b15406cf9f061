// What the registry stores and the relay talks to on the paths where, in a
// cluster, a connection on another node could stand: a phone's binary, and a
// binary's phones (decision 0013). The local links (binary-link.ts,
// phone-link.ts) implement these directly, so the single-node frame path calls
// the link's own methods with no wrapper; a cluster mode puts proxies for
// remote connections behind the same interfaces.

/** probing: not yet holding its server-id (claim or conflict probe pending); gone: closed or displaced. */
export type BinaryState = 'probing' | 'active' | 'gone';

export interface BinaryEndpoint {
  readonly serverId: string;
  readonly binaryConnId: string;
  state: BinaryState;
  /** True while the binary's socket is backed up and its phones are not being read. */
  readonly phonesPaused: boolean;
  /**
   * Forwards one frame from `phone` (the frame path): a local binary wraps it as
   * `{"conn_id":…,"frame":…}` and writes it; a remote one sends it to its node.
   */
  fromPhone(phone: PhoneSource, frame: Buffer): void;
  /**
   * A phone registered under this binary is gone. `notice` is the close-notice
   * code to write (relay-behaviour.md §5), or undefined when none is owed; a
   * remote binary's node forgets the phone either way.
   */
  phoneLeft(connId: string, notice: number | undefined): void;
  /**
   * Liveness for the conflict probe: true if the binary answers a ping within
   * `timeoutMs`, false on timeout or if it closes first. A remote binary is
   * probed by the node that holds its socket.
   */
  probe(timeoutMs: number): Promise<boolean>;
  close(code: number, reason: string): void;
}

/** What the binary needs of a phone to wrap its frame. */
export interface PhoneSource {
  readonly connId: string;
  /** `{"conn_id":"<id>","frame":` (envelope.ts makeWrapPrefix). */
  readonly wrapPrefix: Buffer;
}

export interface PhoneEndpoint {
  readonly connId: string;
  readonly serverId: string;
  /** Queues or writes a frame from the binary; false when the phone refused it. */
  sendFrame(frame: Buffer): boolean;
  /** The binary's close directive: frame (if any) then close, behind anything queued. */
  closeByBinary(frame: Buffer | undefined, code: number): void;
  /** Eviction, grace expiry, shutdown: close now, dropping anything queued. */
  closeNow(code: number, reason: string): void;
  /** Stop / restart reading the phone (phone→binary backpressure). */
  pause(): void;
  resume(): void;
}
