// Black-box: the envelope in both directions, byte exactness, close directives,
// close notices, bad envelopes and bad phone frames (protocol.md §3,
// relay-behaviour.md §3 and §5).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectBinary, connectPhone, newServerId, noiseFrame, type TestClient } from '../helpers/clients.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const CONN_ID = /^client-(.+)-([0-9a-f]{8})$/;

async function pair(relay: TestRelay): Promise<{ id: string; binary: TestClient; phone: TestClient; connId: string }> {
  const id = newServerId();
  const binary = await connectBinary(relay.url, id);
  const phone = await connectPhone(relay.url, id);
  phone.send('{"v":2,"type":"noise_init","data":"AAAA"}');
  const raw = await binary.next();
  const m = /^\{"conn_id":"([^"]+)","frame":/.exec(raw);
  assert.ok(m, raw);
  return { id, binary, phone, connId: m[1] as string };
}

describe('forwarding', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('phone → binary: wrapped exactly as {"conn_id":…,"frame":<bytes>} with a well-formed conn_id', async () => {
    const id = newServerId();
    const binary = await connectBinary(relay.url, id);
    const phone = await connectPhone(relay.url, id);
    const odd = ' {"n": 1.50e+3, "big": 123456789012345678901234567890, "s":"\\u00e9\\n"} ';
    phone.send(odd);
    const raw = await binary.next();
    const m = /^\{"conn_id":"([^"]+)","frame":([\s\S]*)\}$/.exec(raw);
    assert.ok(m, raw);
    assert.equal(m[2], odd, 'inner frame must be byte for byte');
    const cm = CONN_ID.exec(m[1] as string);
    assert.ok(cm);
    assert.equal(cm[1], id);
    binary.close();
    phone.close();
  });

  test('binary → phone: only the frame value is written, byte for byte, as a text frame', async () => {
    const { binary, phone, connId } = await pair(relay);
    const inner = '{"v":2,"type":"noise_resp","data":"x","num":1.0e-7,"deep":[[[{"a":null}]]]}';
    binary.send(`{ "x_ext": {"a":[1,2]}, "conn_id" : "${connId}" ,"frame":${inner}, "token":"ignored"}`);
    assert.equal(await phone.next(), inner);
    assert.equal(phone.binaryFrames, 0);
    binary.close();
    phone.close();
  });

  test('binary → phone accepts binary-opcode envelopes too', async () => {
    const { binary, phone, connId } = await pair(relay);
    binary.ws.send(Buffer.from(`{"conn_id":"${connId}","frame":[1,2,3]}`), { binary: true });
    assert.equal(await phone.next(), '[1,2,3]');
    assert.equal(phone.binaryFrames, 0);
    binary.close();
    phone.close();
  });

  test('500 frames each way, sizes up to 90 KB, arrive in order and intact', async () => {
    const { binary, phone, connId } = await pair(relay);
    const sizes = Array.from({ length: 500 }, (_, i) => (i % 50 === 0 ? 90_000 : 200 + ((i * 997) % 4000)));
    const up = sizes.map((s, i) => noiseFrame(s, i));
    for (const f of up) phone.send(f);
    for (let i = 0; i < up.length; i++) {
      const raw = await binary.next(5000);
      assert.equal(raw, `{"conn_id":"${connId}","frame":${up[i]}}`);
    }
    const down = sizes.map((s, i) => noiseFrame(s, 1000 + i));
    for (const f of down) binary.send(`{"conn_id":"${connId}","frame":${f}}`);
    for (let i = 0; i < down.length; i++) assert.equal(await phone.next(5000), down[i]);
    binary.close();
    phone.close();
  });

  test('no cross-server delivery: a conn_id of another server-id is dropped', async () => {
    const a = await pair(relay);
    const b = await pair(relay);
    b.binary.send(`{"conn_id":"${a.connId}","frame":{"evil":1}}`);
    a.binary.send(`{"conn_id":"${a.connId}","frame":{"ok":1}}`);
    assert.equal(await a.phone.next(), '{"ok":1}');
    assert.ok(await a.phone.silentFor(150));
    assert.ok(await b.phone.silentFor(10));
    for (const p of [a, b]) {
      p.binary.close();
      p.phone.close();
    }
  });

  test('close directive: frame first, then the code, and no close notice', async () => {
    const { binary, phone, connId } = await pair(relay);
    binary.send(`{"conn_id":"${connId}","frame":{"type":"sealed_err"},"close_code":4401}`);
    assert.equal(await phone.next(), '{"type":"sealed_err"}');
    assert.deepEqual(await phone.waitClose(), { code: 4401, reason: '' });
    assert.ok(await binary.silentFor(200));
    binary.close();
  });

  test('close-only directive with frame null or absent', async () => {
    for (const body of ['"frame":null,"close_code":4408', '"close_code":4410']) {
      const { binary, phone, connId } = await pair(relay);
      binary.send(`{"conn_id":"${connId}",${body}}`);
      assert.deepEqual(await phone.waitClose(), { code: Number(body.slice(-4)), reason: '' });
      assert.equal(phone.messages.length, 0);
      assert.ok(await binary.silentFor(150));
      binary.close();
    }
  });

  test('frames queued before a close directive are delivered first; frames after it are dropped', async () => {
    const { binary, phone, connId } = await pair(relay);
    binary.send(`{"conn_id":"${connId}","frame":1}`);
    binary.send(`{"conn_id":"${connId}","frame":2}`);
    binary.send(`{"conn_id":"${connId}","close_code":4412}`);
    binary.send(`{"conn_id":"${connId}","frame":3}`);
    assert.equal((await phone.waitClose()).code, 4412);
    assert.deepEqual(phone.messages, ['1', '2']);
    binary.close();
  });

  test('phone close → close notice with the phone code, after its last frame, once', async () => {
    const { binary, phone, connId } = await pair(relay);
    phone.send('{"last":true}');
    phone.close(4000);
    assert.equal(await binary.next(), `{"conn_id":"${connId}","frame":{"last":true}}`);
    assert.equal(await binary.next(), `{"conn_id":"${connId}","close_code":4000}`);
    assert.ok(await binary.silentFor(200));
    binary.close();
  });

  test('close notice carries 1001 when the phone closed without a code or vanished', async () => {
    const a = await pair(relay);
    a.phone.ws.close(); // close frame without a code
    assert.equal(await a.binary.next(), `{"conn_id":"${a.connId}","close_code":1001}`);
    const b = await pair(relay);
    b.phone.ws.terminate(); // TCP drop
    assert.equal(await b.binary.next(), `{"conn_id":"${b.connId}","close_code":1001}`);
    a.binary.close();
    b.binary.close();
  });

  test('non-JSON phone frame → 1007 to the phone, nothing forwarded, then a notice with 1007', async () => {
    const { binary, phone, connId } = await pair(relay);
    phone.send('{"ok":1}');
    phone.send('not json');
    phone.send('{"after":1}');
    assert.equal(await binary.next(), `{"conn_id":"${connId}","frame":{"ok":1}}`);
    assert.deepEqual(await phone.waitClose(), { code: 1007, reason: 'frame is not json' });
    assert.equal(await binary.next(), `{"conn_id":"${connId}","close_code":1007}`);
    assert.ok(await binary.silentFor(150));
    binary.close();
  });

  test('binary-opcode phone frames: JSON is forwarded (as text), invalid UTF-8 is 1007', async () => {
    const { binary, phone, connId } = await pair(relay);
    phone.ws.send(Buffer.from('{"bin":1}'), { binary: true });
    assert.equal(await binary.next(), `{"conn_id":"${connId}","frame":{"bin":1}}`);
    assert.equal(binary.binaryFrames, 0);
    phone.ws.send(Buffer.from([0x22, 0xff, 0x22]), { binary: true });
    assert.equal((await phone.waitClose()).code, 1007);
    binary.close();
  });

  test('every kind of bad envelope is dropped and the binary stays connected', async () => {
    const { binary, phone, connId } = await pair(relay);
    const bad = [
      'not json',
      '[1,2]',
      '"str"',
      'null',
      '{"frame":{"a":1}}',
      '{"conn_id":"","frame":{"a":1}}',
      '{"conn_id":null,"frame":{"a":1}}',
      `{"conn_id":"${connId}"}`,
      `{"conn_id":"${connId}","frame":null}`,
      `{"conn_id":"${connId}","close_code":0}`,
      `{"conn_id":"${connId}","frame":1,"close_code":999}`,
      `{"conn_id":"${connId}","frame":1,"close_code":5000}`,
      `{"conn_id":"${connId}","frame":1,"close_code":1005}`,
      `{"conn_id":"${connId}","frame":1,"close_code":1006}`,
      `{"conn_id":"${connId}","frame":1,"close_code":"4401"}`,
      `{"conn_id":"${connId}","frame":1,"close_code":4401.5}`,
      `{"conn_id":42,"frame":1}`,
      '{"conn_id":"client-unknown-00000000","frame":1}',
      `{"conn_id":"${connId}","frame":1`,
    ];
    for (const b of bad) binary.send(b);
    binary.send(`{"conn_id":"${connId}","frame":"still here"}`);
    assert.equal(await phone.next(), '"still here"');
    assert.ok(!binary.isClosed && !phone.isClosed);
    assert.ok(relay.events().some((e) => e.event === 'envelope_dropped'));
    binary.close();
    phone.close();
  });

  test('close_code null counts as absent; unknown fields and a push_wake beside a conn_id are ignored', async () => {
    const { binary, phone, connId } = await pair(relay);
    binary.send(`{"conn_id":"${connId}","frame":{"a":1},"close_code":null,"x_future":[1],"push_wake":{"platform":"fcm","token":"t"}}`);
    assert.equal(await phone.next(), '{"a":1}');
    assert.ok(!phone.isClosed);
    binary.close();
    phone.close();
  });

  test('a push wake with push off is dropped with a warn line, the binary stays', async () => {
    const { binary, phone, connId } = await pair(relay);
    binary.send('{"push_wake":{"platform":"fcm","token":"secret-device-token"}}');
    binary.send(`{"conn_id":"${connId}","frame":2}`);
    assert.equal(await phone.next(), '2');
    const line = relay.logs.find((l) => l.includes('push_wake_dropped'));
    assert.ok(line);
    assert.ok(!relay.logs.some((l) => l.includes('secret-device-token')));
    binary.close();
    phone.close();
  });

  test('binary disconnect: no notices to anyone; displaced binaries never send', async () => {
    const { id, binary, phone } = await pair(relay);
    binary.close();
    await binary.closed;
    // The relay has handled the disconnect (grace armed) ...
    await relay.waitEvent('server_released', { server_id: id });
    // ... and anything it sent the phone for it is on the wire ahead of this pong.
    const pong = new Promise((r) => phone.ws.once('pong', r));
    phone.ws.ping();
    await pong;
    assert.ok(!phone.isClosed);
    assert.deepEqual(phone.messages, []);
    phone.close();
  });
});
