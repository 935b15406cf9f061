// A floor for any Node.js hop: a TCP proxy that only pipes bytes between the
// client and the echo server (no WebSocket parsing, no JSON), run like the
// relay. Used as an extra baseline to separate what the runtime costs per hop
// from what the relay's own code costs.
//   node-pipe.js <listenPort> <upstreamPort>
import { connect, createServer } from 'node:net';
import { isMain } from './proc.js';

function main(listenPort: number, upstreamPort: number): void {
  const server = createServer({ noDelay: true }, (client) => {
    const upstream = connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
    client.pipe(upstream);
    upstream.pipe(client);
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', kill);
    upstream.on('close', kill);
  });
  server.listen(listenPort, '127.0.0.1', () => process.stdout.write('ready\n'));
}

if (isMain(import.meta.url)) main(Number(process.argv[2]), Number(process.argv[3]));
