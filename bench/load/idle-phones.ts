// Idle-phone process for the capacity runs: opens N phones to one server-id (or
// round-robin over a comma-separated list) from
// one 127.0.0.x source address (a few hundred handshakes at a time), prints
// "open N" and then just holds them — ws answers the relay's pings — until
// SIGTERM, when it prints "closed K" (phones the relay dropped meanwhile).
// A wss:// URL dials TLS 1.3 trusting the certificate in BENCH_TLS_CA.
import WebSocket from 'ws';
import { isMain } from './proc.js';
import { clientTls } from './secure.js';

const CONCURRENT_HANDSHAKES = 200;

async function main(url: string, serverIds: string[], count: number, localAddress: string): Promise<void> {
  const phones: WebSocket[] = [];
  let closed = 0;
  let holding = false;
  const open = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}/v1/client`, {
        perMessageDeflate: false,
        localAddress,
        ...(url.startsWith('wss:') ? clientTls() : {}),
        headers: {
          'x-pyrycode-server': serverIds[i % serverIds.length]!,
          'x-pyrycode-token': 'bench',
          'user-agent': 'bench-idle',
          'x-pyrycode-device-name': `i${i}`,
        },
      });
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.on('close', () => {
        if (holding) closed++;
      });
      phones.push(ws);
    });
  for (let i = 0; i < count; i += CONCURRENT_HANDSHAKES) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(count, i + CONCURRENT_HANDSHAKES); j++) batch.push(open(j));
    await Promise.all(batch);
  }
  holding = true;
  process.stdout.write(`open ${phones.length}\n`);
  process.once('SIGTERM', () => {
    holding = false;
    process.stdout.write(`closed ${closed}\n`);
    for (const ws of phones) ws.terminate();
    setTimeout(() => process.exit(0), 100);
  });
}

if (isMain(import.meta.url)) {
  const [url, serverId, count, localAddress] = process.argv.slice(2);
  main(url!, serverId!.split(','), Number(count), localAddress!).catch((err: unknown) => {
    process.stderr.write(`idle-phones: ${String(err)}\n`);
    process.exit(1);
  });
}
