// Quotas in the Redis store, on a redis-server of its own: the Lua calendar agrees with calendar.ts, counts
// follow Redis' clock, a quota hash expires exactly when its UTC period ends, and a quota checked from two
// routes (different first keys, one subject) is one Redis key.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { LimitSpec } from './store.js';
import { calendarPeriod } from './calendar.js';
import { createRedisRateLimitStore } from './redis.js';
import { CALENDAR_LUA, stateKeys } from './redis-script.js';
import {
  redisServerSkip,
  startRedisServer,
  type TestRedisServer,
} from '../../../../test/helpers/redis-server.js';

const skip = redisServerSkip();
const daily = (limit: number): LimitSpec => ({ kind: 'quota', limit, period: 'day' });
const monthly = (limit: number): LimitSpec => ({ kind: 'quota', limit, period: 'month' });

async function redisNow(admin: Redis): Promise<number> {
  const [s, us] = await admin.time();
  return Number(s) * 1000 + Number(us) / 1000;
}

describe('redis store: quotas', { skip }, () => {
  let server: TestRedisServer;
  let admin: Redis;
  let store: ReturnType<typeof createRedisRateLimitStore>;
  before(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    store = createRedisRateLimitStore({ url: server.url, timeoutMs: 2000 });
    await store.ready;
  });
  after(async () => {
    await store?.close();
    admin?.disconnect();
    await server?.stop();
  });

  it('the Lua calendar gives the same periods as calendar.ts (boundaries, leap years, 1970–2400)', async () => {
    const script = `${CALENDAR_LUA}
local out = {}
for i = 1, #ARGV, 2 do
  local index, start, stop = calendar_period(tonumber(ARGV[i]), ARGV[i + 1])
  out[#out + 1] = index
  out[#out + 1] = start
  out[#out + 1] = stop
end
return out`;
    const instants: number[] = [];
    for (let y = 1970; y <= 2400; y += 7)
      for (let m = 0; m < 12; m++) {
        const first = Date.UTC(y, m, 1);
        instants.push(first, first - 1, first + 1, first + 15 * 86_400_000 + 12_345);
      }
    instants.push(Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2100, 2, 1), Date.UTC(2400, 1, 29));
    let seed = 7;
    for (let i = 0; i < 500; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      instants.push(Math.floor((seed / 2 ** 31) * Date.UTC(2400, 0, 1)) + 0.5);
    }
    for (let from = 0; from < instants.length; from += 200) {
      const slice = instants.slice(from, from + 200);
      for (const unit of ['d', 'm'] as const) {
        const args = slice.flatMap((ms) => [String(ms), unit]);
        const reply = (await admin.eval(script, 0, ...args)) as number[];
        slice.forEach((ms, i) => {
          const p = calendarPeriod(ms, unit === 'd' ? 'day' : 'month');
          assert.deepEqual(
            reply.slice(i * 3, i * 3 + 3),
            [p.index, p.start, p.end],
            `${new Date(ms).toISOString()} ${unit}`,
          );
        });
      }
    }
  });

  it('counts to the limit on Redis time; the refusal waits for the next UTC midnight; the key expires then', async () => {
    for (let left = 2; left >= 0; left--) {
      const [r] = await store.check(['quota|daily|c1'], [daily(3)], 1);
      assert.deepEqual([r?.allowed, r?.remaining], [true, left]);
    }
    const [refused] = await store.check(['quota|daily|c1'], [daily(3)], 1);
    const now = await redisNow(admin);
    const midnight = calendarPeriod(now, 'day').end;
    assert.equal(refused?.allowed, false);
    assert.ok(
      Math.abs(now + (refused?.retryAfterMs ?? 0) - midnight) < 1000,
      `retry ${refused?.retryAfterMs}`,
    );
    assert.equal(refused?.resetMs, refused?.retryAfterMs);
    const [key] = stateKeys('portico:rl:', ['quota|daily|c1']);
    assert.equal(await admin.call('PEXPIRETIME', key!), midnight);
    assert.deepEqual(await admin.hmget(key!, 'p', 'c'), [String(calendarPeriod(now, 'day').index), '3']);
  });

  it('a monthly quota expires on the 1st of next month; a cost above it is refused without charge', async () => {
    const [r] = await store.check(['quota|monthly|c2'], [monthly(10)], 4);
    assert.deepEqual([r?.allowed, r?.remaining], [true, 6]);
    const [big] = await store.check(['quota|monthly|c2'], [monthly(10)], 7);
    assert.deepEqual([big?.allowed, big?.remaining], [false, 6]);
    const [key] = stateKeys('portico:rl:', ['quota|monthly|c2']);
    assert.equal(await admin.call('PEXPIRETIME', key!), calendarPeriod(await redisNow(admin), 'month').end);
  });

  it('one subject, two routes: the quota is one Redis key, charged only with the route limit', async () => {
    const specs = [{ kind: 'bucket', capacity: 2, refillPerSecond: 0.001 } as LimitSpec, daily(5)];
    const a = ['orders|default|c3', 'quota|daily|c3'];
    const b = ['users|default|c3', 'quota|daily|c3'];
    await store.check(a, specs, 1, 'c3');
    await store.check(a, specs, 1, 'c3');
    const [ra, qa] = await store.check(a, specs, 1, 'c3');
    assert.deepEqual([ra?.allowed, qa?.remaining], [false, 3], 'the refused request costs no quota');
    const [rb, qb] = await store.check(b, specs, 1, 'c3');
    assert.deepEqual([rb?.allowed, qb?.remaining], [true, 2], 'the other route draws on the same quota');
    const [quotaKey] = stateKeys('portico:rl:', ['quota|daily|c3'], 'c3');
    assert.equal(await admin.hget(quotaKey!, 'c'), '3');
    assert.equal(quotaKey, 'portico:rl:{c3}:quota|daily|c3');
  });
});
