// Runs each registry script of a ClusterStore once, checking its answer: shared by the
// tests that prove a restricted Redis user (ACL) still lets a node do all its work.
import assert from 'node:assert/strict';
import type { ClusterStore } from '../../src/cluster/store.js';

/** Claim, register and unregister a phone, release into grace, expire it, heartbeat. */
export async function runEveryScript(s: ClusterStore): Promise<void> {
  const c = await s.claim('sid', 'b1');
  assert.equal(c.kind, 'claimed');
  assert.equal((await s.registerPhone('sid', 'client-sid-0000abcd', 16)).kind, 'registered');
  assert.equal(await s.unregisterPhone('sid', 'client-sid-0000abcd'), true);
  assert.equal((await s.releaseIntoGrace('sid', 'b1', c.kind === 'claimed' ? c.epoch : 0, 1)).kind, 'grace');
  await new Promise((r) => setTimeout(r, 5));
  assert.ok(Array.isArray(await s.expireGrace('e1')));
  assert.equal((await s.heartbeat()).kind, 'ok');
}
