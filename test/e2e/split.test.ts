// The canary split end to end: a real gateway in front of two real upstreams (orders and orders-v2 on
// ephemeral loopback ports). Over a few thousand clients keyed by a session cookie or by a JWT consumer, the
// canary's share stays within statistical bounds, every client stays on its side, X-Canary forces a side,
// the access line and portico_split_requests_total name the side taken; a reload keeps every client where it
// was, and raising the canary's weight moves clients only onto the canary. `portico validate` refuses weights
// that are not positive, a side listed twice and an unknown upstream, each at its line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sample } from '../fixtures/metric-sample.js';
import { runCli, tempDir } from '../fixtures/ops-child.js';

const SECRET = 'a-split-test-secret-of-at-least-32-characters';
const CANARY = 'orders-v2';
const STABLE = 'orders';

/**
 * The config with the canary at `canaryWeight` against the stable side's 80; `revision` is sent back as
 * X-Config-Revision by the cookie route, so a reload changes the config even when the weights stay.
 */
function config(canary: TestUpstream, stable: TestUpstream, canaryWeight: number, revision = 0): string {
  return `gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
auth:
  jwt:
    default:
      secret: "${SECRET}"
upstreams:
  ${STABLE}: { targets: [{ url: "${stable.url}" }] }
  ${CANARY}: { targets: [{ url: "${canary.url}" }] }
routes:
  - name: by-cookie
    path_prefix: /cookie
    upstream: ${STABLE}
    split:
      to:
        - { upstream: ${CANARY}, weight: ${canaryWeight} }
        - { upstream: ${STABLE}, weight: 80 }
      sticky: cookie:sid
    headers:
      response:
        set: { X-Config-Revision: "${revision}" }
  - name: by-consumer
    path_prefix: /consumer
    upstream: ${STABLE}
    auth: jwt
    split: [{ upstream: ${CANARY}, weight: ${canaryWeight} }, { upstream: ${STABLE}, weight: 80 }]
`;
}

/** Asserts `count` of `n` is within ±5 standard deviations of a binomial with probability `p`. */
function assertBinomial(count: number, n: number, p: number, what: string): void {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(
    Math.abs(count - mean) <= 5 * sd,
    `${what}: ${count} of ${n}, expected ${mean.toFixed(1)} ± ${(5 * sd).toFixed(1)} (5 sd)`,
  );
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const count = (sides: readonly string[], side: string) => sides.filter((s) => s === side).length;

describe('split: a weighted, sticky canary split end to end', () => {
  let stable: TestUpstream;
  let canary: TestUpstream;
  let gw: TestGateway | undefined;

  before(async () => {
    // Each upstream says who it is; the gateway passes the header through.
    const answer = (name: string) =>
      startUpstream((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name });
        res.end(name);
      });
    stable = await answer(STABLE);
    canary = await answer(CANARY);
    gw = await startTestGateway(config(canary, stable, 20));
  });
  after(async () => {
    await gw?.stop();
    await stable?.close();
    await canary?.close();
  });

  /** The upstream that answered `path` (its X-Served-By). */
  async function sideOf(path: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await fetch(gw!.url + path, { headers });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const side = res.headers.get('x-served-by');
    assert.ok(side === CANARY || side === STABLE, `answered by ${side}`);
    assert.equal(body, side);
    return side;
  }
  const byCookie = (key: string, extra: Record<string, string> = {}) =>
    sideOf(`/cookie/${key}`, { cookie: `theme=dark; sid=${key}`, ...extra });

  /**
   * The access lines of `route` once there are `n` (a line is written when its exchange completes, which may
   * be a moment after the client has read the response).
   */
  async function linesOf(route: string, n: number): Promise<Record<string, unknown>[]> {
    const deadline = performance.now() + 15_000;
    for (;;) {
      const lines = gw!.accessLines().filter((l) => l.route === route);
      if (lines.length >= n || performance.now() > deadline) return lines;
      await sleep(20);
    }
  }

  /** Reloads with the canary at `canaryWeight` and config `revision`, and checks the new config serves. */
  async function reload(canaryWeight: number, revision: number): Promise<void> {
    gw!.writeConfig(config(canary, stable, canaryWeight, revision));
    const outcome = await gw!.portico.gateway.reload('test');
    assert.equal(outcome.status, 'reloaded', JSON.stringify(outcome));
    const res = await fetch(`${gw!.url}/cookie/probe`);
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-config-revision'), String(revision));
  }

  it('cookie stickiness: the canary takes its share of 2,000 clients, each on one side, as logged and counted', async () => {
    const keys = Array.from(
      { length: 2000 },
      (_, i) => `c${i}-${(Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(36)}`,
    );
    const sides = await mapLimit(keys, 16, (k) => byCookie(k));
    const onCanary = count(sides, CANARY);
    assertBinomial(onCanary, keys.length, 20 / 100, 'clients on the canary');
    assert.equal(canary.received.length, onCanary, 'the canary upstream saw exactly its clients');
    assert.equal(stable.received.length, keys.length - onCanary);

    // The same clients again, with their cookie among others and from another connection: the same side.
    const again = await mapLimit(keys.slice(0, 200), 8, (k) =>
      sideOf(`/cookie/${k}`, { cookie: `a=1;sid="${k}" ; z=2`, connection: 'close' }),
    );
    assert.deepEqual(again, sides.slice(0, 200), 'a client changed sides');

    // X-Canary forces a side whatever the cookie says; an unknown value changes nothing.
    const stableKey = keys[sides.indexOf(STABLE)]!;
    const canaryKey = keys[sides.indexOf(CANARY)]!;
    assert.equal(await byCookie(stableKey, { 'x-canary': 'always' }), CANARY);
    assert.equal(await byCookie(canaryKey, { 'x-canary': 'never' }), STABLE);
    assert.equal(await byCookie(stableKey, { 'x-canary': CANARY }), CANARY);
    assert.equal(await byCookie(canaryKey, { 'x-canary': 'maybe' }), CANARY);

    // Every access line names the side that answered it: the key in its path gives the side it must be.
    const expected = new Map(keys.map((k, i) => [`/cookie/${k}`, sides[i]]));
    const lines = await linesOf('by-cookie', keys.length + 200 + 4);
    assert.equal(lines.length, keys.length + 200 + 4);
    let forced = 0;
    for (const l of lines) {
      assert.ok(l.split === CANARY || l.split === STABLE, JSON.stringify(l));
      if (l.split !== expected.get(l.path as string)) forced++;
    }
    assert.equal(forced, 3, 'only the three forced requests left their side');
    const loggedCanary = lines.filter((l) => l.split === CANARY).length;

    const metrics = await (await fetch(`${gw!.adminUrl}/metrics`)).text();
    const counted = (upstream: string) =>
      sample(metrics, 'portico_split_requests_total', { route: 'by-cookie', upstream });
    assert.equal(counted(CANARY), loggedCanary);
    assert.equal(counted(STABLE), lines.length - loggedCanary);
  });

  it('consumer stickiness (JWT sub): the share of 300 consumers, each on one side, forcing included', async () => {
    const subs = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    const tokens = await Promise.all(
      subs.map((sub) =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(sub)
          .setIssuedAt()
          .setExpirationTime('10m')
          .sign(new TextEncoder().encode(SECRET)),
      ),
    );
    const get = (t: string, extra: Record<string, string> = {}) =>
      sideOf('/consumer/orders', { authorization: `Bearer ${t}`, ...extra });
    const sides = await mapLimit(tokens, 16, (t) => get(t));
    assertBinomial(count(sides, CANARY), subs.length, 20 / 100, 'consumers on the canary');
    // Every client comes from 127.0.0.1: the consumer, not the address, decided.
    assert.ok(count(sides, STABLE) > 0 && count(sides, CANARY) > 0);
    const again = await mapLimit(tokens, 16, (t) => get(t));
    assert.deepEqual(again, sides, 'a consumer changed sides');

    // Every access line names its consumer's side.
    const sideBySub = new Map(subs.map((s, i) => [s, sides[i]]));
    const consumerLines = await linesOf('by-consumer', 2 * subs.length);
    assert.equal(consumerLines.length, 2 * subs.length);
    for (const l of consumerLines)
      assert.equal(l.split, sideBySub.get(l.consumer as string), JSON.stringify(l));

    const stableToken = tokens[sides.indexOf(STABLE)]!;
    assert.equal(await get(stableToken, { 'X-Canary': 'always' }), CANARY);
    assert.equal(await get(tokens[sides.indexOf(CANARY)]!, { 'X-Canary': 'never' }), STABLE);
  });

  it('a reload keeps every client on its side; raising the canary 20 → 40 moves clients only onto the canary', async () => {
    const keys = Array.from({ length: 800 }, (_, i) => `reload-${i}`);
    const before = await mapLimit(keys, 16, (k) => byCookie(k));

    await reload(20, 1);
    const same = await mapLimit(keys, 16, (k) => byCookie(k));
    assert.deepEqual(same, before, 'a client changed sides across a reload with the same weights');

    await reload(40, 2);
    const raised = await mapLimit(keys, 16, (k) => byCookie(k));
    let movedToCanary = 0;
    keys.forEach((k, i) => {
      if (before[i] === CANARY) assert.equal(raised[i], CANARY, `${k} left the canary when its weight rose`);
      else if (raised[i] === CANARY) movedToCanary++;
    });
    // 20/100 were on the canary, 40/120 are now: the difference moved, and nobody else.
    assertBinomial(movedToCanary, keys.length, 40 / 120 - 20 / 100, 'clients moved onto the canary');
    assertBinomial(count(raised, CANARY), keys.length, 40 / 120, 'clients on the canary after the raise');
  });
});

describe('split: portico validate refuses a bad split at its line', () => {
  const files = tempDir({
    // Schema mistakes (validate stops before compiling when there are any).
    'weights.yaml': `gateway:
  listen: "127.0.0.1:0"
upstreams:
  orders: { targets: [{ url: "http://127.0.0.1:9" }] }
  orders-v2: { targets: [{ url: "http://127.0.0.1:9" }] }
routes:
  - name: zero
    path_prefix: /a
    upstream: orders
    split:
      - { upstream: orders-v2, weight: 0 }
      - { upstream: orders, weight: 100 }
  - name: negative
    path_prefix: /b
    upstream: orders
    split:
      to:
        - { upstream: orders-v2, weight: -5 }
        - { upstream: orders, weight: 95 }
      sticky: cookie:sid
  - name: alone
    path_prefix: /c
    upstream: orders
    split: [{ upstream: orders, weight: 5 }]
`,
    // Mistakes found when the routes compile.
    'upstreams.yaml': `gateway:
  listen: "127.0.0.1:0"
upstreams:
  orders: { targets: [{ url: "http://127.0.0.1:9" }] }
  orders-v2: { targets: [{ url: "http://127.0.0.1:9" }] }
routes:
  - name: unknown
    path_prefix: /a
    upstream: orders
    split:
      to:
        - upstream: ordres-v2
          weight: 5
        - upstream: orders
          weight: 95
  - name: twice
    path_prefix: /b
    upstream: orders
    split:
      - { upstream: orders, weight: 5 }
      - { upstream: orders, weight: 95 }
`,
  });
  after(() => files.remove());

  /** The issue lines of `portico validate FILE`, which must exit 1. */
  async function refused(name: string): Promise<string[]> {
    const file = files.path(name);
    const r = await runCli(['validate', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    return r.stderr
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().replace(file, name));
  }

  it('weights that are not positive, and a split of one side', async () => {
    assert.deepEqual(await refused('weights.yaml'), [
      'weights.yaml:11:40 routes[0].split[0].weight: expected a positive number, got 0 (the minimum is 0.0001)',
      'weights.yaml:18:42 routes[1].split.to[0].weight: expected a positive number, got -5 (the minimum is 0.0001)',
      'weights.yaml:24:12 routes[2].split: expected at least 2 items, got 1',
    ]);
  });

  it('an unknown upstream and an upstream listed twice', async () => {
    assert.deepEqual(await refused('upstreams.yaml'), [
      'upstreams.yaml:12:21 routes[0].split.to[0].upstream: no upstream named "ordres-v2" — did you mean "orders-v2"?',
      'upstreams.yaml:21:21 routes[1].split[1].upstream: upstream "orders" is already side 1 of this split; list each upstream once',
    ]);
  });
});
