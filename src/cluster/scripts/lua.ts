// The registry's Lua scripts, embedded as strings so a built dist needs no data
// files. Each script is one atomic check-and-set. Conventions shared by all:
//   ARGV[1] = '<prefix>:'  ARGV[2] = the caller's generation  ARGV[3] = caller's node ref
//   keys are built from the prefix (standalone Redis or a Sentinel primary only;
//   Redis Cluster is out of scope), time is Redis TIME, every reply is a flat
//   array of strings whose first element names the outcome.
// Idempotency under retry: claims recognise their own (node ref, claim id);
// expire/reap replay the stored result of the same request id.

const PRELUDE = `
local P = ARGV[1]
local MYGEN = ARGV[2]
local ME = ARGV[3]
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local GEN = P .. 'gen'
local NODES = P .. 'nodes'
local function gen_now() return redis.call('HGET', GEN, 'i') end
local function settling() return NOW < tonumber(redis.call('HGET', GEN, 's') or '0') end
local function self_live(ttl)
  local s = redis.call('ZSCORE', NODES, ME)
  return s and tonumber(s) >= NOW - ttl
end
-- Integers as exact decimal strings (tostring would print 1.8e+15 for large epochs).
local function n(x) return string.format('%.0f', x) end
local function present(ref) return redis.call('ZSCORE', NODES, ref) ~= false end
local function hex(s) return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end)) end
local function split(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, '\\n', start, true)
    if not i then out[#out + 1] = string.sub(s, start); return out end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end
-- settle: how long claims of unknown slots are refused (503) so that nodes holding
-- state from before can re-assert it first.
local function create_gen(cand, settle)
  redis.call('HSET', GEN, 'i', cand, 't', n(NOW), 's', n(NOW + settle))
  -- Epochs of a new generation start above any epoch minted before (ms * 1024),
  -- so even a stale message that slipped past the generation check loses.
  redis.call('SET', P .. 'epoch', n(NOW * 1024))
  return cand
end
-- Result replay for expire/reap: one field per operation in the node's own hash.
local function replay(op, req)
  local prev = redis.call('HGET', P .. 'lr:' .. ME, op)
  if prev and string.sub(prev, 1, #req + 1) == req .. '\\n' then return split(string.sub(prev, #req + 2)) end
  return nil
end
local function remember(op, req, res, ttl)
  local key = P .. 'lr:' .. ME
  redis.call('HSET', key, op, req .. '\\n' .. table.concat(res, '\\n'))
  redis.call('PEXPIRE', key, 2 * ttl)
end
`;

/** Installs ME as the slot's holder, evicting every phone; shared by claim and resolve. */
const INSTALL = `
local function install(SK, SID, CID, kind, o, b, e)
  local PK = P .. 'p:' .. SID
  local ep = redis.call('INCR', P .. 'epoch')
  local res = {kind, n(ep), o, b, e}
  local ph = redis.call('HGETALL', PK)
  for i = 1, #ph, 2 do
    redis.call('SREM', P .. 'np:' .. ph[i + 1], ph[i])
    res[#res + 1] = ph[i]
    res[#res + 1] = ph[i + 1]
  end
  redis.call('DEL', PK)
  redis.call('ZREM', P .. 'grace', SID)
  redis.call('SREM', P .. 'ns:' .. o, SID)
  redis.call('HDEL', SK, 'g')
  redis.call('HSET', SK, 'o', ME, 'b', CID, 'e', n(ep), 'x', table.concat(res, '\\n'))
  redis.call('SADD', P .. 'ns:' .. ME, SID)
  return res
end
local function fresh(SK, SID, CID)
  if settling() then return {'settling'} end
  local ep = redis.call('INCR', P .. 'epoch')
  redis.call('HSET', SK, 'o', ME, 'b', CID, 'e', n(ep))
  redis.call('SADD', P .. 'ns:' .. ME, SID)
  return {'claimed', n(ep)}
end
local function mine(x, e)
  if x then return split(x) end
  return {'claimed', e}
end
`;

/**
 * The checks CLAIM and RESOLVE share, spliced into both scripts' text (each still runs as
 * one atomic script): generation and liveness, then a free, own, reaped or absent-owner
 * slot is settled on the spot. Needs TTL, SID and CID declared before it.
 */
const CLAIM_CHECKS = `local G = gen_now()
if G ~= MYGEN then return {'gen', G or ''} end
if not self_live(TTL) then return {'fenced'} end
local SK = P .. 's:' .. SID
local f = redis.call('HMGET', SK, 'o', 'b', 'e', 'g', 'x')
local o, b, e, g, x = f[1], f[2], f[3], f[4], f[5]
if not o then return fresh(SK, SID, CID) end
if o == ME and b == CID then return mine(x, e) end
if g or not present(o) then return install(SK, SID, CID, 'reclaimed', o, b, e) end`;

/** ARGV[4..] = ttl, encoded server-id, claim id. */
export const CLAIM = `${PRELUDE}${INSTALL}
local TTL, SID, CID = tonumber(ARGV[4]), ARGV[5], ARGV[6]
${CLAIM_CHECKS}
return {'conflict', e, o, b}
`;

/** ARGV[4..] = ttl, encoded server-id, claim id, incumbent epoch, '1' if the incumbent answered. */
export const RESOLVE = `${PRELUDE}${INSTALL}
local TTL, SID, CID, IE, ALIVE = tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], ARGV[8]
${CLAIM_CHECKS}
if e ~= IE or ALIVE == '1' then return {'rejected'} end
return install(SK, SID, CID, 'takeover', o, b, e)
`;

/** ARGV[4..] = ttl, encoded server-id, conn_id, cap. */
export const REGISTER_PHONE = `${PRELUDE}
local TTL, SID, CONN, CAP = tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
local G = gen_now()
if G ~= MYGEN then return {'gen', G or ''} end
if not self_live(TTL) then return {'fenced'} end
local SK = P .. 's:' .. SID
local f = redis.call('HMGET', SK, 'o', 'e', 'g')
local o, e, g = f[1], f[2], f[3]
if not o then
  if settling() then return {'settling'} end
  return {'no_server'}
end
local PK = P .. 'p:' .. SID
local cur = redis.call('HGET', PK, CONN)
if cur == ME then return {'registered', o, e, g and '1' or '0'} end
if cur then return {'duplicate'} end
if redis.call('HLEN', PK) >= CAP then return {'at_cap'} end
redis.call('HSET', PK, CONN, ME)
redis.call('SADD', P .. 'np:' .. ME, CONN)
redis.call('HDEL', SK, 'x')
return {'registered', o, e, g and '1' or '0'}
`;

/** ARGV[4..] = encoded server-id, conn_id. Any generation: removing one's own entry is always right. */
export const UNREGISTER_PHONE = `${PRELUDE}
local SID, CONN = ARGV[4], ARGV[5]
local PK = P .. 'p:' .. SID
redis.call('SREM', P .. 'np:' .. ME, CONN)
if redis.call('HGET', PK, CONN) == ME then
  redis.call('HDEL', PK, CONN)
  return {'removed'}
end
return {'absent'}
`;

/**
 * ARGV[4..] = encoded server-id, claim id, epoch, grace ms. Only the claim that
 * holds the slot arms grace; its epoch is compared whenever it belongs to the
 * current generation (after a generation change the claim identity suffices).
 */
export const RELEASE = `${PRELUDE}
local SID, CID, EP, GRACE = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local SK = P .. 's:' .. SID
local f = redis.call('HMGET', SK, 'o', 'b', 'e', 'g')
local o, b, e, g = f[1], f[2], f[3], f[4]
if o ~= ME or b ~= CID then return {'not_holder'} end
if gen_now() == MYGEN and e ~= EP then return {'not_holder'} end
if g then return {'grace', g, e} end
local dl = NOW + GRACE
redis.call('HSET', SK, 'g', n(dl))
redis.call('HDEL', SK, 'x')
redis.call('ZADD', P .. 'grace', n(dl), SID)
redis.call('SREM', P .. 'ns:' .. ME, SID)
return {'grace', n(dl), e}
`;

/**
 * ARGV[4..] = request id, limit, ttl. Pops due grace entries; exactly one caller
 * gets each. Reply: 'expired', then per slot: server-id, epoch, n, n × (conn_id, node).
 */
export const EXPIRE_GRACE = `${PRELUDE}
local REQ, LIMIT, TTL = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local G = gen_now()
if G ~= MYGEN then return {'gen', G or ''} end
local prev = replay('exp', REQ)
if prev then return prev end
local res = {'expired'}
local due = redis.call('ZRANGEBYSCORE', P .. 'grace', '-inf', n(NOW), 'LIMIT', 0, LIMIT)
for _, sid in ipairs(due) do
  redis.call('ZREM', P .. 'grace', sid)
  local SK = P .. 's:' .. sid
  local f = redis.call('HMGET', SK, 'e', 'g')
  if f[2] and tonumber(f[2]) <= NOW then
    local PK = P .. 'p:' .. sid
    local ph = redis.call('HGETALL', PK)
    res[#res + 1] = sid
    res[#res + 1] = f[1]
    res[#res + 1] = n(#ph / 2)
    for i = 1, #ph, 2 do
      redis.call('SREM', P .. 'np:' .. ph[i + 1], ph[i])
      res[#res + 1] = ph[i]
      res[#res + 1] = ph[i + 1]
    end
    redis.call('DEL', PK, SK)
  end
end
if #res > 1 then remember('exp', REQ, res, TTL) end
return res
`;

/**
 * ARGV[4..] = ttl, candidate generation. Renews ME. Reply: 'ok' now live |
 * 'gen' gen now settle (Redis was emptied: ME is re-added, re-assert) | 'reaped'.
 */
export const HEARTBEAT = `${PRELUDE}
local TTL, CAND = tonumber(ARGV[4]), ARGV[5]
local G = gen_now()
if not G then G = create_gen(CAND, TTL) end
if G ~= MYGEN then
  redis.call('ZADD', NODES, n(NOW), ME)
  return {'gen', G, n(NOW), redis.call('HGET', GEN, 's')}
end
if not self_live(TTL) then return {'reaped'} end
redis.call('ZADD', NODES, n(NOW), ME)
return {'ok', n(NOW), n(redis.call('ZCOUNT', NODES, n(NOW - TTL), '+inf'))}
`;

/**
 * ARGV[4..] = ttl, candidate generation. Reply: 'joined' gen now settle live. A
 * joining node holds nothing, so a generation it creates has no settle window
 * (a fresh cluster takes claims at once); nodes that held state before a Redis
 * restart create it through their heartbeat, with a window of one TTL.
 */
export const JOIN = `${PRELUDE}
local TTL, CAND = tonumber(ARGV[4]), ARGV[5]
local G = gen_now()
if not G then G = create_gen(CAND, 0) end
redis.call('ZADD', NODES, n(NOW), ME)
return {'joined', G, n(NOW), redis.call('HGET', GEN, 's'),
  n(redis.call('ZCOUNT', NODES, n(NOW - TTL), '+inf'))}
`;

/**
 * ARGV[4..] = request id, ttl, margin, grace ms, limit, forced ref ('' = every
 * node whose heartbeat is older than ttl + margin). Removes each node: its live
 * slots enter grace, its phones are removed. Reply:
 *   'reaped', n, n × ref,
 *   m, m × (server-id, epoch, deadline, k, k × (conn_id, node))   slots now in grace
 *   q, q × (conn_id, server-id, binary node, epoch)                phones removed
 */
export const REAP = `${PRELUDE}
local REQ, TTL, MARGIN, GRACE, LIMIT, FORCE =
  ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local G = gen_now()
if G ~= MYGEN then return {'gen', G or ''} end
local prev = replay('reap', REQ)
if prev then return prev end
local refs
if FORCE ~= '' then refs = {FORCE}
else refs = redis.call('ZRANGEBYSCORE', NODES, '-inf', '(' .. n(NOW - TTL - MARGIN), 'LIMIT', 0, LIMIT) end
local gone, slots, phones = {}, {}, {}
local nslots, nphones = 0, 0
for _, ref in ipairs(refs) do
  if ref ~= ME or FORCE ~= '' then
    gone[#gone + 1] = ref
    redis.call('ZREM', NODES, ref)
    local NS = P .. 'ns:' .. ref
    for _, sid in ipairs(redis.call('SMEMBERS', NS)) do
      local SK = P .. 's:' .. sid
      local f = redis.call('HMGET', SK, 'o', 'e', 'g')
      if f[1] == ref and not f[3] then
        local dl = NOW + GRACE
        redis.call('HSET', SK, 'g', n(dl))
        redis.call('HDEL', SK, 'x')
        redis.call('ZADD', P .. 'grace', n(dl), sid)
        local ph = redis.call('HGETALL', P .. 'p:' .. sid)
        nslots = nslots + 1
        slots[#slots + 1] = sid
        slots[#slots + 1] = f[2]
        slots[#slots + 1] = n(dl)
        slots[#slots + 1] = n(#ph / 2)
        for i = 1, #ph do slots[#slots + 1] = ph[i] end
      end
    end
    redis.call('DEL', NS)
    local NP = P .. 'np:' .. ref
    for _, conn in ipairs(redis.call('SMEMBERS', NP)) do
      -- conn_id = 'client-' .. server-id .. '-' .. 8 hex
      local sid = hex(string.sub(conn, 8, -10))
      local PK = P .. 'p:' .. sid
      if redis.call('HGET', PK, conn) == ref then
        redis.call('HDEL', PK, conn)
        local f = redis.call('HMGET', P .. 's:' .. sid, 'o', 'e')
        nphones = nphones + 1
        phones[#phones + 1] = conn
        phones[#phones + 1] = sid
        phones[#phones + 1] = f[1] or ''
        phones[#phones + 1] = f[2] or ''
      end
    end
    redis.call('DEL', NP, P .. 'lr:' .. ref)
  end
end
local res = {'reaped', n(#gone)}
for _, r in ipairs(gone) do res[#res + 1] = r end
res[#res + 1] = n(nslots)
for _, v in ipairs(slots) do res[#res + 1] = v end
res[#res + 1] = n(nphones)
for _, v in ipairs(phones) do res[#res + 1] = v end
if #gone > 0 and FORCE ~= ME then remember('reap', REQ, res, TTL) end
return res
`;

/**
 * ARGV[4..] = ttl, n, then n × (server-id, claim id, grace ms left or '', k, k × conn_id).
 * After a generation change: re-installs ME's live slots and their local phones
 * with fresh epochs. Reply: 'reasserted', then per slot: server-id, 'ok' epoch | 'lost' ''.
 */
export const REASSERT = `${PRELUDE}
local TTL, N = tonumber(ARGV[4]), tonumber(ARGV[5])
local G = gen_now()
if G ~= MYGEN then return {'gen', G or ''} end
redis.call('ZADD', NODES, n(NOW), ME)
local res = {'reasserted'}
local i = 6
for _ = 1, N do
  local SID, CID, GL, K = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local SK = P .. 's:' .. SID
  local f = redis.call('HMGET', SK, 'o', 'b', 'e')
  res[#res + 1] = SID
  if f[1] then
    if f[1] == ME and f[2] == CID then
      res[#res + 1] = 'ok'
      res[#res + 1] = f[3]
    else
      res[#res + 1] = 'lost'
      res[#res + 1] = ''
    end
  else
    local ep = redis.call('INCR', P .. 'epoch')
    redis.call('HSET', SK, 'o', ME, 'b', CID, 'e', n(ep))
    if GL ~= '' then
      local dl = NOW + tonumber(GL)
      redis.call('HSET', SK, 'g', n(dl))
      redis.call('ZADD', P .. 'grace', n(dl), SID)
    else
      redis.call('SADD', P .. 'ns:' .. ME, SID)
    end
    local PK = P .. 'p:' .. SID
    for j = 1, K do
      local conn = ARGV[i + 3 + j]
      redis.call('HSET', PK, conn, ME)
      redis.call('SADD', P .. 'np:' .. ME, conn)
    end
    res[#res + 1] = 'ok'
    res[#res + 1] = n(ep)
  end
  i = i + 4 + K
end
return res
`;
