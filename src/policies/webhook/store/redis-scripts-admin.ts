// The Lua side of the Redis webhook store, part 2: the operations side (get, list rows, replay, delete,
// prune) and the registration of a route. Conventions as in redis-scripts.ts.
import { COMMON_LUA } from './redis-scripts.js';
import { SUMMARY_FIELDS } from './redis-keys.js';

/** An event with its attempt log. ARGV: base, id. Reply {HGETALL, attempt log}, or nil when absent. */
export const GET_LUA = `#!lua flags=no-writes
${COMMON_LUA}
local e = K('e:' .. ARGV[2])
if redis.call('EXISTS', e) == 0 then return false end
return {redis.call('HGETALL', e), redis.call('LRANGE', K('log:' .. ARGV[2]), 0, -1)}
`;

/** Listing rows. ARGV: base, ids…. Reply per id: the SUMMARY_FIELDS values (nil when absent), body length. */
export const SUMMARY_LUA = `#!lua flags=no-writes
${COMMON_LUA}
local out = {}
for i = 2, #ARGV do
  local e = K('e:' .. ARGV[i])
  local row = redis.call('HMGET', e, ${SUMMARY_FIELDS.map((f) => `'${f}'`).join(', ')})
  row[#row + 1] = redis.call('HSTRLEN', e, 'body')
  out[#out + 1] = row
end
return out
`;

/**
 * Replay: a dead or delivered event becomes pending, due now, its attempt budget reset, its log kept. ARGV:
 * base, now, 'id' and an id (reply 1 or 0), or 'state', a state and n (replays the n oldest of that state;
 * reply how many).
 */
export const REPLAY_LUA = `#!lua
${COMMON_LUA}
local now = tonumber(ARGV[2])
local function replay(id)
  local e = K('e:' .. id)
  local h = redis.call('HMGET', e, 'state', 'seq')
  if h[1] ~= 'dead' and h[1] ~= 'delivered' then return 0 end
  redis.call('HSET', e, 'state', 'pending', 'att', 0, 'next', num(now))
  redis.call('HDEL', e, 'lease', 'err', 'fin', 'con')
  redis.call('ZREM', K('fin'), id)
  move(id, h[2], h[1], 'pending')
  queue(id, now)
  return 1
end
if ARGV[3] == 'id' then return replay(ARGV[4]) end
local n = 0
for _, id in ipairs(redis.call('ZRANGE', K('st:' .. ARGV[4]), 0, tonumber(ARGV[5]) - 1)) do
  n = n + replay(id)
end
return n
`;

/** Removes an event and every trace of it but its dedupe key, freeing its order key. */
const REMOVE_LUA = `
local function remove(id, now)
  local e = K('e:' .. id)
  local h = redis.call('HMGET', e, 'state', 'sid', 'ok')
  if not h[1] then return 0 end
  if h[2] then
    redis.call('XACK', Q, G, h[2])
    redis.call('XDEL', Q, h[2])
  end
  redis.call('ZREM', K('st:' .. h[1]), id)
  redis.call('ZREM', K('all'), id)
  redis.call('ZREM', K('retry'), id)
  redis.call('ZREM', K('fin'), id)
  redis.call('DEL', e, K('log:' .. id))
  if h[3] then
    if redis.call('HGET', K('oa'), h[3]) == id then
      free_key(h[3], now)
    else
      redis.call('ZREM', K('ow:' .. h[3]), id)
    end
  end
  return 1
end
`;

/** ARGV: base, id, now. Reply 1, or 0 when absent. */
export const DELETE_LUA = `#!lua flags=allow-oom
${COMMON_LUA}
${REMOVE_LUA}
return remove(ARGV[2], tonumber(ARGV[3]))
`;

/**
 * One batch of prune. ARGV: base, dedupe keys expiring at or before this are forgotten, delivered events
 * finished at or before this are removed, batch size n, consumers idle this long without pending entries are
 * dropped. Reply {dedupe keys forgotten, events removed}: each n at most.
 */
export const PRUNE_LUA = `#!lua flags=allow-oom
${COMMON_LUA}
local n = tonumber(ARGV[4])
local keys = redis.call('ZRANGEBYSCORE', K('dk'), '-inf', ARGV[2], 'LIMIT', 0, n)
for _, key in ipairs(keys) do
  redis.call('ZREM', K('dk'), key)
  local seen = redis.call('GET', K('d:' .. key))
  local sp = seen and string.find(seen, ' ', 1, true)
  if sp and tonumber(string.sub(seen, 1, sp - 1)) <= tonumber(ARGV[2]) then redis.call('DEL', K('d:' .. key)) end
end
${REMOVE_LUA}
local ids = redis.call('ZRANGEBYSCORE', K('fin'), '-inf', ARGV[3], 'LIMIT', 0, n)
for _, id in ipairs(ids) do remove(id, 0) end
if redis.call('EXISTS', Q) == 1 then
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', Q, G)) do
    local name, pending, idle
    for i = 1, #c, 2 do
      if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1]
      elseif c[i] == 'idle' then idle = c[i + 1] end
    end
    if pending == 0 and idle >= tonumber(ARGV[5]) then redis.call('XGROUP', 'DELCONSUMER', Q, G, name) end
  end
end
return {#keys, #ids}
`;

/**
 * KEYS: the known-routes set, the accept counter. ARGV: route, '1' to also draw the next accept sequence
 * number (the cross-route order of events). Reply: that number, or 0.
 */
export const REGISTER_LUA = `#!lua
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '1' then return redis.call('INCR', KEYS[2]) end
return 0
`;
