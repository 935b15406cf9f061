// Key naming: every printable-ASCII server-id up to 256 bytes maps to its own key,
// no id can produce another key's name, and node refs round-trip.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clusterKeys, decodeServerId, encodeServerId, newIncarnation, nodeRef, parseNodeRef } from '../../src/cluster/keys.js';

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const serverId = fc.array(printable, { minLength: 1, maxLength: 256 }).map((a) => a.join(''));
const HEX = /^[0-9a-f]+$/;

test('server-id encoding round-trips and only hex reaches a key', () => {
  fc.assert(
    fc.property(serverId, (sid) => {
      const enc = encodeServerId(sid);
      assert.match(enc, HEX);
      assert.equal(enc.length, sid.length * 2);
      assert.equal(decodeServerId(enc), sid);
      const k = clusterKeys('pyrycode-relay');
      assert.equal(k.slot(sid), `pyrycode-relay:s:${enc}`);
      assert.equal(k.phones(sid), `pyrycode-relay:p:${enc}`);
    }),
    { numRuns: 2000 },
  );
});

test('distinct server-ids never share a key, whatever they contain', () => {
  const k = clusterKeys('p');
  fc.assert(
    fc.property(serverId, serverId, (a, b) => {
      fc.pre(a !== b);
      assert.notEqual(k.slot(a), k.slot(b));
      assert.notEqual(k.phones(a), k.phones(b));
    }),
    { numRuns: 2000 },
  );
  // The usual suspects: separators, globs, hash tags, look-alikes of other keys.
  const tricky = [' ', '*', '?', '[a]', '{x}', ':', 'gen', 's:gen', '00', '0', 'nodes', 'a b', '\\', '"', "'"];
  const slots = new Set(tricky.map((s) => k.slot(s)));
  assert.equal(slots.size, tricky.length);
  const fixed = [k.gen, k.nodes, k.epoch, k.grace];
  for (const s of tricky) {
    assert.ok(!fixed.includes(k.slot(s)));
    assert.ok(!fixed.includes(k.phones(s)));
  }
});

test('node refs: id plus a fresh 12-hex incarnation, parsed back; bad ids refused', () => {
  const inc = newIncarnation();
  assert.match(inc, /^[0-9a-f]{12}$/);
  assert.notEqual(newIncarnation(), inc);
  const ref = nodeRef('fly-1.a_b', inc);
  assert.deepEqual(parseNodeRef(ref), { nodeId: 'fly-1.a_b', incarnation: inc });
  assert.throws(() => nodeRef('a:b', inc), RangeError);
  assert.throws(() => nodeRef('', inc), RangeError);
  assert.throws(() => nodeRef('x'.repeat(65), inc), RangeError);
  assert.throws(() => nodeRef('a', 'XYZ'), RangeError);
  assert.equal(parseNodeRef('nocolon'), undefined);
  assert.equal(parseNodeRef('a:b:c'), undefined);
  const k = clusterKeys('pr.x:y-1');
  assert.equal(k.busChannel(ref), `pr.x:y-1:bus:${ref}`);
  assert.equal(k.nodeSlots(ref), `pr.x:y-1:ns:${ref}`);
  assert.equal(k.nodePhones(ref), `pr.x:y-1:np:${ref}`);
  assert.throws(() => clusterKeys('bad prefix'), RangeError);
  assert.throws(() => clusterKeys(''), RangeError);
  assert.throws(() => clusterKeys('x'.repeat(65)), RangeError);
});
