// The runner's contract: phase order, short-circuit by return value, onResponse in reverse for the policies
// reached, sync steps never awaited, throws turned into problem+json, completion hooks after the response.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Exchange } from './exchange.js';
import { HeaderList } from './header-list.js';
import type { GatewayResponse } from './gateway-response.js';
import { gatewayResponse } from './gateway-response.js';
import type { Policy } from './policy.js';
import { runPipeline, type CompiledPipeline } from './run-pipeline.js';
import { Problem } from '../problems/problem.js';

interface Harness {
  url: string;
  close(): Promise<void>;
}

/** A real server whose every request runs through `pipeline` (built per test). */
async function serve(build: () => CompiledPipeline): Promise<Harness> {
  const server = http.createServer((req, res) => {
    const ex = new Exchange({
      req,
      res,
      startedAt: performance.now(),
      method: req.method!,
      path: req.url!,
      query: '',
      host: 'localhost',
      protocol: 'http',
      clientIp: '127.0.0.1',
      headers: new HeaderList([]),
      authority: 'localhost',
      requestBody: null,
    });
    runPipeline(ex, build());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function pipeline(
  policies: Policy[],
  opts: { upstream?: () => Promise<GatewayResponse>; complete?: (() => void)[]; errors?: unknown[] } = {},
): CompiledPipeline {
  const steps = policies.map((policy, position) => ({ position, policy }));
  return {
    request: steps.filter((s) => s.policy.onRequest),
    response: steps.filter((s) => s.policy.onResponse).reverse(),
    complete: (opts.complete ?? []).map((f) => () => f()),
    upstream:
      opts.upstream ??
      (() => Promise.resolve(gatewayResponse(200, { 'content-type': 'text/plain' }, 'upstream'))),
    onError: (_ex, err) => opts.errors?.push(err),
  };
}

describe('runPipeline', () => {
  it('runs onRequest in order, then the upstream, then onResponse in reverse', async () => {
    const trace: string[] = [];
    const mk = (n: string): Policy => ({
      onRequest: () => void trace.push(`req ${n}`),
      onResponse: (_ex, res) => {
        trace.push(`res ${n}`);
        res.headers[`x-${n}`] = '1';
      },
    });
    const h = await serve(() =>
      pipeline([mk('a'), mk('b'), mk('c')], {
        upstream: () => {
          trace.push('upstream');
          return Promise.resolve(gatewayResponse(200, {}, 'ok'));
        },
      }),
    );
    try {
      const res = await fetch(h.url);
      assert.equal(await res.text(), 'ok');
      assert.deepEqual(trace, ['req a', 'req b', 'req c', 'upstream', 'res c', 'res b', 'res a']);
      assert.equal(res.headers.get('x-a'), '1');
    } finally {
      await h.close();
    }
  });

  it('stops at a policy that returns a response; only earlier policies see onResponse', async () => {
    const trace: string[] = [];
    let upstreamCalled = false;
    const h = await serve(() =>
      pipeline(
        [
          { onRequest: () => void trace.push('req a'), onResponse: () => void trace.push('res a') },
          { onRequest: () => gatewayResponse(403, {}, 'no'), onResponse: () => void trace.push('res b') },
          { onRequest: () => void trace.push('req c'), onResponse: () => void trace.push('res c') },
        ],
        { upstream: () => ((upstreamCalled = true), Promise.resolve(gatewayResponse(200, {}, 'x'))) },
      ),
    );
    try {
      const res = await fetch(h.url);
      assert.equal(res.status, 403);
      assert.equal(await res.text(), 'no');
      assert.deepEqual(trace, ['req a', 'res a']);
      assert.equal(upstreamCalled, false);
    } finally {
      await h.close();
    }
  });

  it('awaits asynchronous steps and continues in order', async () => {
    const trace: string[] = [];
    const h = await serve(() =>
      pipeline([
        { onRequest: () => new Promise<void>((r) => setTimeout(() => (trace.push('async a'), r()), 10)) },
        { onRequest: () => void trace.push('sync b') },
        { onResponse: async (_ex, res) => ({ ...res, status: 201 }) },
      ]),
    );
    try {
      const res = await fetch(h.url);
      assert.equal(res.status, 201);
      assert.deepEqual(trace, ['async a', 'sync b']);
    } finally {
      await h.close();
    }
  });

  it('does not defer synchronous steps to a later tick', async () => {
    let sawSameTick = false;
    const h = await serve(() => {
      let marker = false;
      queueMicrotask(() => (marker = true));
      return pipeline([{ onRequest: () => void 0 }, { onRequest: () => void (sawSameTick = !marker) }]);
    });
    try {
      await (await fetch(h.url)).text();
      assert.equal(sawSameTick, true, 'a sync onRequest ran after a microtask: the runner awaited');
    } finally {
      await h.close();
    }
  });

  it('turns a thrown Problem into problem+json and an unknown error into internal-error without details', async () => {
    const errors: unknown[] = [];
    const h = await serve(() =>
      pipeline(
        [
          {
            onRequest: (ex) => {
              if (ex.path === '/problem')
                throw new Problem({ code: 'forbidden', status: 403, title: 'Forbidden', detail: 'nope' });
              if (ex.path === '/bug') throw new Error('secret internal detail at /srv/app.js:1');
            },
          },
        ],
        { errors },
      ),
    );
    try {
      const p = await fetch(`${h.url}/problem`);
      assert.equal(p.status, 403);
      assert.equal(p.headers.get('content-type'), 'application/problem+json');
      const pb = (await p.json()) as Record<string, unknown>;
      assert.equal(pb.type, 'https://portico.dev/problems/forbidden');
      assert.match(String(pb.trace_id), /^[0-9a-f]{32}$/);

      const b = await fetch(`${h.url}/bug`);
      assert.equal(b.status, 500);
      const text = await b.text();
      assert.doesNotMatch(text, /secret|app\.js/);
      assert.equal(
        (JSON.parse(text) as { type: string }).type,
        'https://portico.dev/problems/internal-error',
      );
      assert.equal(errors.length, 1, 'the unknown error is reported to onError');
    } finally {
      await h.close();
    }
  });

  it('turns a rejected upstream into a problem and runs completion hooks after the response', async () => {
    let completed = 0;
    const h = await serve(() =>
      pipeline([], {
        upstream: () =>
          Promise.reject(new Problem({ code: 'upstream-timeout', status: 504, title: 'Upstream timeout' })),
        complete: [() => completed++],
      }),
    );
    try {
      const res = await fetch(h.url);
      assert.equal(res.status, 504);
      await res.text();
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(completed, 1);
    } finally {
      await h.close();
    }
  });
});
