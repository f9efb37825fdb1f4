// The mirror policy against a stand-in shadow upstream: which requests are copied (percent, max_in_flight,
// max_body_bytes), what the copy carries (its own Exchange and headers, marked), that the route's call goes
// first and comes back untouched whatever the shadow does, how a streamed body is copied without being read,
// and how copies end (answer read, failure, timeout, the route no longer mirroring).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { Exchange } from '../../pipeline/exchange.js';
import type { BodySink, GatewayResponse, StreamingBody } from '../../pipeline/gateway-response.js';
import { HeaderList } from '../../pipeline/header-list.js';
import {
  PolicyConfigError,
  type CompileContext,
  type PolicyMetrics,
  type RouteUpstream,
} from '../../pipeline/policy.js';
import { NO_METRICS, testContext } from '../../pipeline/testing.js';
import { copyBody, createMirror, mirror } from './index.js';
import type { MirrorConfig } from './schema.js';

const DEFAULTS: MirrorConfig = {
  upstream: 'shadow',
  percent: 100,
  max_body_bytes: 1024,
  max_in_flight: 64,
  timeout_ms: 5000,
};

const PRIMARY: GatewayResponse = { status: 200, headers: {}, body: 'primary', source: 'upstream' };

interface Harness {
  readonly policy: ReturnType<typeof createMirror>;
  /** Every copy the shadow got, in order. */
  readonly copies: Exchange[];
  /** portico_mirror_requests_total by result. */
  count(result: string): number;
  /** Disposes the carried-over state, as the last snapshot mirroring the route going away does. */
  dispose(): void;
  /** Runs the upstream layer; `order` records "primary" when the route's call started. */
  run(ex: Exchange): Promise<GatewayResponse>;
  readonly order: string[];
}

function harness(
  config: Partial<MirrorConfig> = {},
  shadowForward: (copy: Exchange) => Promise<GatewayResponse> = () => Promise.resolve(answer()),
  random: () => number = () => 0.5,
): Harness {
  const copies: Exchange[] = [];
  const counts = new Map<string, number>();
  const order: string[] = [];
  let disposeState: (() => void) | undefined;
  const metrics: PolicyMetrics = {
    ...NO_METRICS,
    counter: (name, _help, labels) => {
      assert.equal(name, 'requests_total');
      assert.deepEqual(labels, ['route', 'result']);
      return {
        series: (l) => {
          assert.equal(l.route, 'orders');
          return { inc: (n = 1) => counts.set(l.result!, (counts.get(l.result!) ?? 0) + n) };
        },
      };
    },
  };
  const ctx: CompileContext = {
    ...testContext(),
    routeName: 'orders',
    metrics,
    carryOver: (_key, create, dispose) => {
      const value = create();
      disposeState = () => void dispose?.(value);
      return value;
    },
    upstream(ref?: string): RouteUpstream {
      if (ref !== 'shadow') throw new PolicyConfigError(`no upstream named "${ref}"`);
      return {
        name: 'shadow',
        label: 'shadow (1 target)',
        forward: (copy) => {
          order.push('shadow');
          copies.push(copy);
          return shadowForward(copy);
        },
        identity: 'test',
        send: () => Promise.reject(new Error('not in this test')),
      };
    },
  };
  const policy = createMirror({ ...DEFAULTS, ...config }, ctx, random);
  return {
    policy,
    copies,
    order,
    count: (result) => counts.get(result) ?? 0,
    dispose: () => disposeState!(),
    run: (ex) =>
      policy.onUpstream!(ex, () => {
        order.push('primary');
        return Promise.resolve(PRIMARY);
      }),
  };
}

function exchange(
  init: {
    method?: string;
    path?: string;
    query?: string;
    headers?: string[];
    body?: Readable | Uint8Array | null;
  } = {},
): Exchange {
  const ex = new Exchange({
    req: { socket: { bytesWritten: 0, bytesRead: 0 } } as unknown as IncomingMessage,
    res: {} as unknown as ServerResponse,
    startedAt: 0,
    method: init.method ?? 'GET',
    path: init.path ?? '/orders/7',
    query: init.query ?? '',
    host: 'gateway.test',
    protocol: 'http',
    clientIp: '10.0.0.1',
    headers: new HeaderList(init.headers ?? ['Accept', 'application/json']),
    authority: 'gateway.test',
    requestBody: null,
  });
  ex.requestBody = init.body ?? null;
  return ex;
}

/** A shadow answer whose body streams `chunks` then ends (or fails when `fail`). */
function answer(chunks: string[] = ['ok'], fail = false): GatewayResponse {
  const body: StreamingBody = {
    pipeTo(dest: BodySink) {
      setImmediate(() => {
        for (const c of chunks) dest.write(Buffer.from(c));
        if (fail) dest.destroy();
        else dest.end();
      });
    },
    collect: () => Promise.reject(new Error('not used')),
    destroy() {},
  };
  return { status: 200, headers: {}, body, source: 'upstream' };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits until `cond` holds (polled); fails after 5 s. */
async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    assert.ok(Date.now() < end, 'timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('mirror policy', () => {
  it('is the `mirror` key of the upstream phase', () => {
    assert.equal(mirror.name, 'mirror');
    assert.equal(mirror.phase, 'upstream');
  });

  it('copies the request into an Exchange of its own, marked, after the route call started', async () => {
    const h = harness();
    const ex = exchange({
      method: 'DELETE',
      path: '/api/orders/7',
      query: 'force=1',
      headers: ['Accept', 'application/json', 'X-Portico-Mirror', 'spoofed', 'Content-Length', '0'],
    });
    ex.prefixLength = 4;
    ex.upstreamPath = '/orders/7';
    const res = await h.run(ex);
    assert.equal(res, PRIMARY, "the route's answer, as it is");
    assert.deepEqual(h.order, ['primary', 'shadow']);
    const copy = h.copies[0]!;
    assert.notEqual(copy, ex);
    assert.equal(copy.method, 'DELETE');
    assert.equal(copy.path, '/api/orders/7');
    assert.equal(copy.query, 'force=1');
    assert.equal(copy.prefixLength, 4);
    assert.equal(copy.upstreamPath, '/orders/7');
    assert.equal(copy.clientIp, '10.0.0.1');
    assert.deepEqual(copy.headers.raw, ['Accept', 'application/json', 'X-Portico-Mirror', '1']);
    assert.notEqual(copy.req, ex.req, "the copy never holds the client's request or response");
    assert.notEqual(copy.res, ex.res);
    // What the route's call adds to its headers afterwards (Host, X-Forwarded-Prefix) stays its own.
    ex.headers.append('host', 'orders.internal');
    assert.equal(copy.headers.get('host'), undefined);
    await tick();
    assert.equal(h.count('sent'), 1);
    assert.match(ex.logFields, /"mirrored":true/);
  });

  it('copies `percent` of the requests, by the random source', async () => {
    const draws = [0.1, 0.5, 0.29, 0.3, 0.999];
    const h = harness({ percent: 30 }, undefined, () => draws.shift()!);
    for (let i = 0; i < 5; i++) await h.run(exchange({ path: `/r/${i}` }));
    assert.deepEqual(
      h.copies.map((c) => c.path),
      ['/r/0', '/r/2'],
    );
    const none = harness({ percent: 0 }, undefined, () => 0);
    await none.run(exchange());
    assert.equal(none.copies.length, 0);
    assert.equal(none.order.join(), 'primary');
    const all = harness({ percent: 100 }, undefined, () => 0.999999);
    await all.run(exchange());
    assert.equal(all.copies.length, 1);
  });

  it("leaves the route's answer alone when the shadow fails, and counts the failure", async () => {
    const failing = harness({}, () => Promise.reject(new Error('ECONNRESET')));
    assert.equal(await failing.run(exchange()), PRIMARY);
    const throwing = harness({}, () => {
      throw new Error('sync failure');
    });
    assert.equal(await throwing.run(exchange()), PRIMARY);
    const broken = harness({}, () => Promise.resolve(answer(['par'], true)));
    assert.equal(await broken.run(exchange()), PRIMARY);
    await tick();
    await tick();
    for (const h of [failing, throwing, broken]) {
      assert.equal(h.count('failed'), 1);
      assert.equal(h.count('sent'), 0);
    }
  });

  it('holds at most max_in_flight copies open, drops and counts the rest, and frees a slot as one ends', async () => {
    const pending: ((res: GatewayResponse) => void)[] = [];
    const h = harness(
      { max_in_flight: 2 },
      () => new Promise<GatewayResponse>((resolve) => pending.push(resolve)),
    );
    for (let i = 0; i < 5; i++) assert.equal(await h.run(exchange()), PRIMARY);
    assert.equal(h.copies.length, 2);
    assert.equal(h.count('dropped'), 3);
    pending[0]!(answer());
    await tick();
    await tick();
    assert.equal(h.count('sent'), 1);
    await h.run(exchange());
    assert.equal(h.copies.length, 3, 'a slot is free again');
  });

  it('cancels a copy past timeout_ms and counts it failed', async () => {
    let cancelled = 0;
    const h = harness({ timeout_ms: 20, max_in_flight: 1 }, (copy) => {
      return new Promise<GatewayResponse>((_resolve, reject) => {
        copy.upstreamCall = {
          cancel() {
            cancelled++;
            reject(new Error('The client closed the connection'));
          },
        };
      });
    });
    await h.run(exchange());
    await until(() => cancelled === 1);
    await tick();
    assert.equal(h.count('failed'), 1);
    await h.run(exchange());
    assert.equal(h.copies.length, 2, 'the slot is free again');
  });

  it('cancels the copies still open when the route no longer mirrors', async () => {
    let cancelled = 0;
    const h = harness({}, (copy) => {
      return new Promise<GatewayResponse>((_resolve, reject) => {
        copy.upstreamCall = {
          cancel() {
            cancelled++;
            reject(new Error('The client closed the connection'));
          },
        };
      });
    });
    await h.run(exchange());
    await h.run(exchange());
    const body = new PassThrough();
    await h.run(exchange({ method: 'POST', body }));
    h.dispose();
    await tick();
    assert.equal(cancelled, 2);
    assert.equal(h.count('failed'), 2);
    // A body still being copied is not sent any more once it has ended.
    body.on('data', () => {});
    body.end('late');
    await tick();
    assert.equal(h.copies.length, 2);
    assert.equal(h.count('failed'), 3);
  });

  it('copies a whole body given as bytes, and skips one over max_body_bytes', async () => {
    const h = harness({ max_body_bytes: 4 });
    await h.run(exchange({ method: 'POST', body: Buffer.from('abcd') }));
    assert.equal(Buffer.from(h.copies[0]!.requestBody as Uint8Array).toString(), 'abcd');
    await h.run(exchange({ method: 'POST', body: Buffer.from('abcde') }));
    assert.equal(h.copies.length, 1);
    assert.equal(h.count('skipped_body'), 1);
  });

  it('copies a streamed body as the route call reads it, and sends the copy at its end', async () => {
    const h = harness();
    const body = new PassThrough();
    const ex = exchange({ method: 'PUT', headers: ['Content-Length', '6'], body });
    body.write('abc');
    await h.run(ex);
    await tick();
    assert.equal(body.readableFlowing, null, 'the copy does not start the stream');
    assert.equal(h.copies.length, 0, 'sent only once the whole body was seen');
    const read: Buffer[] = [];
    body.on('data', (c: Buffer) => read.push(c)); // the route's upstream call reading it
    body.end('def');
    await tick();
    assert.equal(Buffer.concat(read).toString(), 'abcdef', 'the route call gets every byte');
    assert.equal(h.copies.length, 1);
    assert.equal(Buffer.from(h.copies[0]!.requestBody as Uint8Array).toString(), 'abcdef');
    assert.equal(h.copies[0]!.headers.get('content-length'), undefined, 'the copy sets its own');
    assert.equal(body.listenerCount('data'), 1, 'the copy has let go of the stream');
  });

  it('skips a streamed body declared or grown past max_body_bytes, or never read whole', async () => {
    const h = harness({ max_body_bytes: 4 });
    // Declared too large: never watched.
    const declared = new PassThrough();
    await h.run(exchange({ method: 'POST', headers: ['Content-Length', '5'], body: declared }));
    assert.equal(declared.listenerCount('data'), 0);
    assert.equal(h.count('skipped_body'), 1);
    // Chunked, past the limit while the route call reads it.
    const grown = new PassThrough();
    await h.run(exchange({ method: 'POST', body: grown }));
    const read: Buffer[] = [];
    grown.on('data', (c: Buffer) => read.push(c));
    grown.write('abc');
    grown.end('de');
    await tick();
    assert.equal(Buffer.concat(read).toString(), 'abcde');
    assert.equal(h.count('skipped_body'), 2);
    // Left unread and discarded the way Node's http server dumps a body (its `data` listeners removed).
    const dumped = new PassThrough();
    await h.run(exchange({ method: 'POST', body: dumped }));
    dumped.removeAllListeners('data');
    dumped.resume();
    dumped.end('ab');
    await tick();
    assert.equal(h.count('skipped_body'), 3);
    // The client went away mid-body.
    const gone = new PassThrough();
    await h.run(exchange({ method: 'POST', body: gone }));
    gone.on('data', () => {});
    gone.write('a');
    gone.destroy();
    await tick();
    assert.equal(h.count('skipped_body'), 4);
    assert.equal(h.copies.length, 0);
    // Each skipped body freed its slot.
    const one = harness({ max_in_flight: 1, max_body_bytes: 4 });
    const s = new PassThrough();
    await one.run(exchange({ method: 'POST', body: s }));
    s.destroy();
    await tick();
    await one.run(exchange());
    assert.equal(one.copies.length, 1);
  });

  it('refuses an unknown upstream at `mirror.upstream`', () => {
    assert.throws(
      () => harness({ upstream: 'shadwo' }),
      (err: unknown) =>
        err instanceof PolicyConfigError &&
        /no upstream named "shadwo"/.test(err.message) &&
        err.path.join('.') === 'upstream',
    );
  });
});

describe('copyBody', () => {
  it('never reads, pauses or resumes the stream it copies', async () => {
    const s = new PassThrough();
    let got: Buffer | null | undefined;
    copyBody(s, 100, (b) => (got = b));
    s.write('x');
    await tick();
    assert.equal(s.readableFlowing, null);
    assert.equal(s.readableLength, 1, 'the chunk waits for the reader');
    s.pause();
    s.on('data', () => {});
    assert.equal(s.readableFlowing, false, 'a paused reader stays paused');
    s.resume();
    s.end('y');
    await tick();
    assert.equal(got?.toString(), 'xy');
  });
});
