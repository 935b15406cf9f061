// Concurrent-connection caps (operations.md §4): a relay-wide cap
// (--max-connections → 503) and a per-IP cap (--max-connections-per-ip → 429,
// 0 = off). A slot is taken at admission and held until the router releases it
// when the socket closes, so every exit path frees it exactly once. The per-IP
// map only holds IPs with live connections, so it is bounded by the global cap.

export type AcquireResult = { ok: true; release: () => void } | { ok: false; reason: 'conn_cap' | 'ip_conn_cap' };

export class ConnectionCaps {
  private total = 0;
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerIp: number,
  ) {}

  /** Slots currently held. */
  get open(): number {
    return this.total;
  }

  acquire(ip: string): AcquireResult {
    if (this.total >= this.max) return { ok: false, reason: 'conn_cap' };
    const mine = this.perIp.get(ip) ?? 0;
    if (this.maxPerIp > 0 && mine >= this.maxPerIp) return { ok: false, reason: 'ip_conn_cap' };
    this.total++;
    this.perIp.set(ip, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.perIp.get(ip) ?? 1) - 1;
        if (left <= 0) this.perIp.delete(ip);
        else this.perIp.set(ip, left);
      },
    };
  }
}
