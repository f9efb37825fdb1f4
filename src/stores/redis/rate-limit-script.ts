// The Lua side of the Redis rate-limit store: one atomic script per check, its arguments and its reply.
// Kept as a string constant (not a .lua file) because the build only emits what tsc compiles.
import type { LimitResult, LimitSpec } from '../rate-limit-store.js';

/**
 * KEYS[i]: the state hash of limit i. ARGV[1]: cost; then three per limit: kind ("b" bucket | "w" window),
 * size (capacity | limit), rate (refill per second | window ms). Reply: four integers per limit — allowed
 * (this limit's own verdict), remaining, retryAfter and reset in microseconds, -1 for "never" (a bucket that
 * does not refill).
 *
 * The arithmetic is the memory store's (src/stores/memory/rate-limit.ts), so both answer alike: a 1e-9 token
 * tolerance, the window test kept in products, retryAfter only for a limit that refuses (until it admits
 * `cost`; `reset` when `cost` exceeds its size), waits rounded up to whole microseconds. All limits are read
 * first; units are taken (and state written) only when every limit admits a positive cost. Time is Redis'
 * own clock (TIME), one timeline for every gateway. Bucket hash {t: tokens, ts: ms}; window hash {w: window
 * index, c: current count, p: previous count}. A hash expires when its absence means the same as its content
 * (bucket full, both windows past); a bucket that never refills keeps its state.
 */
export const RATE_LIMIT_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local EPSILON = 1e-9
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local cost = tonumber(ARGV[1])
local level, prev, window, elapsed, fits = {}, {}, {}, {}, {}
local admit = true
for i = 1, #KEYS do
  local size, rate = tonumber(ARGV[i * 3]), tonumber(ARGV[i * 3 + 1])
  if ARGV[i * 3 - 1] == 'b' then
    local h = redis.call('HMGET', KEYS[i], 't', 'ts')
    local tokens = size
    if h[1] then
      tokens = math.min(size, tonumber(h[1]) + math.max(0, now - tonumber(h[2])) * rate / 1000)
    end
    level[i] = tokens
    fits[i] = tokens + EPSILON >= cost
  else
    local cur = math.floor(now / rate)
    local h = redis.call('HMGET', KEYS[i], 'w', 'c', 'p')
    local w, c, p = tonumber(h[1]), 0, 0
    -- A stored window after ours only comes from a clock that stepped back (failover): keep the counts.
    if w and w >= cur then
      c, p = tonumber(h[2]), tonumber(h[3])
    elseif w == cur - 1 then
      p = tonumber(h[2])
    end
    window[i], elapsed[i], level[i], prev[i] = cur, now - cur * rate, c, p
    fits[i] = p * (rate - elapsed[i]) + (c + cost) * rate <= size * rate
  end
  if not fits[i] then admit = false end
end
local charge = admit and cost > 0
local function micros(ms)
  if ms == math.huge then return -1 end
  local us = math.ceil(ms * 1000 - 1e-3)
  if us > 0 then return us end
  return 0
end
local out = {}
for i = 1, #KEYS do
  local size, rate = tonumber(ARGV[i * 3]), tonumber(ARGV[i * 3 + 1])
  local remaining, retry, reset
  if ARGV[i * 3 - 1] == 'b' then
    local tokens = level[i]
    if charge then tokens = tokens - cost end
    reset = 0
    if tokens + EPSILON < size then reset = (size - tokens) * 1000 / rate end
    retry = 0
    if not fits[i] then
      if cost > size then retry = reset else retry = (cost - tokens) * 1000 / rate end
    end
    remaining = 0
    if tokens > 0 then remaining = math.floor(tokens + EPSILON) end
    if charge then
      redis.call('HSET', KEYS[i], 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
      if reset == math.huge then redis.call('PERSIST', KEYS[i])
      else redis.call('PEXPIRE', KEYS[i], math.max(1, math.ceil(reset))) end
    end
  else
    local c, p, e = level[i], prev[i], elapsed[i]
    if charge then c = c + cost end
    remaining = math.max(0, math.floor((size * rate - p * (rate - e) - c * rate) / rate))
    reset = 0
    if c > 0 then reset = 2 * rate - e elseif p > 0 then reset = rate - e end
    retry = 0
    if not fits[i] then
      if cost > size then retry = reset
      elseif c + cost <= size then retry = rate - (size - c - cost) * rate / p - e
      else retry = 2 * rate - (size - cost) * rate / c - e end
    end
    if charge then
      redis.call('HSET', KEYS[i], 'w', window[i], 'c', c, 'p', p)
      redis.call('PEXPIRE', KEYS[i], math.max(1, math.ceil(2 * rate - e)))
    end
  end
  out[#out + 1] = fits[i] and 1 or 0
  out[#out + 1] = remaining
  out[#out + 1] = micros(retry)
  out[#out + 1] = micros(reset)
end
return out
`;

/**
 * Redis key of each limit's state: `${prefix}{${tag}}:${keys[i]}`, where the tag is keys[0] (braces
 * removed, "_" when empty). Every key of one check carries the same hash tag, so a check's keys share one
 * Cluster slot and the script may touch them all; keys[i] still names the state, so two limits of one
 * check never share a hash. It assumes what the policy does: the keys of one check belong to one subject
 * (one client's "10/s and 1000/h"), so keys[0] is the same whenever keys[i] is.
 */
export function stateKeys(prefix: string, keys: readonly string[]): string[] {
  const first = keys[0] ?? '';
  const stripped = first.includes('{') || first.includes('}') ? first.replace(/[{}]/g, '') : first;
  const head = `${prefix}{${stripped === '' ? '_' : stripped}}:`;
  return keys.map((key) => head + key);
}

/** ARGV of the script for one check (see RATE_LIMIT_LUA). */
export function scriptArgs(specs: readonly LimitSpec[], cost: number): (string | number)[] {
  const args: (string | number)[] = [cost];
  for (const spec of specs) {
    if (spec.kind === 'bucket') args.push('b', spec.capacity, spec.refillPerSecond);
    else args.push('w', spec.limit, spec.windowMs);
  }
  return args;
}

/** Microseconds from the script as milliseconds; -1 ("never": a bucket without refill) is Infinity. */
function millis(micros: unknown): number {
  const n = Number(micros);
  return n < 0 ? Number.POSITIVE_INFINITY : n / 1000;
}

/** Turns the script's reply into results. */
export function parseReply(reply: unknown, specs: readonly LimitSpec[]): LimitResult[] {
  if (!Array.isArray(reply) || reply.length !== specs.length * 4) {
    throw new TypeError(`unexpected rate-limit script reply: ${JSON.stringify(reply)}`);
  }
  return specs.map((spec, i) => ({
    allowed: reply[i * 4] === 1,
    limit: spec.kind === 'bucket' ? spec.capacity : spec.limit,
    remaining: Number(reply[i * 4 + 1]),
    retryAfterMs: millis(reply[i * 4 + 2]),
    resetMs: millis(reply[i * 4 + 3]),
  }));
}
