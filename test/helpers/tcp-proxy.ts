// A small TCP proxy on loopback for fault injection: put it between a relay node
// and Redis (or between any two peers), then cut() every connection and refuse
// new ones, and restore() to let them through again, as a network partition would.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private cutOff = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `targetPort`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
    const proxy = new TcpProxy(server, addr.port);
    server.on('connection', (client) => proxy.accept(client, targetHost, targetPort));
    return proxy;
  }

  private accept(client: Socket, host: string, port: number): void {
    if (this.cutOff) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host, port });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /**
   * Cuts the link: open connections are destroyed and new ones refused until
   * restore(). With `silent`, open connections are kept but go quiet instead
   * (bytes are swallowed both ways), as a black-holing network would.
   */
  cut(opts: { silent?: boolean } = {}): void {
    this.cutOff = true;
    for (const [a, b] of [...this.pairs]) {
      if (opts.silent) {
        a.unpipe(b);
        b.unpipe(a);
        a.removeAllListeners('data');
        b.removeAllListeners('data');
        a.on('data', () => undefined);
        b.on('data', () => undefined);
      } else {
        a.destroy();
        b.destroy();
      }
    }
  }

  restore(): void {
    this.cutOff = false;
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
