// The closed log-key allowlist and event set (operations.md §7): the logger strips
// unlisted keys, an undeclared event or reason does not compile, and no test relay
// in this run ever emitted an unlisted key or event or leaked a secret.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_REASONS, LOG_EVENTS } from '../../src/ops/log-events.js';
import { createLogger } from '../../src/ops/logger.js';
import { isAllowedLogKey, LOG_KEYS } from '../../src/ops/log-keys.js';
import { connectBinary, connectPhone, newServerId } from '../helpers/clients.js';
import { silentLogger } from '../helpers/logger.js';
import { startRelay } from '../helpers/relay.js';

test('the logger drops keys outside the allowlist and bounds long values', () => {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (l: string) => void lines.push(l) });
  // Bypass the compile-time check the way a careless `as` cast would.
  const fields = { server_id: 's', x_pyrycode_token: 'secret', device_name: 'd'.repeat(1000) } as Record<string, string>;
  log.info('relay_started', fields);
  const parsed = JSON.parse(lines[0] as string) as Record<string, unknown>;
  assert.equal(parsed.event, 'relay_started');
  assert.equal(parsed.server_id, 's');
  assert.equal(parsed.x_pyrycode_token, undefined);
  assert.ok((parsed.device_name as string).length <= 256);
  assert.deepEqual(Object.keys(parsed).sort(), ['device_name', 'event', 'level', 'server_id', 'time']);
});

test("an undeclared event, or a reason outside an event's closed set, is a compile error", () => {
  // Each line below must fail to type-check (tsc fails on an unused @ts-expect-error).
  // @ts-expect-error: not a LogEvent
  silentLogger.info('made_up_event');
  // @ts-expect-error: not an EnvelopeDropReason
  silentLogger.warn('envelope_dropped', { reason: 'some new reason' });
  // @ts-expect-error: not a WakeDropReason
  silentLogger.warn('push_wake_dropped', { reason: 'wake is not json' });
  silentLogger.warn('envelope_dropped', { reason: 'unknown conn_id' });
  silentLogger.error('boot_refused', { reason: 'free text is fine for boot refusals' });
  assert.equal(new Set(LOG_EVENTS).size, LOG_EVENTS.length, 'no event listed twice');
});

test('every key a running relay logs is in the allowlist; tokens and frames never appear', async () => {
  const relay = await startRelay();
  const id = newServerId();
  const token = 'f'.repeat(63) + '0';
  const binary = await connectBinary(relay.url, id);
  const phone = await connectPhone(relay.url, id, { 'X-Pyrycode-Token': token, 'X-Pyrycode-Device-Name': 'Pixel '.repeat(30) });
  phone.send('{"secret_frame_marker":1}');
  await binary.next();
  binary.send('{"conn_id":"nope","frame":{"secret_frame_marker":2}}');
  binary.send('{"push_wake":{"platform":"fcm","token":"secret-fcm-token"}}');
  phone.close(4000);
  await binary.next();
  binary.close();
  await binary.closed;
  await relay.stop();
  assert.ok(relay.logs.length >= 5);
  for (const line of relay.logs) {
    const obj = JSON.parse(line) as Record<string, unknown>;
    for (const key of Object.keys(obj)) assert.ok(isAllowedLogKey(key), `unlisted log key ${key} in ${line}`);
    assert.ok((LOG_EVENTS as readonly unknown[]).includes(obj.event), `undeclared event in ${line}`);
    const reasons = (EVENT_REASONS as Record<string, readonly string[] | undefined>)[obj.event as string];
    if (reasons !== undefined && obj.reason !== undefined)
      assert.ok(reasons.includes(obj.reason as string), `undeclared reason in ${line}`);
    assert.ok(!line.includes(token) && !line.includes('secret_frame_marker') && !line.includes('secret-fcm-token'), line);
    if (typeof obj.device_name === 'string') assert.ok(obj.device_name.length <= 64);
  }
  assert.ok(LOG_KEYS.length > 10);
});
