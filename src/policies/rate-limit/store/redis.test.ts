// The Redis rate-limit store against a real redis-server of its own (never the shared one on 6379): exact
// counting on Redis' clock, all-or-nothing, expiry, script reloads, concurrency, and how it fails — fast,
// within its deadline, logged once — and recovers when Redis is back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { StoreUnavailable, type LimitSpec } from './store.js';
import { createRedisRateLimitStore, type RedisRateLimitStoreOptions } from './redis.js';
import { stateKeys } from './redis-script.js';
import {
  redisServerSkip,
  startRedisServer,
  type TestRedisServer,
} from '../../../../test/helpers/redis-server.js';

const skip = redisServerSkip();
const bucket = (capacity: number, refillPerSecond: number): LimitSpec => ({
  kind: 'bucket',
  capacity,
  refillPerSecond,
});
const window = (limit: number, windowMs: number): LimitSpec => ({ kind: 'window', limit, windowMs });

/** Milliseconds on Redis' clock, the one the script counts with. */
async function redisNow(admin: Redis): Promise<number> {
  const [s, us] = await admin.time();
  return Number(s) * 1000 + Number(us) / 1000;
}

function captureLog() {
  const lines: { fields: Readonly<Record<string, unknown>>; msg: string }[] = [];
  return {
    lines,
    warn: (fields: Readonly<Record<string, unknown>>, msg: string) => lines.push({ fields, msg }),
  };
}

/** Runs `fn`, expects StoreUnavailable, returns how long it took. */
async function unavailableIn(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await assert.rejects(fn(), StoreUnavailable);
  return performance.now() - started;
}

async function eventually(fn: () => Promise<unknown>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
}

describe('redis rate-limit store: counting', { skip, concurrency: true }, () => {
  let server: TestRedisServer;
  let admin: Redis;
  let store: ReturnType<typeof createRedisRateLimitStore>;
  before(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    // A generous deadline: these tests are about counting, not about a loaded CI machine.
    store = createRedisRateLimitStore({ url: server.url, timeoutMs: 2000 });
    await store.ready;
  });
  after(async () => {
    await store?.close();
    admin?.disconnect();
    await server?.stop();
  });

  it('bucket 10 refill 5/s: a burst of 10, the 11th refused, about 5 more a second later', async () => {
    const spec = [bucket(10, 5)];
    const t0 = await redisNow(admin);
    for (let i = 9; i >= 0; i--) {
      const [r] = await store.check(['b1'], spec, 1);
      assert.deepEqual([r?.allowed, r?.limit, r?.remaining, r?.retryAfterMs], [true, 10, i, 0]);
    }
    const [refused] = await store.check(['b1'], spec, 1);
    const t1 = await redisNow(admin);
    assert.equal(refused?.allowed, false);
    // 200 ms per token, less what refilled since the burst began (the tests share a busy machine).
    const { retryAfterMs, resetMs } = refused;
    assert.ok(retryAfterMs <= 200 && retryAfterMs >= 200 - (t1 - t0), `retryAfterMs ${retryAfterMs}`);
    assert.ok(resetMs <= 2000 && resetMs >= 2000 - (t1 - t0), `resetMs ${resetMs}`);
    await sleep(1000);
    const t2 = await redisNow(admin);
    let admitted = 0;
    for (let i = 0; i < 10; i++) if ((await store.check(['b1'], spec, 1))[0]?.allowed) admitted++;
    const t3 = await redisNow(admin);
    // Under one token at t1, then 5 per second of Redis time: about 5, exactly within these bounds.
    const least = Math.floor((5 * (t2 - t1)) / 1000);
    const most = Math.floor(1 + (5 * (t3 - t1)) / 1000);
    assert.ok(admitted >= least && admitted <= most && least >= 5, `admitted ${admitted}, ${least}..${most}`);
  });

  it('sliding window: the previous window counts by its overlap (a set clock)', async () => {
    // Window positions at exact instants: on Redis' clock a busy machine moves every check by an unknown
    // amount (the bucket and expiry tests cover that the store counts on Redis' clock).
    const start = Date.UTC(2030, 0, 1); // a window boundary (a multiple of 1000 ms)
    const clock = { t: start + 50 }; // 50 ms into a fresh window
    const timed = createRedisRateLimitStore({ url: server.url, timeoutMs: 2000, now: () => clock.t });
    const spec = [window(5, 1000)];
    const admittedOf = async (attempts: number) => {
      let admitted = 0;
      for (let i = 0; i < attempts; i++) if ((await timed.check(['w1'], spec, 1))[0]?.allowed) admitted++;
      return admitted;
    };
    try {
      await timed.ready;
      const first = [];
      for (let i = 0; i < 6; i++) first.push((await timed.check(['w1'], spec, 1))[0]);
      assert.deepEqual(
        first.map((r) => [r?.allowed, r?.remaining]),
        [
          [true, 4],
          [true, 3],
          [true, 2],
          [true, 1],
          [true, 0],
          [false, 0],
        ],
      );
      // Full window of 5: the next unit fits once 20 % of the next window has passed (5·0.8 + 1 = 5), 1150 ms on.
      assert.equal(first[5]?.retryAfterMs, 1150);
      clock.t = start + 1199;
      assert.equal(await admittedOf(1), 0, 'not a millisecond early: 5·0.801 + 1 > 5');
      clock.t = start + 1200;
      assert.equal(await admittedOf(5), 1, 'at retryAfterMs: 5·0.8 + 1 = 5, then 5·0.8 + 2 > 5');
      clock.t = start + 1500; // half way through the next window
      assert.equal(await admittedOf(5), 1, 'estimate 5·0.5 = 2.5: two in this window fit under 5');
    } finally {
      await timed.close();
    }
  });

  it('all or nothing: a limit that refuses charges none of the others', async () => {
    const specs = [bucket(5, 0.001), window(3, 60_000)];
    for (let i = 0; i < 3; i++)
      assert.ok((await store.check(['a:b', 'a:w'], specs, 1)).every((r) => r.allowed));
    const [b, w] = await store.check(['a:b', 'a:w'], specs, 1);
    assert.deepEqual([b?.allowed, b?.remaining, w?.allowed, w?.remaining], [true, 2, false, 0]);
    assert.equal((await store.check(['a:b', 'a:w'], specs, 1))[0]?.remaining, 2, 'bucket still not charged');

    const reverse = [bucket(2, 0.001), window(10, 60_000)];
    await store.check(['r:b', 'r:w'], reverse, 1);
    await store.check(['r:b', 'r:w'], reverse, 1);
    const [rb, rw] = await store.check(['r:b', 'r:w'], reverse, 1);
    assert.deepEqual([rb?.allowed, rw?.allowed, rw?.remaining], [false, true, 8]);
    assert.equal(await admin.hget(stateKeys('portico:rl:', ['r:b', 'r:w'])[1]!, 'c'), '2');
  });

  it('a cost above one is taken whole, and retryAfterMs waits for the whole cost', async () => {
    const spec = [bucket(10, 10)];
    const t0 = await redisNow(admin);
    assert.equal((await store.check(['c1'], spec, 8))[0]?.remaining, 2);
    const [r] = await store.check(['c1'], spec, 5);
    const t1 = await redisNow(admin);
    assert.equal(r?.allowed, false);
    // 3 tokens missing at 10/s, less the refill since the first check.
    assert.ok(r.retryAfterMs <= 300 && r.retryAfterMs >= 300 - (t1 - t0), `retryAfterMs ${r.retryAfterMs}`);
    assert.deepEqual(await store.check([], [], 1), []);
    await assert.rejects(store.check(['x'], [], 1), RangeError);
  });

  it('state expires by itself once it means nothing (PTTL); a bucket that never refills keeps it', async () => {
    const t0 = await redisNow(admin);
    await store.check(['e:b', 'e:w', 'e:q'], [bucket(10, 5), window(5, 1000), bucket(3, 0)], 1);
    const [kb, kw, kq] = stateKeys('portico:rl:', ['e:b', 'e:w', 'e:q']);
    const [tb, tw, tq] = await Promise.all([admin.pttl(kb!), admin.pttl(kw!), admin.pttl(kq!)]);
    const took = (await redisNow(admin)) - t0; // a busy machine may take a while between the check and PTTL
    assert.ok((tb > 0 || took >= 200) && tb <= 200, `bucket PTTL ${tb}`);
    // Two windows after the current one began: 1000-2000 ms when set.
    assert.ok(tw > 1000 - took && tw <= 2000, `window PTTL ${tw} (${took} ms after the check)`);
    assert.equal(tq, -1);
    await sleep(250);
    assert.equal(await admin.exists(kb!), 0, 'bucket full again: key gone');
  });

  it('survives SCRIPT FLUSH (NOSCRIPT → loads the script again) and otherwise uses EVALSHA', async () => {
    const spec = [bucket(10, 0.001)];
    assert.equal((await store.check(['s1'], spec, 1))[0]?.remaining, 9);
    await admin.script('FLUSH');
    assert.equal((await store.check(['s1'], spec, 1))[0]?.remaining, 8);
    assert.equal((await store.check(['s1'], spec, 1))[0]?.remaining, 7);
    const stats = await admin.info('commandstats');
    assert.match(stats, /cmdstat_evalsha:calls=\d+/);
  });

  it('500 concurrent checks on one key, capacity 100, no refill: exactly 100 allowed', async () => {
    const spec = [bucket(100, 0)];
    const results = await Promise.all(Array.from({ length: 500 }, () => store.check(['hot'], spec, 1)));
    assert.equal(results.filter((r) => r[0]?.allowed).length, 100);
    assert.deepEqual(results.at(-1), [
      { allowed: false, limit: 100, remaining: 0, retryAfterMs: Infinity, resetMs: Infinity },
    ]);
  });
});

describe('redis rate-limit store: a paused gateway', { skip }, () => {
  it('answers that arrived while the gateway itself was blocked win over the timeout', async () => {
    const server = await startRedisServer();
    const store = createRedisRateLimitStore({ url: server.url, timeoutMs: 200 });
    try {
      await store.ready;
      const spec = [bucket(1, 0.001)];
      await store.check(['paused'], spec, 1); // empties the bucket
      const inFlight = Array.from({ length: 20 }, () => store.check(['paused'], spec, 1));
      // Block this process past the deadline while Redis answers in well under a millisecond.
      const until = performance.now() + 250;
      while (performance.now() < until);
      const results = await Promise.allSettled(inFlight);
      const refused = results.filter((r) => r.status === 'fulfilled' && r.value[0]?.allowed === false);
      assert.equal(refused.length, 20, JSON.stringify(results.map((r) => r.status)));
    } finally {
      await store.close();
      await server.stop();
    }
  });
});

describe('redis rate-limit store: failures', { skip, concurrency: true }, () => {
  const timeoutMs = 50;
  // How late past the deadline a failure may come: what the test tells apart is "at the deadline" from "when
  // the socket times out" (seconds). 30 ms was too tight on a busy 2-core machine (82 ms seen, CI-like load).
  const margin = 400;

  async function storeOn(server: TestRedisServer, extra: Partial<RedisRateLimitStoreOptions> = {}) {
    const log = captureLog();
    const errors: Error[] = [];
    const store = createRedisRateLimitStore({
      url: server.url,
      timeoutMs,
      log,
      onError: (err) => errors.push(err),
      ...extra,
    });
    await store.ready;
    return { store, log, errors };
  }
  const spec = [bucket(1000, 100)];

  it('Redis stopped: StoreUnavailable at once, one warning, then back by itself after a restart', async () => {
    let server = await startRedisServer();
    const { store, log, errors } = await storeOn(server);
    try {
      await store.check(['k'], spec, 1);
      await server.stop();
      for (let i = 0; i < 5; i++) {
        const took = await unavailableIn(() => store.check(['k'], spec, 1));
        assert.ok(took < timeoutMs + margin, `took ${took} ms`);
      }
      assert.equal(errors.length, 5);
      assert.equal(log.lines.length, 1);
      assert.equal(log.lines[0]?.msg, 'rate_limit_store_error');
      server = await startRedisServer({ port: server.port });
      await eventually(() => store.check(['k'], spec, 1), 3000);
      assert.equal(log.lines.length, 1, 'no second line within 10 s');
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('Redis paused (SIGSTOP): StoreUnavailable within the deadline; answers again after SIGCONT', async () => {
    const server = await startRedisServer();
    const { store, errors } = await storeOn(server);
    try {
      await store.check(['p'], spec, 1);
      server.pause();
      const took = await Promise.all(
        Array.from({ length: 10 }, () => unavailableIn(() => store.check(['p'], spec, 1))),
      );
      for (const t of took) assert.ok(t >= timeoutMs - 5 && t < timeoutMs + margin, `took ${t} ms`);
      assert.equal(errors.length, 10);
      server.resume();
      await eventually(() => store.check(['p'], spec, 1), 3000);
    } finally {
      server.resume();
      await store.close();
      await server.stop();
    }
  });

  it('Redis absent from the start: checks fail fast, ready waits, close() settles it', async () => {
    const server = await startRedisServer();
    await server.stop();
    const store = createRedisRateLimitStore({ url: server.url, timeoutMs });
    const took = await unavailableIn(() => store.check(['n'], spec, 1));
    assert.ok(took < timeoutMs + margin, `took ${took} ms`);
    await store.close();
    await assert.rejects(store.ready, StoreUnavailable);
    await assert.rejects(store.check(['n'], spec, 1), StoreUnavailable);
  });
});

describe('redis rate-limit store: Redis Cluster', { skip }, () => {
  let server: TestRedisServer;
  before(async () => {
    server = await startRedisServer({ cluster: true });
  });
  after(() => server?.stop());

  it('keys of one check share a hash tag, so a multi-key check runs on a cluster (no CROSSSLOT)', async () => {
    const store = createRedisRateLimitStore({
      url: `${server.url},${server.url}`,
      cluster: true,
      timeoutMs: 2000,
    });
    const admin = new Redis(server.url);
    try {
      await store.ready;
      const specs = [bucket(2, 0.001), window(10, 60_000)];
      const first = await store.check(['tenant:1:s', 'tenant:1:h'], specs, 1);
      assert.deepEqual(
        first.map((r) => r.remaining),
        [1, 9],
      );
      // The same two keys without the shared tag are refused by the cluster.
      await assert.rejects(admin.eval('return 1', 2, 'tenant:1:s', 'tenant:1:h'), /CROSSSLOT/);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });
});
