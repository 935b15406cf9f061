// A tiny authoritative DNS responder on loopback UDP for pebble's -dnsserver:
// answers A queries for the names it is given, NOERROR/no data for other types
// of those names, NXDOMAIN for everything else. Names can be added or removed
// while it runs, to make a validation fail and later succeed.
import { createSocket, type Socket } from 'node:dgram';

export interface TestDns {
  port: number;
  /** name (lower case) → IPv4 address */
  readonly names: Map<string, string>;
  stop(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let i = offset;
  while (i < msg.length) {
    const len = msg[i]!;
    if (len === 0) return { name: labels.join('.').toLowerCase(), end: i + 1 };
    if (len > 63 || i + 1 + len > msg.length) return undefined; // no compression in questions
    labels.push(msg.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  return undefined;
}

function answer(query: Buffer, names: Map<string, string>): Buffer | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const q = readName(query, 12);
  if (q === undefined || q.end + 4 > query.length) return undefined;
  const qtype = query.readUInt16BE(q.end);
  const question = query.subarray(12, q.end + 4);
  const ip = names.get(q.name);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  const rd = query.readUInt16BE(2) & 0x0100;
  const rcode = ip === undefined ? 3 : 0;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | rcode, 2); // QR, AA, RD copied
  header.writeUInt16BE(1, 4);
  const records: Buffer[] = [];
  if (ip !== undefined && qtype === 1) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(0, 6); // TTL 0
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
    records.push(rr);
  }
  header.writeUInt16BE(records.length, 6);
  return Buffer.concat([header, question, ...records]);
}

export function startDns(names: Record<string, string>): Promise<TestDns> {
  const map = new Map(Object.entries(names).map(([k, v]) => [k.toLowerCase(), v]));
  const sock: Socket = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const reply = answer(msg, map);
    if (reply !== undefined) sock.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      resolve({
        port: sock.address().port,
        names: map,
        stop: () => new Promise<void>((r) => sock.close(() => r())),
      });
    });
  });
}
