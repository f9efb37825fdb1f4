// Admin listener end to end: /healthz, /readyz (config hash, route count), the admin token on other paths, 405;
// /upstreams as docs/resilience.md shows it (field names, units, ISO times) and its 404 for unknown names.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'ops-admin-token-0123456789';

describe('admin listener', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin:
    listen: "127.0.0.1:0"
    token: ${TOKEN}
routes:
  - name: orders
    path_prefix: /orders
    upstream: ${up.url}
  - name: users
    path_prefix: /users
    upstream: ${up.url}
`);
    assert.ok(gw.adminUrl, 'the admin listener is enabled by default');
    admin = gw.adminUrl;
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('answers /healthz with 200 {status: ok} without a token', async () => {
    const res = await fetch(`${admin}/healthz`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('answers /readyz with 200, the loaded config hash and the route count', async () => {
    const res = await fetch(`${admin}/readyz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.status, 'ready');
    assert.equal(body.routes, 2);
    assert.equal(body.config_hash, gw.portico.gateway.holder.current.hash.slice(0, 12));
    assert.match(String(body.config_hash), /^[0-9a-f]{12}$/);
  });

  it('ignores the query string on probes', async () => {
    const res = await fetch(`${admin}/healthz?verbose=1`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });

  it('refuses other paths without the token: 401 problem+json with WWW-Authenticate', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-0123456789ab' },
      { authorization: TOKEN },
      { authorization: `Basic ${TOKEN}` },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${admin}/other`, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      const p = (await res.json()) as Record<string, unknown>;
      assert.equal(p.status, 401);
      assert.equal(typeof p.type, 'string');
      assert.ok(!JSON.stringify(p).includes(TOKEN), 'the problem never echoes the token');
    }
  });

  it('with the right bearer token answers 404 problem+json (no such admin endpoint yet)', async () => {
    const res = await fetch(`${admin}/other`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const p = (await res.json()) as Record<string, unknown>;
    assert.equal(p.status, 404);
    assert.equal(p.type, 'https://portico.dev/problems/route-not-found');
  });

  it('accepts the bearer scheme in any case ("bearer" works like "Bearer")', async () => {
    const res = await fetch(`${admin}/other`, { headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });

  it('reports the new config hash and route count on /readyz after a reload', async () => {
    const before = (await (await fetch(`${admin}/readyz`)).json()) as Record<string, unknown>;
    // The same gateway section (admin settings need a restart), one route fewer.
    gw.writeConfig(`
gateway:
  listen: "127.0.0.1:0"
  admin:
    listen: "127.0.0.1:0"
    token: ${TOKEN}
routes:
  - name: orders
    path_prefix: /orders
    upstream: ${up.url}
`);
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    const res = await fetch(`${admin}/readyz`);
    assert.equal(res.status, 200);
    const after = (await res.json()) as Record<string, unknown>;
    assert.equal(after.routes, 1);
    assert.notEqual(after.config_hash, before.config_hash);
    assert.equal(after.config_hash, gw.portico.gateway.holder.current.hash.slice(0, 12));
  });

  it('answers POST /healthz with 405 and Allow: GET, HEAD', async () => {
    const res = await fetch(`${admin}/healthz`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    await res.body?.cancel();
  });

  it('answers HEAD /healthz with 200 and no body', async () => {
    const res = await fetch(`${admin}/healthz`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  it('serves the admin API on its own port, not on the data plane', async () => {
    assert.notEqual(new URL(admin).port, String(gw.port));
    const res = await fetch(`${gw.url}/healthz`);
    assert.equal(res.status, 404, 'the data plane has no /healthz route');
    await res.body?.cancel();
  });
});

describe('admin listener without a token', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(`
routes:
  - name: orders
    path_prefix: /orders
    upstream: http://127.0.0.1:9
`);
  });
  after(async () => {
    await gw?.stop();
  });

  it('answers unknown admin paths with 404 problem+json (loopback, no token configured)', async () => {
    const res = await fetch(`${gw.adminUrl!}/other`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    await res.body?.cancel();
  });

  it('flips /readyz to 503 "draining" once shutdown starts', async () => {
    assert.equal(gw.portico.gateway.ready, true);
    // Shut the data plane down only (the admin listener stays up until stop() closes it).
    await gw.portico.gateway.shutdown('test');
    const res = await fetch(`${gw.adminUrl!}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'draining' });
    const health = await fetch(`${gw.adminUrl!}/healthz`);
    assert.equal(health.status, 200, 'liveness stays 200 while draining');
    await health.body?.cancel();
  });
});

describe('admin /upstreams: the view docs/resilience.md documents', () => {
  // An upstream with every part of the view turned on, driven until each instant has a value: a healthy
  // target and a refused one (probed once at start — too few probes to take it out of service, so requests
  // reach it — ejected on its first failure, which also opens the breaker).
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  before(async () => {
    up = await startUpstream();
    const refused = await closedPort();
    gw = await startTestGateway(`
upstreams:
  orders:
    targets: [{ url: "${up.url}" }, { url: "http://127.0.0.1:${refused}" }]
    health_check: { path: /health, interval_ms: 60000 }
    passive_health: { consecutive_failures: 1, base_ejection_ms: 60000 }
    max_ejected_percent: 50
    circuit_breaker: { consecutive_failures: 1, min_requests: 1000, open_ms: 30000 }
    retries: { attempts: 1, backoff_ms: 1 }
  idle:
    targets: [{ url: "${up.url}" }]
routes:
  - { name: orders, path_prefix: /orders, upstream: orders }
`);
    admin = gw.adminUrl!;
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  type View = Record<string, unknown> & {
    circuit: Record<string, unknown>;
    targets: (Record<string, unknown> & {
      health: Record<string, unknown>;
      ejection: Record<string, unknown>;
    })[];
  };
  const view = async (): Promise<View> => {
    const res = await fetch(`${admin}/upstreams/orders`);
    assert.equal(res.status, 200);
    return (await res.json()) as View;
  };
  /** Drives traffic until the breaker is open, one target ejected and both probed. */
  const drive = async (): Promise<View> => {
    const deadline = performance.now() + 5000;
    for (;;) {
      const v = await view();
      if (
        v.circuit.state === 'open' &&
        v.targets.some((t) => t.ejection.ejected === true) &&
        v.targets.every((t) => t.health.last_checked_at !== null)
      )
        return v;
      assert.ok(performance.now() < deadline, `never got there: ${JSON.stringify(v)}`);
      await (await fetch(`${gw.url}/orders`)).body?.cancel();
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** Every key path of a JSON value ("circuit.opened_at", "targets[].url"), sorted. */
  const shape = (v: unknown, at = ''): string[] => {
    if (Array.isArray(v)) return [...new Set(v.flatMap((x) => shape(x, `${at}[]`)))].sort();
    if (v === null || typeof v !== 'object') return [at];
    return Object.entries(v)
      .flatMap(([k, x]) => shape(x, at === '' ? k : `${at}.${k}`))
      .sort();
  };
  const documented = (): unknown => {
    const doc = readFileSync(new URL('../../docs/resilience.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Admin view'));
    const block = /```json\n([\s\S]*?)\n```/.exec(section);
    assert.ok(block, 'docs/resilience.md shows the view in a json block under "## Admin view"');
    return JSON.parse(block[1]!);
  };

  it('has exactly the fields the docs show, in the same nesting', async () => {
    const live = await drive();
    assert.deepEqual(shape(live), shape(documented()));
    const all = (await (await fetch(`${admin}/upstreams`)).json()) as { upstreams: unknown[] };
    assert.deepEqual(
      all.upstreams.map((u) => shape(u)),
      [shape(documented())],
      'GET /upstreams lists the same view, for the upstreams in use',
    );
  });

  it('gives durations as integer _ms fields and instants as ISO 8601 UTC wall-clock times', async () => {
    const v = await drive();
    const now = Date.now();
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    const instant = (value: unknown, what: string): number => {
      assert.match(String(value), iso, what);
      return Date.parse(String(value));
    };
    const openedAt = instant(v.circuit.opened_at, 'circuit.opened_at');
    assert.ok(openedAt <= now + 50 && openedAt > now - 10_000, `opened_at ${String(v.circuit.opened_at)}`);
    assert.equal(v.circuit.opens_for, undefined);
    const opensFor = v.circuit.opens_for_ms as number;
    assert.ok(Number.isInteger(opensFor) && opensFor > 0 && opensFor <= 30_000, `opens_for_ms ${opensFor}`);
    // It half-opens when it opened plus open_ms — whichever clock the breaker keeps, the two agree.
    assert.ok(Math.abs(openedAt + 30_000 - (now + opensFor)) < 1000, JSON.stringify(v.circuit));
    for (const t of v.targets) {
      const checked = instant(t.health.last_checked_at, 'health.last_checked_at');
      assert.ok(checked <= now + 50 && checked > now - 10_000, `last_checked_at ${String(checked)}`);
    }
    const ejected = v.targets.find((t) => t.ejection.ejected === true)!;
    const until = instant(ejected.ejection.ejected_until, 'ejection.ejected_until');
    assert.ok(until > now + 50_000 && until <= now + 60_000 + 50, `ejected_until ${String(until)}`);
    const kept = v.targets.find((t) => t.ejection.ejected === false)!;
    assert.equal(kept.ejection.ejected_until, null);
    // No other field looks like a time or a duration without saying its unit.
    for (const path of shape(v)) {
      const leaf = path.slice(path.lastIndexOf('.') + 1);
      assert.ok(!/(_for|_in|duration|timeout|elapsed|age)$/.test(leaf), `${path} has no unit`);
    }
  });

  it('answers 404 problem+json naming an upstream that does not exist', async () => {
    const res = await fetch(`${admin}/upstreams/nope`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const p = (await res.json()) as Record<string, unknown>;
    assert.equal(p.type, 'https://portico.dev/problems/upstream-not-found');
    assert.equal(p.status, 404);
    assert.equal(p.upstream, 'nope');
    assert.match(String(p.detail), /upstream "nope" does not exist/i);
    assert.doesNotMatch(String(p.detail), /route/i);
  });

  it('says so when the upstream is configured but no route uses it, and decodes the name', async () => {
    const idle = (await (await fetch(`${admin}/upstreams/idle`)).json()) as Record<string, unknown>;
    assert.equal(idle.status, 404);
    assert.equal(idle.upstream, 'idle');
    assert.match(String(idle.detail), /"idle" is configured but no route uses it/);
    const odd = await fetch(`${admin}/upstreams/no%20such%zz`);
    assert.equal(odd.status, 404);
    assert.equal(((await odd.json()) as Record<string, unknown>).upstream, 'no%20such%zz');
    const spaced = await fetch(`${admin}/upstreams/no%20such`);
    assert.equal(((await spaced.json()) as Record<string, unknown>).upstream, 'no such');
  });
});
