// The Lua side of the Redis webhook store, part 1: what every script shares, and the scripts of the delivery
// path (accept, claim, finish). Each runs atomically on the Redis that owns the route's slot: KEYS[1] is the
// route's stream (it routes the call in a Cluster), ARGV[1] the prefix of the route's keys, every other key
// of the route is derived from it (same hash tag, same slot; see redis-keys.ts for the layout).
//
// Invariants the scripts keep:
// - an event's id is in exactly one state set (st:<state>) and in `all`;
// - a pending event is in exactly one of: the stream as an unread entry (hash field sid), the retry set, or
//   its order key's waiting set; a delivering event's entry (sid) is in the group's PEL, and its hash says
//   which consumer holds it (con) until when (lease, on the callers' clock) under which claim number (claim);
// - an order key's head (oa) is its only event that may be in the stream, the retry set or in flight: the
//   oldest pending one, unless one is in flight. Delivered, dead or deleted, the head gives way to the
//   oldest waiting event; a replayed older event takes the place of a newer pending head.
//
// Shebang flags (Redis >= 7.0): the delivery-side scripts may run when Redis is out of memory (claims,
// reports, deletes and prune go on and free memory while accept answers 503); the read-only ones are no-writes.
import { GROUP } from './redis-keys.js';

/** Helpers every script starts with. */
export const COMMON_LUA = `
local Q, base, G = KEYS[1], ARGV[1], '${GROUP}'
local function K(s) return base .. s end
local function num(n) return string.format('%.17g', n) end
local function ensure_group()
  if redis.call('EXISTS', Q) == 0 then redis.call('XGROUP', 'CREATE', Q, G, '0', 'MKSTREAM') end
end
local function move(id, seq, from, to)
  redis.call('ZREM', K('st:' .. from), id)
  redis.call('ZADD', K('st:' .. to), seq, id)
end
-- A pending event joins the delivery queue: the stream when due, else the retry set.
local function release(id, now)
  local e = K('e:' .. id)
  local h = redis.call('HMGET', e, 'next', 'seq')
  if tonumber(h[1]) <= now then
    ensure_group()
    redis.call('HSET', e, 'sid', redis.call('XADD', Q, '*', 'id', id, 'seq', h[2]))
  else
    redis.call('ZADD', K('retry'), h[1], id)
  end
end
-- The head of order key ok is gone (delivered, dead, deleted): the oldest waiting event becomes the head.
local function free_key(ok, now)
  local w = K('ow:' .. ok)
  local nxt = redis.call('ZRANGE', w, 0, 0)[1]
  if nxt then
    redis.call('ZREM', w, nxt)
    redis.call('HSET', K('oa'), ok, nxt)
    release(nxt, now)
  else
    redis.call('HDEL', K('oa'), ok)
  end
end
-- A pending head (just failed, or its lease expired) gives way when an older event of its key waits (a
-- replay); true when it did (it waits now, out of the queue).
local function step_back(id, ok, seq, now)
  local w = K('ow:' .. ok)
  local first = redis.call('ZRANGE', w, 0, 0, 'WITHSCORES')
  if not first[1] or tonumber(first[2]) >= tonumber(seq) then return false end
  redis.call('ZREM', w, first[1])
  redis.call('ZADD', w, seq, id)
  redis.call('HSET', K('oa'), ok, first[1])
  release(first[1], now)
  return true
end
-- A pending event (new or replayed) joins the queue, or its key's waiting set when its key has a head that
-- is in flight or older; a newer pending head steps back for it.
local function queue(id, now)
  local h = redis.call('HMGET', K('e:' .. id), 'ok', 'seq')
  local ok, seq = h[1], tonumber(h[2])
  if not ok then return release(id, now) end
  local cur = redis.call('HGET', K('oa'), ok)
  if cur then
    local ce = K('e:' .. cur)
    local c = redis.call('HMGET', ce, 'state', 'seq', 'sid')
    if c[1] ~= 'pending' or tonumber(c[2]) < seq then
      redis.call('ZADD', K('ow:' .. ok), seq, id)
      return
    end
    if c[3] then
      redis.call('XDEL', Q, c[3])
      redis.call('HDEL', ce, 'sid')
    end
    redis.call('ZREM', K('retry'), cur)
    redis.call('ZADD', K('ow:' .. ok), c[2], cur)
  end
  redis.call('HSET', K('oa'), ok, id)
  release(id, now)
end
`;

/**
 * ARGV: base, now, the dedupe key's retention (the event's, else the store's), id, seq, route, method, path,
 * prefixLength, headers JSON, body, has dedupe key ('1'/'0'), dedupe key, has order key, order key. Reply
 * {1, id} when stored, {0, first id} for a duplicate: the key's value holds its expiry on the callers' clock
 * (now + retention) and the first event's id; it is a duplicate while now < that expiry. The key's PX (the
 * retention on Redis' clock) only reclaims memory.
 */
export const ACCEPT_LUA = `#!lua
${COMMON_LUA}
local now, retention, id, seq = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local e = K('e:' .. id)
if ARGV[12] == '1' then
  local dk = K('d:' .. ARGV[13])
  local seen = redis.call('GET', dk)
  if seen then
    local sp = string.find(seen, ' ', 1, true)
    if sp and now < tonumber(string.sub(seen, 1, sp - 1)) then return {0, string.sub(seen, sp + 1)} end
  end
  local expires = num(now + retention)
  redis.call('SET', dk, expires .. ' ' .. id, 'PX', math.max(1, math.ceil(retention)))
  redis.call('ZADD', K('dk'), expires, ARGV[13])
  redis.call('HSET', e, 'dk', ARGV[13])
end
if ARGV[14] == '1' then redis.call('HSET', e, 'ok', ARGV[15]) end
redis.call('HSET', e, 'id', id, 'route', ARGV[6], 'seq', seq, 'method', ARGV[7], 'path', ARGV[8],
  'pl', ARGV[9], 'headers', ARGV[10], 'body', ARGV[11], 'recv', num(now), 'att', 0, 'next', num(now),
  'state', 'pending', 'claim', 0)
redis.call('ZADD', K('all'), seq, id)
redis.call('ZADD', K('st:pending'), seq, id)
queue(id, now)
return {1, id}
`;

/**
 * How a lease expiry is found with XAUTOCLAIM although leases run on the callers' clock (\`now\`, which tests
 * inject) and a PEL entry's idle time on Redis' own: each claim sets its entry's delivery time (XCLAIM … TIME)
 * to leaseUntil − ANCHOR, ANCHOR being the store's leaseMs, and XAUTOCLAIM runs with min-idle = ANCHOR + (Redis
 * time − now). An entry is then idle enough exactly when leaseUntil <= now. With a gateway clock that agrees
 * with Redis' this is the plain "min-idle = the lease", and XPENDING shows real idle times. Redis clamps a
 * delivery time in its future (a gateway clock ahead of Redis', or a claim with a longer leaseMs) to its
 * present, which makes such an entry look expired early: the event's hash has the last word (lease <= now),
 * and an entry taken over too early goes back to its holder unchanged. A delivery time that would be negative
 * (a caller clock within leaseMs of the epoch, in tests) is 0, and min-idle is capped at Redis' time so that
 * such an entry is always looked at: an expired lease is never found late.
 */
const TAKEOVER_LUA = `
local function dtime(lease_until) return string.format('%d', math.max(0, math.floor(lease_until - anchor))) end
local function min_idle()
  local t = redis.call('TIME')
  local rnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return math.max(0, math.min(rnow, math.floor(anchor + rnow - now)))
end
`;

/**
 * ARGV: base, now, limit, leaseMs, anchor, consumer, maxInFlight or '', ratePerS or '', the lost attempt's
 * error, its attempt-log JSON. Reply: the claimed events, each {HGETALL, attempt log}. In order: take over
 * the entries whose lease expired (counting the lost attempt: the event is pending again); count the leases
 * still held (the group's PEL); compute the budget (limit, maxInFlight − held, the token bucket; 0 when
 * paused); lease the taken-over events first, then due retries join the stream and XREADGROUP reads new
 * entries up to the budget.
 */
export const CLAIM_LUA = `#!lua flags=allow-oom
${COMMON_LUA}
local now, limit, lease_ms, anchor = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local consumer, max_in_flight, rate = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
${TAKEOVER_LUA}
ensure_group()
local retake, cursor, idle = {}, '0-0', min_idle()
for _ = 1, 100 do
  local r = redis.call('XAUTOCLAIM', Q, G, consumer, idle, cursor, 'COUNT', 100)
  for _, entry in ipairs(r[2]) do
    local sid, f = entry[1], entry[2]
    local h = {}
    if f and f[2] then h = redis.call('HMGET', K('e:' .. f[2]), 'state', 'sid', 'lease', 'con', 'seq', 'ok') end
    if h[1] ~= 'delivering' or h[2] ~= sid then
      redis.call('XACK', Q, G, sid)
      redis.call('XDEL', Q, sid)
    elseif tonumber(h[3]) > now then
      redis.call('XCLAIM', Q, G, h[4] or consumer, 0, sid, 'TIME', dtime(tonumber(h[3])), 'JUSTID')
    else
      local id, e = f[2], K('e:' .. f[2])
      redis.call('HINCRBY', e, 'att', 1)
      redis.call('HSET', e, 'state', 'pending', 'next', num(now), 'err', ARGV[9])
      redis.call('HDEL', e, 'lease', 'con')
      redis.call('RPUSH', K('log:' .. id), ARGV[10])
      move(id, h[5], 'delivering', 'pending')
      if h[6] and step_back(id, h[6], h[5], now) then
        redis.call('XACK', Q, G, sid)
        redis.call('XDEL', Q, sid)
        redis.call('HDEL', e, 'sid')
      else
        retake[#retake + 1] = {id, sid, tonumber(h[5])}
      end
    end
  end
  cursor = r[1]
  if cursor == '0-0' then break end
end
table.sort(retake, function(a, b) return a[3] < b[3] end)
local budget = math.max(0, math.floor(limit))
if redis.call('EXISTS', K('paused')) == 1 then budget = 0 end
if max_in_flight then
  local held = redis.call('XPENDING', Q, G)[1] - #retake
  budget = math.min(budget, math.max(0, max_in_flight - held))
end
local tokens, bucket_at
if rate then
  local cap = math.max(1, rate)
  local b = redis.call('HMGET', K('tb'), 't', 'ts')
  tokens, bucket_at = cap, now
  if b[1] then
    local ts = tonumber(b[2])
    tokens = math.min(cap, tonumber(b[1]) + math.max(0, now - ts) * rate / 1000)
    bucket_at = math.max(now, ts)
  end
  budget = math.min(budget, math.floor(tokens + 1e-9))
end
local claimed = {}
local function lease(id, sid)
  local e, lu = K('e:' .. id), now + lease_ms
  redis.call('HINCRBY', e, 'claim', 1)
  redis.call('HSET', e, 'state', 'delivering', 'lease', num(lu), 'con', consumer, 'sid', sid)
  move(id, redis.call('HGET', e, 'seq'), 'pending', 'delivering')
  redis.call('XCLAIM', Q, G, consumer, 0, sid, 'TIME', dtime(lu), 'JUSTID')
  claimed[#claimed + 1] = id
end
for _, x in ipairs(retake) do
  if #claimed < budget then
    lease(x[1], x[2])
  else
    redis.call('XACK', Q, G, x[2])
    redis.call('XDEL', Q, x[2])
    redis.call('HDEL', K('e:' .. x[1]), 'sid')
    redis.call('ZADD', K('retry'), num(now), x[1])
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K('retry'), '-inf', num(now), 'LIMIT', 0, 1000)) do
  redis.call('ZREM', K('retry'), id)
  release(id, now)
end
while #claimed < budget do
  local r = redis.call('XREADGROUP', 'GROUP', G, consumer, 'COUNT', budget - #claimed, 'STREAMS', Q, '>')
  if not r or not r[1] or #r[1][2] == 0 then break end
  for _, entry in ipairs(r[1][2]) do
    local sid, f = entry[1], entry[2]
    local h = {}
    if f and f[2] then h = redis.call('HMGET', K('e:' .. f[2]), 'state', 'sid') end
    if h[1] == 'pending' and h[2] == sid then
      lease(f[2], sid)
    else
      redis.call('XACK', Q, G, sid)
      redis.call('XDEL', Q, sid)
    end
  end
end
if rate then redis.call('HSET', K('tb'), 't', num(tokens - #claimed), 'ts', num(bucket_at)) end
local out = {}
for i, id in ipairs(claimed) do
  out[i] = {redis.call('HGETALL', K('e:' .. id)), redis.call('LRANGE', K('log:' .. id), 0, -1)}
end
return out
`;

/**
 * Read-only look at what a claim of the route would take, for a claim across routes (which must take the
 * oldest events of all routes). ARGV: base, now, n, anchor. Reply: {paused 0/1, expired leases, then the
 * sequence numbers of the first n candidates in the order a claim takes them}: expired leases (oldest
 * first), unread stream entries, due retries.
 */
export const PEEK_LUA = `#!lua flags=no-writes
${COMMON_LUA}
local now, n, anchor = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
${TAKEOVER_LUA}
local out = {redis.call('EXISTS', K('paused')), 0}
if redis.call('EXISTS', Q) == 0 then return out end
local seqs = {}
for _, p in ipairs(redis.call('XPENDING', Q, G, 'IDLE', min_idle(), '-', '+', 1000)) do
  local entry = redis.call('XRANGE', Q, p[1], p[1])[1]
  if entry and entry[2] then
    local h = redis.call('HMGET', K('e:' .. entry[2][2]), 'state', 'sid', 'lease', 'seq')
    if h[1] == 'delivering' and h[2] == p[1] and tonumber(h[3]) <= now then
      out[2] = out[2] + 1
      seqs[#seqs + 1] = tonumber(h[4])
    end
  end
end
table.sort(seqs)
local last = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', Q)) do
  local name, ld
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then ld = g[i + 1] end
  end
  if name == G then last = ld end
end
for _, entry in ipairs(redis.call('XRANGE', Q, '(' .. last, '+', 'COUNT', n)) do
  seqs[#seqs + 1] = tonumber(entry[2][4])
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K('retry'), '-inf', num(now), 'LIMIT', 0, n)) do
  seqs[#seqs + 1] = tonumber(redis.call('HGET', K('e:' .. id), 'seq'))
end
for i = 1, math.min(#seqs, n) do out[#out + 1] = seqs[i] end
return out
`;

/**
 * A worker's report. ARGV: base, id, claim, new state (delivered | dead | pending), nextAttemptAt (pending),
 * has error '1'/'0', error, now, attempt-log JSON. Reply 1, or 0 when that claim is no longer held (the
 * event is not delivering, or a later claim took it over): then nothing changes.
 */
export const FINISH_LUA = `#!lua flags=allow-oom
${COMMON_LUA}
local id, to, now = ARGV[2], ARGV[4], tonumber(ARGV[8])
local e = K('e:' .. id)
local h = redis.call('HMGET', e, 'state', 'claim', 'sid', 'seq', 'ok')
if h[1] ~= 'delivering' or h[2] ~= ARGV[3] then return 0 end
if h[3] then
  redis.call('XACK', Q, G, h[3])
  redis.call('XDEL', Q, h[3])
end
redis.call('HDEL', e, 'sid', 'lease', 'con')
redis.call('HINCRBY', e, 'att', 1)
redis.call('RPUSH', K('log:' .. id), ARGV[9])
if ARGV[6] == '1' then redis.call('HSET', e, 'err', ARGV[7]) else redis.call('HDEL', e, 'err') end
redis.call('HSET', e, 'state', to)
move(id, h[4], 'delivering', to)
if to == 'pending' then
  redis.call('HSET', e, 'next', ARGV[5])
  if not (h[5] and step_back(id, h[5], h[4], now)) then redis.call('ZADD', K('retry'), ARGV[5], id) end
else
  redis.call('HSET', e, 'fin', num(now))
  if to == 'delivered' then redis.call('ZADD', K('fin'), num(now), id) end
  if h[5] and redis.call('HGET', K('oa'), h[5]) == id then free_key(h[5], now) end
end
return 1
`;
