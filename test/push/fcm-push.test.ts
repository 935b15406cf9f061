// Black-box: push wakes end to end (operations.md §9) — a real relay, real ws
// binaries and phones, and a real loopback HTTP server playing Google's token
// endpoint and FCM. Timings are shortened through the dispatcher's options.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { jwtVerify, decodeProtectedHeader } from 'jose';
import type { PushOutcome, RelayMetrics } from '../../src/ops/metrics.js';
import { FcmPush, type PushLimits } from '../../src/push/fcm-push.js';
import { parseServiceAccount } from '../../src/ops/service-account.js';
import { connectBinary, connectPhone, newServerId, sleep, type TestClient } from '../helpers/clients.js';
import { CLIENT_EMAIL, FakeGoogle, json, testKeyPem } from '../helpers/fake-google.js';
import { metricValue } from '../helpers/metrics.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import type { RelayConfig } from '../../src/ops/config.js';

const OUTCOMES: readonly PushOutcome[] = ['sent', 'unregistered', 'send_failed', 'token_fetch_failed', 'dropped'];
const WAKE_BODY = (t: string): string => `{"message":{"token":"${t}","android":{"priority":"HIGH"}}}`;

/** Every device token, access token and secret-ish reply text used here, for the leak check. */
const secrets = new Set<string>();
const allLines: string[] = [];
/** Relays not yet stopped, so a failing test cannot leave the run hanging. */
const open = new Set<PushRelay>();
let deviceSerial = 0;

function deviceToken(): string {
  deviceSerial++;
  const t = `dEvIcEtOkEn${deviceSerial}:APA91b${'x'.repeat(120)}${deviceSerial}`;
  secrets.add(t);
  return t;
}

function wake(binary: TestClient, token: string): void {
  binary.send(JSON.stringify({ push_wake: { platform: 'fcm', token } }));
}

interface PushRelay {
  relay: TestRelay;
  fake: FakeGoogle;
  push: FcmPush;
  metrics: RelayMetrics;
  stop(): Promise<void>;
}

async function startPushRelay(limits: Partial<PushLimits> = {}, overrides: Partial<RelayConfig> = {}): Promise<PushRelay> {
  const fake = await FakeGoogle.start();
  const parsed = parseServiceAccount(fake.serviceAccountJson());
  assert.ok(parsed.ok);
  let push: FcmPush | undefined;
  let metrics: RelayMetrics | undefined;
  const relay = await startRelay(overrides, {
    makePush: (logger, m) => {
      metrics = m;
      push = new FcmPush({
        account: parsed.value,
        sendUrl: fake.sendUrl,
        logger,
        outcomes: m.pushWakes,
        drainTimeoutMs: overrides.drainTimeoutMs ?? 2000,
        limits,
      });
      return push;
    },
  });
  assert.ok(push !== undefined && metrics !== undefined);
  const p: PushRelay = {
    relay,
    fake,
    push,
    metrics,
    async stop() {
      if (!open.delete(p)) return;
      await relay.stop();
      await fake.close();
      allLines.push(...relay.logs);
    },
  };
  open.add(p);
  return p;
}

async function outcomes(metrics: RelayMetrics): Promise<Record<PushOutcome, number>> {
  const out = {} as Record<PushOutcome, number>;
  for (const o of OUTCOMES) out[o] = await metricValue(metrics, 'pyrycode_relay_push_wakes_total', { outcome: o });
  return out;
}

/** Waits until the outcome counters sum to `n`, then returns them. */
async function settled(p: PushRelay, n: number, ms = 3000): Promise<Record<PushOutcome, number>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const o = await outcomes(p.metrics);
    const sum = OUTCOMES.reduce((a, k) => a + o[k], 0);
    if (sum >= n || Date.now() > deadline) return o;
    await sleep(10);
  }
}

function expect(partial: Partial<Record<PushOutcome, number>>): Record<PushOutcome, number> {
  return { sent: 0, unregistered: 0, send_failed: 0, token_fetch_failed: 0, dropped: 0, ...partial };
}

function events(p: PushRelay, name: string): Array<Record<string, unknown>> {
  return p.relay.events().filter((e) => e.event === name);
}

const fp = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 8);

describe('push wake (FCM)', () => {
  after(async () => {
    for (const p of [...open]) await p.stop();
    // No device token, access token, key material or reply free text in any line.
    assert.ok(allLines.length > 20);
    const keyBody = testKeyPem().split('\n')[5] ?? 'unreachable';
    for (const line of allLines) {
      for (const s of secrets) assert.ok(!line.includes(s), `secret in log: ${line}`);
      assert.ok(!line.includes('ya29.'), line);
      assert.ok(!line.includes(keyBody), line);
      assert.ok(!line.includes(CLIENT_EMAIL), line);
    }
  });

  test('one wake: one JWT token fetch, one send with exactly the specified request; the token is reused', async () => {
    const p = await startPushRelay();
    // Slow token endpoint so the first three wakes all wait on the same fetch.
    p.fake.tokenHandler = (_req, res) => void setTimeout(() => json(res, 200, p.fake.nextToken(3600)), 150);
    const binary = await connectBinary(p.relay.url, newServerId());
    const tokens = [deviceToken(), deviceToken(), deviceToken()];
    for (const t of tokens) wake(binary, t);
    assert.deepEqual(await settled(p, 3), expect({ sent: 3 }));

    assert.equal(p.fake.tokenRequests.length, 1, 'concurrent senders share one token fetch');
    const tr = p.fake.tokenRequests[0]!;
    assert.equal(tr.method, 'POST');
    assert.equal(tr.headers['content-type'], 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(tr.body);
    assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    const assertion = form.get('assertion') ?? '';
    assert.deepEqual(decodeProtectedHeader(assertion), { alg: 'RS256', typ: 'JWT' });
    const { payload } = await jwtVerify(assertion, p.fake.publicKey, {
      algorithms: ['RS256'],
      issuer: CLIENT_EMAIL,
      audience: p.fake.tokenUri,
    });
    assert.equal(payload.scope, 'https://www.googleapis.com/auth/firebase.messaging');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 3600);
    assert.ok(Math.abs((payload.iat ?? 0) - Date.now() / 1000) < 30);

    assert.equal(p.fake.sendRequests.length, 3);
    const bodies = p.fake.sendRequests.map((r) => r.body).sort();
    assert.deepEqual(bodies, tokens.map(WAKE_BODY).sort(), 'body byte for byte');
    for (const r of p.fake.sendRequests) {
      assert.equal(r.method, 'POST');
      assert.equal(r.headers.authorization, 'Bearer ya29.test-1');
      assert.equal(r.headers['content-type'], 'application/json');
    }
    // Later sends reuse the cached token.
    wake(binary, tokens[0]!);
    assert.deepEqual(await settled(p, 4), expect({ sent: 4 }));
    assert.equal(p.fake.tokenRequests.length, 1);
    assert.equal(p.fake.sendRequests[3]?.headers.authorization, 'Bearer ya29.test-1');

    const sent = events(p, 'push_wake_sent');
    assert.equal(sent.length, 4);
    assert.deepEqual(sent.map((e) => e.token_fp).sort(), [...tokens, tokens[0]!].map(fp).sort());
    for (const e of sent) {
      assert.equal(e.fcm_message_id, 'projects/test-project/messages/0:1500415314455276%31bd1c96');
      assert.equal(typeof e.duration, 'number');
      assert.equal(e.level, 'info');
    }
    binary.close();
    await p.stop();
  });

  test('an expiring access token is refetched; FCM 401 drops the cached token', async () => {
    // Tokens of 60 s with a 59.8 s refresh margin: reusable for 200 ms.
    const p = await startPushRelay({ refreshMarginMs: 59_800 });
    p.fake.tokenHandler = (_req, res) => json(res, 200, p.fake.nextToken(60));
    const binary = await connectBinary(p.relay.url, newServerId());
    wake(binary, deviceToken());
    await settled(p, 1);
    wake(binary, deviceToken());
    await settled(p, 2);
    assert.equal(p.fake.tokenRequests.length, 1, 'still fresh: reused');
    await sleep(250);
    wake(binary, deviceToken());
    assert.deepEqual(await settled(p, 3), expect({ sent: 3 }));
    assert.equal(p.fake.tokenRequests.length, 2, 'expired: refetched');
    assert.equal(p.fake.sendRequests[2]?.headers.authorization, 'Bearer ya29.test-2');
    binary.close();
    await p.stop();

    // A 401 from FCM means the cached token is bad even before its expiry.
    const q = await startPushRelay();
    const b2 = await connectBinary(q.relay.url, newServerId());
    q.fake.sendHandler = (_req, res) =>
      json(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
    wake(b2, deviceToken());
    assert.deepEqual(await settled(q, 1), expect({ send_failed: 1 }));
    assert.equal(events(q, 'push_wake_send_failed')[0]?.err, 'http 401 UNAUTHENTICATED');
    q.fake.sendHandler = (_req, res) => json(res, 200, { name: 'projects/p/messages/1' });
    wake(b2, deviceToken());
    assert.deepEqual(await settled(q, 2), expect({ send_failed: 1, sent: 1 }));
    assert.equal(q.fake.tokenRequests.length, 2);
    assert.equal(q.fake.sendRequests[1]?.headers.authorization, 'Bearer ya29.test-2');
    b2.close();
    await q.stop();
  });

  test('FCM errors: 404 UNREGISTERED → unregistered, 400 INVALID_ARGUMENT → send_failed; OAuth 401 → token_fetch_failed', async () => {
    const p = await startPushRelay();
    const binary = await connectBinary(p.relay.url, newServerId());
    const freeText = 'Requested entity was not found SECRET-FREE-TEXT';
    secrets.add(freeText);
    p.fake.sendHandler = (_req, res) =>
      json(res, 404, {
        error: {
          code: 404,
          message: freeText,
          status: 'NOT_FOUND',
          details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }],
        },
      });
    const t1 = deviceToken();
    wake(binary, t1);
    assert.deepEqual(await settled(p, 1), expect({ unregistered: 1 }));
    p.fake.sendHandler = (_req, res) =>
      json(res, 400, {
        error: {
          code: 400,
          message: `The registration token is not a valid FCM registration token ${freeText}`,
          status: 'INVALID_ARGUMENT',
          details: [
            { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'INVALID_ARGUMENT' },
            { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'message.token', description: freeText }] },
          ],
        },
      });
    wake(binary, deviceToken());
    assert.deepEqual(await settled(p, 2), expect({ unregistered: 1, send_failed: 1 }));
    const failed = events(p, 'push_wake_send_failed');
    assert.deepEqual(
      failed.map((e) => [e.outcome, e.status, e.err, e.level]),
      [
        ['unregistered', 404, 'http 404 NOT_FOUND UNREGISTERED', 'warn'],
        ['send_failed', 400, 'http 400 INVALID_ARGUMENT INVALID_ARGUMENT', 'warn'],
      ],
    );
    assert.equal(failed[0]?.token_fp, fp(t1));
    binary.close();
    await p.stop();

    const q = await startPushRelay();
    q.fake.tokenHandler = (_req, res) =>
      json(res, 401, { error: 'invalid_client', error_description: `The OAuth client was not found. ${freeText}` });
    const b2 = await connectBinary(q.relay.url, newServerId());
    wake(b2, deviceToken());
    wake(b2, deviceToken());
    assert.deepEqual(await settled(q, 2), expect({ token_fetch_failed: 2 }));
    assert.equal(q.fake.sendRequests.length, 0, 'no send without a token');
    assert.ok(q.fake.tokenRequests.length >= 1 && q.fake.tokenRequests.length <= 2);
    for (const e of events(q, 'push_wake_send_failed')) {
      assert.equal(e.outcome, 'token_fetch_failed');
      assert.equal(e.err, 'oauth http 401 invalid_client');
    }
    b2.close();
    await q.stop();
  });

  test('redirects are refused, from FCM and from the token endpoint', async () => {
    const p = await startPushRelay();
    p.fake.sendHandler = (_req, res) => {
      res.writeHead(302, { location: `${p.fake.base}/elsewhere` });
      res.end();
    };
    const binary = await connectBinary(p.relay.url, newServerId());
    wake(binary, deviceToken());
    assert.deepEqual(await settled(p, 1), expect({ send_failed: 1 }));
    assert.equal(events(p, 'push_wake_send_failed')[0]?.err, 'redirect refused (http 302)');
    binary.close();
    await p.stop();

    const q = await startPushRelay();
    q.fake.tokenHandler = (_req, res) => {
      res.writeHead(307, { location: `${q.fake.base}/elsewhere` });
      res.end();
    };
    const b2 = await connectBinary(q.relay.url, newServerId());
    wake(b2, deviceToken());
    assert.deepEqual(await settled(q, 1), expect({ token_fetch_failed: 1 }));
    assert.equal(events(q, 'push_wake_send_failed')[0]?.err, 'oauth redirect refused (http 307)');
    b2.close();
    await q.stop();
    assert.equal(p.fake.otherRequests.length + q.fake.otherRequests.length, 0, 'the redirect target was never fetched');
  });

  test('an endless reply is cut at 4 KiB and still classified; odd message ids are not logged', async () => {
    const p = await startPushRelay();
    let written = 0;
    p.fake.sendHandler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.write('{"error":{"code":404,"status":"NOT_FOUND","details":[{"errorCode":"UNREGISTERED"}],"message":"');
      // Streams for as long as the client keeps reading.
      const chunk = 'A'.repeat(16 * 1024);
      const pump = (): void => {
        while (!res.destroyed && written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    };
    const binary = await connectBinary(p.relay.url, newServerId());
    wake(binary, deviceToken());
    assert.deepEqual(await settled(p, 1), expect({ unregistered: 1 }));
    await p.fake.sendRequests[0]?.closed; // the relay hung up instead of reading on
    assert.ok(written < 64 * 1024 * 1024, `the relay stopped reading (server wrote ${written} bytes)`);

    p.fake.sendHandler = (_req, res) => json(res, 200, { name: `projects/p/messages/${'9'.repeat(300)}` });
    wake(binary, deviceToken());
    p.fake.sendHandler = (_req, res) => json(res, 200, { name: 'projects/p/messages/bad id"\n' });
    await settled(p, 2);
    wake(binary, deviceToken());
    assert.deepEqual(await settled(p, 3), expect({ unregistered: 1, sent: 2 }));
    for (const e of events(p, 'push_wake_sent')) assert.equal(e.fcm_message_id, undefined);
    binary.close();
    await p.stop();
  });

  test('per-server-id rate limit: burst 6, the rest dropped, another server-id still goes out', async () => {
    const p = await startPushRelay();
    const a = await connectBinary(p.relay.url, newServerId());
    const b = await connectBinary(p.relay.url, newServerId());
    for (let i = 0; i < 9; i++) wake(a, deviceToken());
    assert.deepEqual(await settled(p, 9), expect({ sent: 6, dropped: 3 }));
    wake(b, deviceToken());
    assert.deepEqual(await settled(p, 10), expect({ sent: 7, dropped: 3 }));
    assert.equal(p.fake.sendRequests.length, 7);
    const drops = events(p, 'push_wake_dropped');
    assert.equal(drops.length, 3);
    for (const d of drops) assert.equal(d.reason, 'rate limited');
    a.close();
    b.close();
    await p.stop();
  });

  test('in-flight cap of 32: the rest dropped; a hung FCM never delays frames; sends survive the binary leaving', async () => {
    const p = await startPushRelay();
    p.fake.sendHandler = p.fake.hang;
    const binaries: TestClient[] = [];
    for (let i = 0; i < 6; i++) binaries.push(await connectBinary(p.relay.url, newServerId()));
    const id = newServerId();
    const echoBinary = await connectBinary(p.relay.url, id);
    const phone = await connectPhone(p.relay.url, id);
    phone.send('{"hello":1}');
    const connId = (JSON.parse(await echoBinary.next()) as { conn_id: string }).conn_id;

    // 6 server-ids × 6 wakes = 36 admitted by their buckets; the cap lets 32 through.
    for (const b of binaries) for (let i = 0; i < 6; i++) wake(b, deviceToken());
    await p.fake.until(() => p.fake.heldCount === 32);
    assert.equal(p.push.inFlightCount, 32);
    assert.deepEqual(await outcomes(p.metrics), expect({ dropped: 4 }));
    for (const d of events(p, 'push_wake_dropped')) assert.equal(d.reason, 'too many sends in flight');

    // Frame latency binary → phone and phone → binary while 32 sends hang; each
    // binary frame is sent right behind a wake from the same socket.
    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      wake(echoBinary, deviceToken()); // dropped at the cap, on the same read loop
      echoBinary.send(JSON.stringify({ conn_id: connId, frame: { seq: i } }));
      assert.equal(await phone.next(), `{"seq":${i}}`);
      phone.send(`{"ack":${i}}`);
      await echoBinary.next();
      latencies.push(performance.now() - t0);
    }
    latencies.sort((x, y) => x - y);
    const median = latencies[20]!;
    const worst = latencies[39]!;
    console.log(`frame round trip with 32 hung sends: median ${median.toFixed(2)} ms, max ${worst.toFixed(2)} ms`);
    assert.ok(median < 25 && worst < 250, `median ${median} ms, max ${worst} ms`);
    assert.deepEqual(await outcomes(p.metrics), expect({ dropped: 44 }));

    // The binaries leave; their admitted sends still complete.
    for (const b of binaries) b.close();
    await Promise.all(binaries.map((b) => b.closed));
    p.fake.sendHandler = (_req, res) => json(res, 200, { name: 'projects/p/messages/2' });
    p.fake.release();
    assert.deepEqual(await settled(p, 76), expect({ sent: 32, dropped: 44 }));
    assert.equal(p.push.inFlightCount, 0);
    // Capacity is back: a wake from another server-id goes out.
    const other = await connectBinary(p.relay.url, newServerId());
    wake(other, deviceToken());
    assert.deepEqual(await settled(p, 77), expect({ sent: 33, dropped: 44 }));
    other.close();
    echoBinary.close();
    phone.close();
    await p.stop();
  });

  test('invalid wakes are dropped with a bounded warn line each; the binary stays connected', async () => {
    const p = await startPushRelay();
    const id = newServerId();
    const binary = await connectBinary(p.relay.url, id);
    const phone = await connectPhone(p.relay.url, id);
    const bad = [
      { platform: 'apns', token: deviceToken() },
      { platform: 'fcm', token: '' },
      { platform: 'fcm' },
      { platform: 'fcm', token: 42 },
      { platform: 'FCM', token: deviceToken() },
      'fcm',
      [1, 2],
      7,
      false,
    ];
    for (const w of bad) binary.send(JSON.stringify({ push_wake: w }));
    assert.deepEqual(await settled(p, bad.length), expect({ dropped: bad.length }));
    const drops = events(p, 'push_wake_dropped');
    assert.deepEqual(
      drops.map((d) => d.reason),
      [
        'unsupported platform',
        'missing token',
        'missing token',
        'missing token',
        'unsupported platform',
        'wake is not an object',
        'wake is not an object',
        'wake is not an object',
        'wake is not an object',
      ],
    );
    for (const d of drops) assert.equal(d.level, 'warn');
    // A flood is counted in full but logged at most 10 lines a second.
    await sleep(1000);
    for (let i = 0; i < 200; i++) binary.send('{"push_wake":{"platform":"apns","token":"t"}}');
    assert.deepEqual(await settled(p, bad.length + 200), expect({ dropped: bad.length + 200 }));
    assert.equal(events(p, 'push_wake_dropped').length, bad.length + 10);
    await sleep(1000);
    binary.send('{"push_wake":1}');
    await settled(p, bad.length + 201);
    assert.equal(events(p, 'push_wake_dropped').at(-1)?.count, 190);

    assert.equal(p.fake.sendRequests.length + p.fake.tokenRequests.length, 0);
    assert.ok(!binary.isClosed);
    phone.send('{"still":"here"}');
    assert.match(await binary.next(), /"frame":\{"still":"here"\}/);
    binary.close();
    phone.close();
    await p.stop();
  });

  test('HTTP timeouts: a silent token endpoint or FCM fails the wake after the timeout', async () => {
    const p = await startPushRelay({ httpTimeoutMs: 300 });
    p.fake.tokenHandler = p.fake.hang;
    const binary = await connectBinary(p.relay.url, newServerId());
    wake(binary, deviceToken());
    assert.deepEqual(await settled(p, 1), expect({ token_fetch_failed: 1 }));
    assert.equal(events(p, 'push_wake_send_failed')[0]?.err, 'oauth timeout');
    p.fake.tokenHandler = (_req, res) => json(res, 200, p.fake.nextToken(3600));
    p.fake.sendHandler = p.fake.hang;
    wake(binary, deviceToken());
    assert.deepEqual(await settled(p, 2), expect({ token_fetch_failed: 1, send_failed: 1 }));
    const e = events(p, 'push_wake_send_failed')[1];
    assert.equal(e?.err, 'timeout');
    assert.ok((e?.duration as number) >= 290 && (e?.duration as number) < 2000, String(e?.duration));
    binary.close();
    await p.stop();
  });

  test('shutdown cancels hung sends within the drain deadline', async () => {
    const p = await startPushRelay({}, { drainTimeoutMs: 600 });
    p.fake.sendHandler = p.fake.hang;
    const binary = await connectBinary(p.relay.url, newServerId());
    for (let i = 0; i < 3; i++) wake(binary, deviceToken());
    await p.fake.until(() => p.fake.heldCount === 3);
    const t0 = performance.now();
    await p.relay.stop();
    const took = performance.now() - t0;
    assert.ok(took >= 500 && took < 1500, `drain took ${took} ms`);
    await Promise.all(p.fake.sendRequests.map((r) => r.closed)); // the relay hung up on each
    assert.equal(p.push.inFlightCount, 0);
    assert.deepEqual(await outcomes(p.metrics), expect({ send_failed: 3 }));
    for (const e of events(p, 'push_wake_send_failed')) assert.equal(e.err, 'cancelled');
    // Wakes after shutdown began are dropped, not sent.
    p.push.wake('late', { platform: 'fcm', token: deviceToken() });
    assert.deepEqual(await outcomes(p.metrics), expect({ send_failed: 3, dropped: 1 }));
    await p.stop();
  });

  test('push_wakes series: all five outcomes at 0 from boot when push is on, absent when off', async () => {
    const p = await startPushRelay();
    const text = await p.metrics.registry.metrics();
    for (const o of OUTCOMES) assert.ok(text.includes(`pyrycode_relay_push_wakes_total{outcome="${o}"} 0`), o);
    await p.stop();
    const off = await startRelay();
    const offText = await off.app.metrics.registry.metrics();
    assert.ok(!offText.includes('push_wakes'), 'no push series when push is off');
    assert.ok(offText.includes('pyrycode_relay_frames_forwarded_total'));
    await off.stop();
    allLines.push(...off.logs);
  });
});
