// Admin listener end to end: /healthz, /readyz (config hash, route count), the admin token on other paths, 405.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
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
