// End-to-end basics: a request goes through to a real upstream and back, with trace headers, and
// unmatched requests get problem+json.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

describe('proxy basics', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`
routes:
  - name: orders
    path_prefix: /orders
    upstream: ${up.url}
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('forwards a request and streams the response back', async () => {
    const res = await fetch(`${gw.url}/orders/7?x=1`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { url: string; headers: Record<string, string> };
    assert.equal(body.url, '/orders/7?x=1');
    assert.match(res.headers.get('x-trace-id') ?? '', /^[0-9a-f]{32}$/);
    assert.equal(body.headers['x-trace-id'], res.headers.get('x-trace-id'));
  });

  it('answers an unknown path with 404 problem+json carrying the trace id', async () => {
    const res = await fetch(`${gw.url}/nowhere`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const p = (await res.json()) as Record<string, unknown>;
    assert.equal(p.type, 'https://portico.dev/problems/route-not-found');
    assert.equal(p.status, 404);
    assert.equal(p.trace_id, res.headers.get('x-trace-id'));
  });

  it('writes one access line per request', async () => {
    await fetch(`${gw.url}/orders`);
    await new Promise((r) => setTimeout(r, 20));
    const line = gw.accessLines().at(-1)!;
    assert.equal(line.route, 'orders');
    assert.equal(line.status, 200);
    assert.equal(line.upstream_status, 200);
    assert.equal(typeof line.latency_ms, 'number');
  });
});
