// Key and channel names of cluster mode, all under `<prefix>:`, and the node
// identity (`<nodeId>:<incarnation>`). Server-ids are arbitrary printable ASCII
// (spaces, `*`, `{`, `:` …) up to 256 bytes, so they are hex-encoded wherever they
// enter a key name: every id maps to exactly one key, no id can spell another
// key's name, and glob patterns, hash tags or separators in an id mean nothing.
import { randomBytes } from 'node:crypto';

/** A node's identity for one life: `<nodeId>:<incarnation>`. Node ids never contain `:`. */
export type NodeRef = string;

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const INCARNATION = /^[0-9a-f]{12}$/;

/** A fresh random incarnation (48 bits), drawn at every start and every rejoin. */
export function newIncarnation(): string {
  return randomBytes(6).toString('hex');
}

export function nodeRef(nodeId: string, incarnation: string): NodeRef {
  if (!NODE_ID.test(nodeId)) throw new RangeError('node id must be 1-64 of [A-Za-z0-9._-]');
  if (!INCARNATION.test(incarnation)) throw new RangeError('incarnation must be 12 lowercase hex');
  return `${nodeId}:${incarnation}`;
}

/** Splits a node ref; undefined when it is not one (e.g. read back from a foreign key). */
export function parseNodeRef(ref: string): { nodeId: string; incarnation: string } | undefined {
  const colon = ref.indexOf(':');
  if (colon === -1) return undefined;
  const nodeId = ref.slice(0, colon);
  const incarnation = ref.slice(colon + 1);
  if (!NODE_ID.test(nodeId) || !INCARNATION.test(incarnation)) return undefined;
  return { nodeId, incarnation };
}

/** Hex of the id's UTF-8 bytes: injective, and only `[0-9a-f]` ever reaches a key. */
export function encodeServerId(serverId: string): string {
  return Buffer.from(serverId, 'utf8').toString('hex');
}

export function decodeServerId(encoded: string): string {
  return Buffer.from(encoded, 'hex').toString('utf8');
}

export interface ClusterKeys {
  readonly prefix: string;
  /** HASH: the generation (`i` id, `t` created at, `s` settle-until, Redis ms). */
  readonly gen: string;
  /** ZSET: node ref → last heartbeat (Redis ms). */
  readonly nodes: string;
  /** Counter for slot fencing epochs, reseeded at each new generation. */
  readonly epoch: string;
  /** ZSET: encoded server-id → grace deadline (Redis ms). */
  readonly grace: string;
  /** Everything before the encoded server-id in slot and phone keys (scripts build keys from it). */
  readonly slotPrefix: string;
  readonly phonesPrefix: string;
  readonly nodeSlotsPrefix: string;
  readonly nodePhonesPrefix: string;
  /** HASH of one server-id's slot: owner node ref, claim id, epoch, grace deadline. */
  slot(serverId: string): string;
  /** HASH of one server-id's phones: conn_id → node ref. */
  phones(serverId: string): string;
  /** SET of the encoded server-ids whose slot a node holds. */
  nodeSlots(ref: NodeRef): string;
  /** SET of the conn_ids of the phones a node holds. */
  nodePhones(ref: NodeRef): string;
  /** The pub/sub channel of one node incarnation. */
  busChannel(ref: NodeRef): string;
}

const PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;

export function clusterKeys(prefix: string): ClusterKeys {
  if (!PREFIX.test(prefix)) throw new RangeError('cluster prefix must be 1-64 of [A-Za-z0-9._:-]');
  const p = `${prefix}:`;
  const slotPrefix = `${p}s:`;
  const phonesPrefix = `${p}p:`;
  const nodeSlotsPrefix = `${p}ns:`;
  const nodePhonesPrefix = `${p}np:`;
  const busPrefix = `${p}bus:`;
  return {
    prefix,
    gen: `${p}gen`,
    nodes: `${p}nodes`,
    epoch: `${p}epoch`,
    grace: `${p}grace`,
    slotPrefix,
    phonesPrefix,
    nodeSlotsPrefix,
    nodePhonesPrefix,
    slot: (serverId) => slotPrefix + encodeServerId(serverId),
    phones: (serverId) => phonesPrefix + encodeServerId(serverId),
    nodeSlots: (ref) => nodeSlotsPrefix + ref,
    nodePhones: (ref) => nodePhonesPrefix + ref,
    busChannel: (ref) => busPrefix + ref,
  };
}
