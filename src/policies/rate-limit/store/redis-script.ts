// The Lua side of the Redis rate-limit store: one atomic script per check, its arguments and its reply.
// Kept as a string constant (not a .lua file) because the build only emits what tsc compiles.
import type { LimitResult, LimitSpec } from './store.js';

/**
 * `calendar_period(ms, "d" | "m")` → index, start, end: the UTC day or month holding epoch milliseconds `ms`,
 * as calendar.ts computes it (index: days since the epoch, or months since January 1970). Months use the
 * proleptic Gregorian day-count conversions (days ↔ year, month, day), in integers.
 */
export const CALENDAR_LUA = `
local DAY_MS = 86400000
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m + 9
  if m > 2 then mp = m - 3 end
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return y, m
end
local function calendar_period(ms, unit)
  local day = math.floor(ms / DAY_MS)
  if unit == 'd' then return day, day * DAY_MS, (day + 1) * DAY_MS end
  local y, m = civil_from_days(day)
  local ny, nm = y, m + 1
  if nm > 12 then ny, nm = y + 1, 1 end
  return (y - 1970) * 12 + m - 1, days_from_civil(y, m, 1) * DAY_MS, days_from_civil(ny, nm, 1) * DAY_MS
end
`;

/**
 * KEYS[i]: the state hash of limit i. ARGV[1]: cost; then three per limit: kind ("b" bucket | "w" window |
 * "q" quota), size (capacity | limit | limit), rate (refill per second | window ms | "d" day or "m" month);
 * then, only from a store given a test clock, the time to count with (epoch ms) instead of Redis' TIME.
 * Reply: four integers per limit — allowed
 * (this limit's own verdict), remaining, retryAfter and reset in microseconds, -1 for "never" (a bucket that
 * does not refill).
 *
 * The arithmetic is the memory store's (src/stores/memory/rate-limit.ts), so both answer alike: a 1e-9 token
 * tolerance, the window test kept in products, retryAfter only for a limit that refuses (until it admits
 * `cost`; `reset` when `cost` exceeds its size), waits rounded up to whole microseconds. All limits are read
 * first; units are taken (and state written) only when every limit admits a positive cost. Time is Redis'
 * own clock (TIME), one timeline for every gateway. Bucket hash {t: tokens, ts: ms}; window hash {w: window
 * index, c: current count, p: previous count}; quota hash {p: UTC period index, c: count}, expiring when
 * the period ends (the calendar arithmetic is calendar.ts'). A hash expires when its absence means the same as its content
 * (bucket full, both windows past); a bucket that never refills keeps its state.
 */
export const RATE_LIMIT_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
${CALENDAR_LUA}
local EPSILON = 1e-9
local now = ARGV[#KEYS * 3 + 2]
if now then
  now = tonumber(now)
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
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
  elseif ARGV[i * 3 - 1] == 'q' then
    local index, start, stop = calendar_period(now, ARGV[i * 3 + 1])
    local h = redis.call('HMGET', KEYS[i], 'p', 'c')
    local c = 0
    -- A stored period after ours only comes from a clock that stepped back: keep the count.
    if h[1] and tonumber(h[1]) >= index then c = tonumber(h[2]) end
    window[i], elapsed[i], level[i] = index, stop, c
    fits[i] = c + cost <= size
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
  elseif ARGV[i * 3 - 1] == 'q' then
    local c, stop = level[i], elapsed[i]
    if charge then c = c + cost end
    remaining = math.max(0, size - c)
    reset = stop - now
    retry = 0
    if not fits[i] then retry = stop - now end
    if charge then
      redis.call('HSET', KEYS[i], 'p', window[i], 'c', c)
      redis.call('PEXPIREAT', KEYS[i], stop)
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
 * Redis key of each limit's state: `${prefix}{${tag}}:${keys[i]}`, where the tag is the check's subject
 * (default keys[0]; braces removed, "_" when empty). Every key of one check carries the same hash tag, so a
 * check's keys share one Cluster slot and the script may touch them all; keys[i] still names the state, so
 * two limits of one check never share a hash. The policy passes its key value (the consumer, the address…)
 * as the subject: a quota key used by several routes is then the same Redis key from every route.
 */
export function stateKeys(prefix: string, keys: readonly string[], subject?: string): string[] {
  const first = subject ?? keys[0] ?? '';
  const stripped = first.includes('{') || first.includes('}') ? first.replace(/[{}]/g, '') : first;
  const head = `${prefix}{${stripped === '' ? '_' : stripped}}:`;
  return keys.map((key) => head + key);
}

/**
 * ARGV of the script for one check (see RATE_LIMIT_LUA). `now` (epoch ms) replaces Redis' clock: only tests
 * pass it; without it the script reads TIME.
 */
export function scriptArgs(specs: readonly LimitSpec[], cost: number, now?: number): (string | number)[] {
  const args: (string | number)[] = [cost];
  for (const spec of specs) {
    if (spec.kind === 'bucket') args.push('b', spec.capacity, spec.refillPerSecond);
    else if (spec.kind === 'window') args.push('w', spec.limit, spec.windowMs);
    else args.push('q', spec.limit, spec.period === 'day' ? 'd' : 'm');
  }
  if (now !== undefined) args.push(now);
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
