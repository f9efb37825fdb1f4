// The canary split: its weighted rendezvous hashing (shares within statistical bounds, a weight change moving
// keys only toward the side that gained), its sticky keys, the forcing header, its config refusals, and the
// cookie parser behind `sticky: cookie:<name>`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testContext, testExchange } from '../../pipeline/testing.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { HeaderList } from '../../pipeline/header-list.js';
import {
  PolicyConfigError,
  PolicyConfigErrors,
  type CompileContext,
  type Policy,
  type PolicyMetrics,
  type RouteUpstream,
} from '../../pipeline/policy.js';
import { cookieIn, cookieValue, createChooser, split } from './index.js';
import type { SplitConfig, SplitSide } from './schema.js';

const N = 10_000;
const consumerKeys = Array.from({ length: N }, (_, i) => `consumer-${i}`);
const ipKeys = Array.from({ length: N }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
const sessionKeys = Array.from({ length: N }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(36));

/** How many of `keys` land on each side. */
function counts(sides: readonly SplitSide[], keys: readonly string[]): number[] {
  const choose = createChooser(sides);
  const out = sides.map(() => 0);
  for (const k of keys) out[choose(k)]!++;
  return out;
}

/** Asserts `count` of `n` trials is within ±5 standard deviations of a binomial with probability `p`. */
function assertBinomial(count: number, n: number, p: number, what: string): void {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(
    Math.abs(count - mean) <= 5 * sd,
    `${what}: ${count} of ${n}, expected ${mean.toFixed(1)} ± ${(5 * sd).toFixed(1)} (5 sd)`,
  );
}

function assertShares(sides: readonly SplitSide[], keys: readonly string[], what: string): void {
  const total = sides.reduce((t, s) => t + s.weight, 0);
  const got = counts(sides, keys);
  sides.forEach((s, i) => assertBinomial(got[i]!, keys.length, s.weight / total, `${what}, ${s.upstream}`));
}

describe('split: weighted rendezvous hashing', () => {
  const canary5 = [
    { upstream: 'orders-v2', weight: 5 },
    { upstream: 'orders', weight: 95 },
  ];

  it('gives each side its share of 10,000 keys within 5 standard deviations', () => {
    for (const [name, keys] of [
      ['consumer ids', consumerKeys],
      ['client addresses', ipKeys],
      ['session cookies', sessionKeys],
    ] as const) {
      assertShares(canary5, keys, `5/95 over ${name}`);
      assertShares(
        [
          { upstream: 'a', weight: 50 },
          { upstream: 'b', weight: 50 },
        ],
        keys,
        `50/50 over ${name}`,
      );
      assertShares(
        [
          { upstream: 'green', weight: 1 },
          { upstream: 'blue', weight: 2 },
          { upstream: 'http://10.0.0.7:8080/v3', weight: 7 },
        ],
        keys,
        `1/2/7 over ${name}`,
      );
      assertShares(
        [
          { upstream: 'tiny', weight: 0.5 },
          { upstream: 'rest', weight: 99.5 },
        ],
        keys,
        `0.5/99.5 over ${name}`,
      );
    }
  });

  it('raising the canary 5 → 10 moves keys only from the stable side to the canary, about as many as it must', () => {
    const before = createChooser(canary5);
    const after = createChooser([
      { upstream: 'orders-v2', weight: 10 },
      { upstream: 'orders', weight: 95 },
    ]);
    for (const keys of [consumerKeys, ipKeys, sessionKeys]) {
      let toCanary = 0;
      let toStable = 0;
      for (const k of keys) {
        const a = before(k);
        const b = after(k);
        if (a === 1 && b === 0) toCanary++;
        if (a === 0 && b === 1) toStable++;
      }
      assert.equal(toStable, 0, 'a canary key went back to the stable side');
      // 5/100 of the keys were on the canary, 10/105 are now: the difference moved.
      assertBinomial(toCanary, keys.length, 10 / 105 - 5 / 100, 'keys moved to the canary');
    }
  });

  it('with three sides, a weight change moves keys only toward (or away from) the side whose weight changed', () => {
    const base = [
      { upstream: 'v3', weight: 10 },
      { upstream: 'v2', weight: 30 },
      { upstream: 'v1', weight: 60 },
    ];
    const before = createChooser(base);
    const raised = createChooser([{ upstream: 'v3', weight: 25 }, base[1]!, base[2]!]);
    const lowered = createChooser([base[0]!, base[1]!, { upstream: 'v1', weight: 20 }]);
    let movedUp = 0;
    let movedDown = 0;
    for (const k of consumerKeys) {
      const a = before(k);
      const up = raised(k);
      const down = lowered(k);
      if (up !== a) {
        assert.equal(up, 0, `${k} moved from side ${a} to ${up}, not to the raised side`);
        movedUp++;
      }
      if (down !== a) {
        assert.equal(a, 2, `${k} moved from side ${a}, not from the lowered side`);
        movedDown++;
      }
    }
    assertBinomial(movedUp, N, 25 / 115 - 10 / 100, 'keys moved to the raised side');
    assertBinomial(movedDown, N, 60 / 100 - 20 / 60, 'keys moved off the lowered side');
  });

  it('is deterministic: a new chooser (a reload, another process) and another list order agree on every key', () => {
    const a = createChooser(canary5);
    const b = createChooser(canary5.map((s) => ({ ...s })));
    const reversed = createChooser([...canary5].reverse());
    for (const k of consumerKeys) {
      assert.equal(a(k), b(k));
      assert.equal(canary5[a(k)]!.upstream, [...canary5].reverse()[reversed(k)]!.upstream);
    }
  });

  it('hashes the upstream as written: another pair of upstreams splits the same keys differently', () => {
    const one = createChooser(canary5);
    const other = createChooser([
      { upstream: 'billing-v2', weight: 50 },
      { upstream: 'billing', weight: 50 },
    ]);
    const half = createChooser([
      { upstream: 'orders-v2', weight: 50 },
      { upstream: 'orders', weight: 50 },
    ]);
    let same = 0;
    for (const k of consumerKeys) if (other(k) === half(k)) same++;
    // Independent 50/50 splits agree on half of the keys.
    assertBinomial(same, N, 0.5, 'keys on the same side of two unrelated splits');
    assert.ok(
      consumerKeys.some((k) => one(k) === 0),
      'some key reaches the canary',
    );
  });

  it('handles empty and non-ASCII keys', () => {
    const choose = createChooser(canary5);
    assert.ok([0, 1].includes(choose('')));
    assert.equal(choose('zoë-😀'), choose('zoë-😀'));
  });
});

/** Upstreams whose `forward` answers with the upstream's name in a header. */
function upstreamContext(
  known: readonly string[],
  metrics?: PolicyMetrics,
): CompileContext & { forwards: Map<string, RouteUpstream['forward']> } {
  const forwards = new Map<string, RouteUpstream['forward']>();
  return {
    ...testContext(),
    routeName: 'orders',
    ...(metrics ? { metrics } : {}),
    forwards,
    upstream(ref: string): RouteUpstream {
      if (!known.includes(ref)) throw new PolicyConfigError(`no upstream named "${ref}"`);
      let forward = forwards.get(ref);
      if (forward === undefined) {
        forward = (): Promise<GatewayResponse> =>
          Promise.resolve({ status: 200, headers: { 'x-upstream': ref }, body: null, source: 'upstream' });
        forwards.set(ref, forward);
      }
      return {
        name: ref,
        label: ref,
        forward,
        identity: 'test',
        send: () => Promise.reject(new Error('not in this test')),
      };
    },
  };
}

function create(config: unknown, ctx = upstreamContext(['orders', 'orders-v2', 'orders-v3'])): Policy {
  return split.create(config as SplitConfig, ctx);
}

/** Runs the policy's upstream layer the way the route's terminal would: through ex.forwardTo. */
async function sideOf(policy: Policy, ex: Exchange): Promise<string> {
  const res = await policy.onUpstream!(ex, (e) => {
    assert.ok(e.forwardTo, 'forwardTo is set');
    return e.forwardTo(e);
  });
  return res.headers['x-upstream'] as string;
}

function request(opts: { headers?: string[]; ip?: string; consumer?: string } = {}): Exchange {
  const ex = testExchange(opts.headers ?? []);
  if (opts.ip !== undefined) (ex as { clientIp: string }).clientIp = opts.ip;
  if (opts.consumer !== undefined) ex.consumerId = opts.consumer;
  return ex;
}

const LIST = [
  { upstream: 'orders-v2', weight: 50 },
  { upstream: 'orders', weight: 50 },
];

/** Keys (as sent) that the 50/50 LIST puts on each side. */
function keysBySide(n: number): { canary: string[]; stable: string[] } {
  const choose = createChooser(LIST);
  const canary: string[] = [];
  const stable: string[] = [];
  for (let i = 0; canary.length < n || stable.length < n; i++) {
    const k = `key-${i}`;
    (choose(k) === 0 ? canary : stable).push(k);
  }
  return { canary: canary.slice(0, n), stable: stable.slice(0, n) };
}

describe('split policy: sticky keys, forcing header, log field and metric', () => {
  const { canary, stable } = keysBySide(5);

  it('list form: the consumer decides, the client address when anonymous', async () => {
    const policy = create(LIST);
    for (const k of canary)
      assert.equal(await sideOf(policy, request({ consumer: k, ip: stable[0] })), 'orders-v2');
    for (const k of stable)
      assert.equal(await sideOf(policy, request({ consumer: k, ip: canary[0] })), 'orders');
    for (const k of canary) assert.equal(await sideOf(policy, request({ ip: k })), 'orders-v2');
    for (const k of stable) assert.equal(await sideOf(policy, request({ ip: k })), 'orders');
  });

  it('sticky: ip ignores the consumer', async () => {
    const policy = create({ to: LIST, sticky: 'ip', header: 'X-Canary' });
    for (const k of canary)
      assert.equal(await sideOf(policy, request({ consumer: stable[0], ip: k })), 'orders-v2');
    for (const k of stable)
      assert.equal(await sideOf(policy, request({ consumer: canary[0], ip: k })), 'orders');
  });

  it('sticky: cookie:<name> follows the cookie, and the client address without it', async () => {
    const policy = create({ to: LIST, sticky: 'cookie:sid', header: 'X-Canary' });
    for (const k of canary) {
      const headers = ['Cookie', `theme=dark; sid=${k}; sidx=${stable[0]}`];
      assert.equal(
        await sideOf(policy, request({ headers, ip: stable[0], consumer: stable[1] })),
        'orders-v2',
      );
    }
    for (const k of stable)
      assert.equal(
        await sideOf(policy, request({ headers: ['cookie', `sid="${k}"`], ip: canary[0] })),
        'orders',
      );
    // No such cookie, or an empty one: the client address.
    for (const cookie of ['other=1', 'sid=', 'SID=' + stable[0]])
      assert.equal(
        await sideOf(policy, request({ headers: ['Cookie', cookie], ip: canary[1] })),
        'orders-v2',
      );
    assert.equal(await sideOf(policy, request({ ip: stable[1] })), 'orders');
  });

  it('sticky: header:<Name> follows the header (any case), and the client address without it', async () => {
    const policy = create({ to: LIST, sticky: 'header:X-User', header: 'X-Canary' });
    for (const k of canary)
      assert.equal(await sideOf(policy, request({ headers: ['x-user', k], ip: stable[0] })), 'orders-v2');
    for (const k of stable)
      assert.equal(await sideOf(policy, request({ headers: ['X-USER', k], ip: canary[0] })), 'orders');
    assert.equal(await sideOf(policy, request({ ip: canary[2] })), 'orders-v2');
  });

  it('X-Canary: always / never / an upstream name forces a side; other values are ignored', async () => {
    const policy = create(LIST);
    for (const k of stable) {
      assert.equal(
        await sideOf(policy, request({ consumer: k, headers: ['X-Canary', 'always'] })),
        'orders-v2',
      );
      assert.equal(
        await sideOf(policy, request({ consumer: k, headers: ['x-canary', ' ALWAYS '] })),
        'orders-v2',
      );
      assert.equal(
        await sideOf(policy, request({ consumer: k, headers: ['X-Canary', 'orders-v2'] })),
        'orders-v2',
      );
      assert.equal(await sideOf(policy, request({ consumer: k, headers: ['X-Canary', 'yes'] })), 'orders');
      assert.equal(
        await sideOf(policy, request({ consumer: k, headers: ['X-Canary', 'ORDERS-V2'] })),
        'orders',
      );
    }
    for (const k of canary) {
      assert.equal(await sideOf(policy, request({ consumer: k, headers: ['X-Canary', 'never'] })), 'orders');
      assert.equal(await sideOf(policy, request({ consumer: k, headers: ['X-Canary', 'Never'] })), 'orders');
      assert.equal(await sideOf(policy, request({ consumer: k, headers: ['X-Canary', 'orders'] })), 'orders');
      assert.equal(await sideOf(policy, request({ consumer: k, headers: ['X-Canary', ''] })), 'orders-v2');
    }
  });

  it('never, with three sides, is the heaviest side after the canary; the header name is configurable or off', async () => {
    const three = [
      { upstream: 'orders-v3', weight: 5 },
      { upstream: 'orders-v2', weight: 20 },
      { upstream: 'orders', weight: 75 },
    ];
    const policy = create({ to: three, sticky: 'consumer', header: 'X-Test-Side' });
    assert.equal(await sideOf(policy, request({ headers: ['X-Test-Side', 'never'] })), 'orders');
    assert.equal(await sideOf(policy, request({ headers: ['X-Test-Side', 'always'] })), 'orders-v3');
    assert.equal(await sideOf(policy, request({ headers: ['X-Test-Side', 'orders-v2'] })), 'orders-v2');

    const off = create({ to: LIST, sticky: 'consumer', header: false });
    for (const k of stable)
      assert.equal(await sideOf(off, request({ consumer: k, headers: ['X-Canary', 'always'] })), 'orders');
  });

  it('sets forwardTo to the side taken even when an earlier layer chose another upstream', async () => {
    const ctx = upstreamContext(['orders', 'orders-v2']);
    const policy = create(LIST, ctx);
    const ex = request({ consumer: canary[0] });
    ex.forwardTo = ctx.forwards.get('orders') ?? (() => Promise.reject(new Error('not this one')));
    assert.equal(await sideOf(policy, ex), 'orders-v2');
    assert.equal(ex.forwardTo, ctx.forwards.get('orders-v2'));
  });

  it('adds the side to the access line and counts it in portico_split_requests_total{route, upstream}', async () => {
    const recorded = new Map<string, number>();
    const declared: unknown[] = [];
    const metrics: PolicyMetrics = {
      enabled: true,
      counter(name, help, labels) {
        declared.push([name, help, labels]);
        return {
          series(l) {
            const key = JSON.stringify(l);
            recorded.set(key, 0);
            return { inc: (n = 1) => void recorded.set(key, recorded.get(key)! + n) };
          },
        };
      },
      histogram: () => ({ series: () => ({ observe() {} }) }),
      gauge() {},
    };
    const policy = create(LIST, upstreamContext(['orders', 'orders-v2'], metrics));
    assert.deepEqual(declared, [
      ['requests_total', 'Requests by route and split side.', ['route', 'upstream']],
    ]);
    assert.equal(recorded.size, 2, 'one series per side, resolved at load');
    const ex = request({ consumer: canary[0] });
    await sideOf(policy, ex);
    assert.equal(ex.logFields, ',"split":"orders-v2"');
    await sideOf(policy, request({ consumer: stable[0] }));
    await sideOf(policy, request({ consumer: stable[1] }));
    assert.deepEqual(Object.fromEntries(recorded), {
      '{"route":"orders","upstream":"orders-v2"}': 1,
      '{"route":"orders","upstream":"orders"}': 2,
    });
  });
});

describe('split policy: config refusals', () => {
  function refusal(config: unknown): { message: string; path: readonly (string | number)[] }[] {
    try {
      create(config);
    } catch (err) {
      const errors = err instanceof PolicyConfigErrors ? err.errors : [err];
      return errors.map((e) => {
        assert.ok(e instanceof PolicyConfigError, String(e));
        return { message: e.message, path: e.path };
      });
    }
    assert.fail('the config was accepted');
  }

  it('an unknown upstream, at its own entry', () => {
    assert.deepEqual(
      refusal([
        { upstream: 'orders-v9', weight: 5 },
        { upstream: 'orders', weight: 95 },
      ]),
      [{ message: 'no upstream named "orders-v9"', path: [0, 'upstream'] }],
    );
    assert.deepEqual(
      refusal({
        to: [
          { upstream: 'orders', weight: 5 },
          { upstream: 'nope', weight: 95 },
        ],
        sticky: 'ip',
        header: 'X-Canary',
      }),
      [{ message: 'no upstream named "nope"', path: ['to', 1, 'upstream'] }],
    );
  });

  it('an upstream listed twice, and weights that are not positive, all at once', () => {
    const got = refusal([
      { upstream: 'orders-v2', weight: 0 },
      { upstream: 'orders', weight: 95 },
      { upstream: 'orders-v2', weight: -1 },
      { upstream: 'elsewhere', weight: 1 },
    ]);
    assert.deepEqual(
      got.map((e) => e.path),
      [
        [0, 'weight'],
        [2, 'upstream'],
        [2, 'weight'],
        [3, 'upstream'],
      ],
    );
    assert.match(got[1]!.message, /"orders-v2" is already side 1 of this split/);
  });
});

describe('split: cookie parsing', () => {
  it('finds a cookie among others, with whitespace and quotes, names case-sensitive and whole', () => {
    const cases: [string, string, string | undefined][] = [
      ['sid=abc', 'sid', 'abc'],
      ['a=1; sid=abc; b=2', 'sid', 'abc'],
      ['a=1;sid=abc;b=2', 'sid', 'abc'],
      ['  sid = abc  ; b=2', 'sid', 'abc'],
      ['\tsid=abc\t', 'sid', 'abc'],
      ['sid="abc def"', 'sid', 'abc def'],
      ['sid="', 'sid', '"'],
      ['sid=a=b==', 'sid', 'a=b=='],
      ['xsid=1; sidx=2; sid=3', 'sid', '3'],
      ['SID=1', 'sid', undefined],
      ['sid=1; sid=2', 'sid', '1'],
      ['sid=', 'sid', ''],
      ['sid', 'sid', undefined],
      ['junk; ;; sid=ok', 'sid', 'ok'],
      ['a=1; b', 'b', undefined],
      ['', 'sid', undefined],
      ['a="x;sid=y"', 'sid', 'y"'],
    ];
    for (const [header, name, want] of cases)
      assert.equal(cookieValue(header, name), want, `${header} → ${name}`);
  });

  it('reads every Cookie line of the request', () => {
    const headers = new HeaderList([
      'Accept',
      '*/*',
      'Cookie',
      'a=1',
      'COOKIE',
      'sid=second',
      'cookie',
      'sid=third',
    ]);
    assert.equal(cookieIn(headers, 'sid'), 'second');
    assert.equal(cookieIn(headers, 'a'), '1');
    assert.equal(cookieIn(headers, 'none'), undefined);
    assert.equal(cookieIn(new HeaderList(['Cookies', 'sid=1']), 'sid'), undefined);
  });
});
