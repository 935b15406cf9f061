// The flag table's typing, proved at compile time: each @ts-expect-error below must
// be an error, or the build fails. The runtime assertions keep the rows honest too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineFlag } from '../../../src/ops/config/flag-table.js';
import type { FlagValues } from '../../../src/ops/config/relay-config.js';

const base = { name: 'example', topic: 'Limits', help: 'example' } as const;

test('a row fills its field with the validated value', () => {
  const row = defineFlag({ ...base, key: 'maxConnections', type: 'int', default: '1', validate: (n) => Number(n) * 2 });
  const out: Partial<FlagValues> = {};
  row.assign(out, '0x10', { homedir: '' });
  assert.equal(out.maxConnections, 32);
});

test('a validator of the wrong type does not compile', () => {
  const rows = [
    // @ts-expect-error a string cannot fill a number field
    defineFlag({ ...base, key: 'maxConnections', type: 'string', default: '1', validate: (s) => s }),
    // @ts-expect-error an int row hands its validator a bigint, not a string
    defineFlag({ ...base, key: 'fcmProject', type: 'int', default: '1', validate: (s: string) => s }),
    // @ts-expect-error a duration (number of ms) cannot fill a string field
    defineFlag({ ...base, key: 'domain', type: 'duration', default: '1s', validate: (ms) => ms }),
    // @ts-expect-error any string is not a LogLevel
    defineFlag({ ...base, key: 'logLevel', type: 'enum', default: 'info', validate: (s) => s }),
    // @ts-expect-error a field that cannot be undefined needs a default
    defineFlag({ ...base, key: 'gracePeriodMs', type: 'duration', default: undefined, validate: (ms) => ms }),
    // @ts-expect-error no such config field
    defineFlag({ ...base, key: 'noSuchField', type: 'bool', default: 'false', validate: (b) => b }),
  ];
  assert.equal(rows.length, 6);
});
