// The probe's checks (protocol.md §2–§4, relay-behaviour.md §1–§5): play a binary
// and phones against a live relay under a fresh random server-id and verify the
// behaviour the real clients depend on. Each check has a deadline; a check whose
// prerequisite failed is reported as skipped (and the probe still fails).
import { randomBytes, randomUUID } from 'node:crypto';
import { VERSION } from '../ops/version.js';
import { CloseCode, EnvelopeKey, Header, Path } from '../protocol.js';
import { ProbeSocket, type DialOptions } from './probe-client.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  ms: number;
  detail: string;
}

export interface ProbeTarget {
  /** ws:// or wss:// base; the endpoint paths are appended to its path. */
  base: URL;
  timeoutMs: number;
  ca?: Buffer;
  /** Connect to this IP instead of resolving the URL's host. */
  resolve?: string;
  /** Server-id to claim: a fresh UUIDv4, so real users are never disturbed. */
  serverId: string;
}

/** Every check, in the order it runs; also the order of the report. */
export const CHECK_NAMES = [
  'binary_upgrade',
  'phone_upgrade',
  'phone_to_binary',
  'binary_to_phone',
  'close_directive',
  'close_notice',
  'unknown_server',
  'duplicate_claim',
] as const;

export type CheckName = (typeof CHECK_NAMES)[number];

/** An application close code the binary passes through (protocol.md §4: "idle"). */
const DIRECTIVE_CODE = 4408;
/** The code our second phone closes with; the notice must carry it unchanged. */
const PHONE_CLOSE_CODE = 4000;
/** How long "the binary gets no notice" is watched for. */
const QUIET_MS = 300;

const K_CONN_ID = JSON.stringify(EnvelopeKey.connId);
const K_FRAME = JSON.stringify(EnvelopeKey.frame);
const K_CLOSE_CODE = JSON.stringify(EnvelopeKey.closeCode);
/** A wrapped phone frame: conn_id `client-<server-id>-<8 hex>`, then the frame verbatim. */
const WRAPPED = new RegExp(`^\\{${K_CONN_ID}:"(client-(.*)-([0-9a-f]{8}))",${K_FRAME}:([\\s\\S]*)\\}$`);
const CONN_ID_FIRST = new RegExp(`^\\{${K_CONN_ID}:"([^"]+)"`);

function endpoint(base: URL, path: typeof Path.server | typeof Path.client): string {
  const u = new URL(base.href);
  u.pathname = u.pathname.replace(/\/+$/, '') + path;
  return u.href;
}

/**
 * A realistic inner frame whose bytes a re-serialising relay would change: odd
 * whitespace, an exponent and a big integer. Forwarding must be byte for byte.
 */
function innerFrame(kind: string): string {
  const data = randomBytes(48).toString('base64');
  return `{"v":2, "type":"${kind}","data":"${data}" ,"n":1.50e3,"big":12345678901234567890}`;
}

class Failure extends Error {}

function expect(cond: boolean, detail: string): void {
  if (!cond) throw new Failure(detail);
}

function shown(s: string, max = 120): string {
  return JSON.stringify(s.length > max ? s.slice(0, max) + '…' : s);
}

export async function runChecks(target: ProbeTarget): Promise<CheckResult[]> {
  const serverId = target.serverId;
  const t = target.timeoutMs;
  const dial: DialOptions = {
    timeoutMs: t,
    ...(target.ca !== undefined ? { ca: target.ca } : {}),
    ...(target.resolve !== undefined ? { resolve: target.resolve } : {}),
  };
  const serverUrl = endpoint(target.base, Path.server);
  const clientUrl = endpoint(target.base, Path.client);
  const results: CheckResult[] = [];
  const failed = new Set<string>();
  const sockets: ProbeSocket[] = [];

  const binaryHeaders = (sid: string): Record<string, string> => ({
    [Header.serverId]: sid,
    [Header.version]: `probe-${VERSION}`,
    [Header.userAgent]: `pyrycode-relay-probe/${VERSION}`,
  });
  const phoneHeaders = (sid: string): Record<string, string> => ({
    [Header.serverId]: sid,
    [Header.token]: randomBytes(32).toString('hex'),
    [Header.userAgent]: `pyrycode-relay-probe/${VERSION}`,
    [Header.deviceName]: 'pyrycode-relay probe',
  });
  const dialTracked = async (url: string, headers: Record<string, string>): Promise<ProbeSocket> => {
    const s = await ProbeSocket.open(url, headers, dial);
    sockets.push(s);
    return s;
  };

  async function check(name: CheckName, needs: readonly CheckName[], body: () => Promise<string>): Promise<void> {
    const missing = needs.filter((n) => failed.has(n));
    if (missing.length > 0) {
      failed.add(name);
      results.push({ name, status: 'skip', ms: 0, detail: `needs ${missing.join(', ')}` });
      return;
    }
    const started = performance.now();
    try {
      const detail = await body();
      results.push({ name, status: 'pass', ms: performance.now() - started, detail });
    } catch (err) {
      failed.add(name);
      const detail = err instanceof Error ? err.message : String(err);
      results.push({ name, status: 'fail', ms: performance.now() - started, detail });
    }
  }

  let binary: ProbeSocket | undefined;
  let phone: ProbeSocket | undefined;
  let connId = '';

  try {
    await check('binary_upgrade', [], async () => {
      binary = await dialTracked(serverUrl, binaryHeaders(serverId));
      return `${serverUrl} → 101`;
    });

    await check('phone_upgrade', ['binary_upgrade'], async () => {
      phone = await dialTracked(clientUrl, phoneHeaders(serverId));
      // A refused phone is also upgraded (then closed with 4404/4429): give the
      // relay a moment to say so before calling the upgrade good.
      const early = await phone.closedWithin(QUIET_MS);
      expect(early === undefined, `upgraded, then closed with ${early?.code} ${shown(early?.reason ?? '')}`);
      return `${clientUrl} → 101, registered`;
    });

    await check('phone_to_binary', ['phone_upgrade'], async () => {
      const frame = innerFrame('noise_init');
      phone!.send(frame);
      const got = await binary!.next(t);
      expect(!got.isBinary, 'envelope arrived as a binary frame; the relay must send text');
      const m = WRAPPED.exec(got.text);
      expect(m !== null, `not a {"conn_id":…,"frame":…} envelope: ${shown(got.text)}`);
      const [, id, sid, , inner] = m as RegExpExecArray;
      expect(sid === serverId, `conn_id ${shown(id ?? '')} does not carry the server-id`);
      expect(inner === frame, `inner frame changed in transit: sent ${shown(frame)}, got ${shown(inner ?? '')}`);
      connId = id ?? '';
      return `wrapped as conn_id ${connId}, bytes intact`;
    });

    await check('binary_to_phone', ['phone_to_binary'], async () => {
      const frame = innerFrame('noise_resp');
      binary!.send(`{${K_CONN_ID}:${JSON.stringify(connId)},${K_FRAME}:${frame}}`);
      const got = await phone!.next(t);
      expect(!got.isBinary, 'frame arrived as a binary frame; the relay must send text');
      expect(got.text === frame, `phone got ${shown(got.text)}, expected ${shown(frame)}`);
      return 'delivered byte for byte';
    });

    await check('close_directive', ['binary_to_phone'], async () => {
      binary!.send(`{${K_CONN_ID}:${JSON.stringify(connId)},${K_FRAME}:null,${K_CLOSE_CODE}:${DIRECTIVE_CODE}}`);
      const c = await phone!.closed(t);
      expect(c.code === DIRECTIVE_CODE, `phone closed with ${c.code}, expected ${DIRECTIVE_CODE}`);
      const notice = await binary!.quietFor(QUIET_MS);
      expect(notice === undefined, `binary got ${shown(notice?.text ?? '')} for a close it asked for`);
      return `phone closed with ${DIRECTIVE_CODE}, no notice to the binary`;
    });

    await check('close_notice', ['phone_to_binary'], async () => {
      const second = await dialTracked(clientUrl, phoneHeaders(serverId));
      second.send(innerFrame('noise_init')); // learn its conn_id from the envelope
      const env = await binary!.next(t);
      const id = CONN_ID_FIRST.exec(env.text)?.[1];
      expect(id !== undefined, `second phone's frame arrived as ${shown(env.text)}`);
      second.close(PHONE_CLOSE_CODE);
      const got = await binary!.next(t);
      const want = `{${K_CONN_ID}:${JSON.stringify(id)},${K_CLOSE_CODE}:${PHONE_CLOSE_CODE}}`;
      expect(got.text === want, `binary got ${shown(got.text)}, expected ${shown(want)}`);
      return `binary told ${PHONE_CLOSE_CODE}`;
    });

    await check('unknown_server', [], async () => {
      const stray = await dialTracked(clientUrl, phoneHeaders(randomUUID()));
      const c = await stray.closedWithin(t);
      expect(c !== undefined, `still open after ${t} ms; expected ${CloseCode.noServer}`);
      expect(c!.code === CloseCode.noServer, `closed with ${c!.code} ${shown(c!.reason)}, expected ${CloseCode.noServer}`);
      return `${CloseCode.noServer} ${shown(c!.reason)}`;
    });

    await check('duplicate_claim', ['binary_upgrade'], async () => {
      const rival = await dialTracked(serverUrl, binaryHeaders(serverId));
      const c = await rival.closedWithin(t);
      expect(c !== undefined, `still open after ${t} ms; expected ${CloseCode.claimed}`);
      expect(c!.code === CloseCode.claimed, `closed with ${c!.code} ${shown(c!.reason)}, expected ${CloseCode.claimed}`);
      return `${CloseCode.claimed} ${shown(c!.reason)}`;
    });
  } finally {
    // Close politely; the random server-id then sits out its grace window unseen.
    for (const s of sockets) s.close(CloseCode.normal);
    await Promise.all(sockets.map((s) => s.closed(1000).catch(() => s.terminate())));
  }
  return results;
}
