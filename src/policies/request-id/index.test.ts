// Every request must carry one trace across the gateway and its upstream: these pin W3C traceparent parsing, continuation vs replacement, and when a client's own trace id is kept.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange } from '../../pipeline/exchange.js';
import { gatewayResponse } from '../../pipeline/gateway-response.js';
import type { Policy } from '../../pipeline/policy.js';
import { parseTraceparent, requestId, withSampledFlag } from './index.js';
import { testContext, testExchange } from '../../pipeline/testing.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

const context = testContext;

const exchange = testExchange;

/** The policy as the compiler builds it from the implicit config (every route gets it). */
function implicitPolicy(tracingHeader = 'X-Trace-Id'): Policy {
  const config = requestId.implicitConfig?.({ tracingHeader });
  assert.deepEqual(config, { echo: true });
  return requestId.create(config, context(tracingHeader));
}

function runRequest(policy: Policy, raw: string[]): Exchange {
  const ex = exchange(raw);
  assert.equal(policy.onRequest?.(ex), undefined, 'the request continues');
  return ex;
}

describe('parseTraceparent', () => {
  const valid: readonly (readonly [string, string])[] = [
    [`00-${TRACE}-${PARENT}-01`, '01'],
    [`00-${TRACE}-${PARENT}-00`, '00'],
    [`  00-${TRACE}-${PARENT}-01 `, '01'],
    [`01-${TRACE}-${PARENT}-01`, '01'],
    [`cc-${TRACE}-${PARENT}-09-what-the-future-adds`, '09'],
  ];
  for (const [value, flags] of valid) {
    it(`accepts ${JSON.stringify(value)}`, () => {
      assert.deepEqual(parseTraceparent(value), { traceId: TRACE, parentId: PARENT, flags });
    });
  }

  const invalid: readonly (readonly [string | undefined, string])[] = [
    [undefined, 'absent'],
    ['', 'empty'],
    [`ff-${TRACE}-${PARENT}-01`, 'version ff is forbidden'],
    [`00-00000000000000000000000000000000-${PARENT}-01`, 'all-zero trace id'],
    [`00-${TRACE}-0000000000000000-01`, 'all-zero parent id'],
    [`00-${TRACE.toUpperCase()}-${PARENT}-01`, 'upper-case hex'],
    [`00-${TRACE}-${PARENT.toUpperCase()}-01`, 'upper-case parent id'],
    [`00-${TRACE}-${PARENT}-01-extra`, 'extra fields with version 00'],
    [`cc-${TRACE}-${PARENT}-01x`, 'a future version must still separate extra fields with "-"'],
    [`00-${TRACE.slice(1)}-${PARENT}-01`, 'short trace id'],
    [`00-${TRACE}-${PARENT}1-01`, 'long parent id'],
    [`00-${TRACE}-${PARENT}`, 'no flags'],
    [`0-${TRACE}-${PARENT}-01`, 'one-digit version'],
    [`zz-${TRACE}-${PARENT}-01`, 'non-hex version'],
    [`00_${TRACE}_${PARENT}_01`, 'wrong separators'],
  ];
  for (const [value, why] of invalid) {
    it(`refuses ${why}`, () => assert.equal(parseTraceparent(value), undefined));
  }
});

describe('request_id policy: trace context', () => {
  it('continues a valid traceparent with the same trace id, a new span id, its flags and its tracestate', () => {
    const ex = runRequest(implicitPolicy(), [
      'traceparent',
      `00-${TRACE}-${PARENT}-00`,
      'tracestate',
      'vendor=abc',
    ]);
    assert.equal(ex.w3cTraceId, TRACE);
    assert.match(ex.spanId, HEX16);
    assert.notEqual(ex.spanId, PARENT);
    assert.equal(ex.traceFlags, '00');
    assert.deepEqual(ex.headers.getAll('traceparent'), [`00-${TRACE}-${ex.spanId}-00`]);
    assert.equal(ex.headers.get('tracestate'), 'vendor=abc');
    assert.equal(ex.traceId, TRACE, 'without a client trace id, the W3C trace id is the trace id');
    assert.equal(ex.headers.get('x-trace-id'), TRACE);
  });

  it('gives every continued request its own span id', () => {
    const policy = implicitPolicy();
    const spans = new Set(
      Array.from(
        { length: 20 },
        () => runRequest(policy, ['traceparent', `00-${TRACE}-${PARENT}-01`]).spanId,
      ),
    );
    assert.equal(spans.size, 20);
  });

  const replaced: readonly (readonly [string, string[]])[] = [
    ['no traceparent', ['tracestate', 'vendor=abc']],
    ['version ff', ['traceparent', `ff-${TRACE}-${PARENT}-01`, 'tracestate', 'vendor=abc']],
    ['garbage', ['traceparent', 'not a traceparent', 'tracestate', 'vendor=abc']],
    ['upper-case hex', ['traceparent', `00-${TRACE.toUpperCase()}-${PARENT}-01`, 'tracestate', 'vendor=abc']],
  ];
  for (const [why, raw] of replaced) {
    it(`starts a new trace and drops tracestate for ${why}`, () => {
      const ex = runRequest(implicitPolicy(), raw);
      assert.match(ex.w3cTraceId, HEX32);
      assert.notEqual(ex.w3cTraceId, TRACE);
      assert.notEqual(ex.w3cTraceId, '0'.repeat(32));
      assert.match(ex.spanId, HEX16);
      assert.equal(ex.traceFlags, '01');
      assert.deepEqual(ex.headers.getAll('traceparent'), [`00-${ex.w3cTraceId}-${ex.spanId}-01`]);
      assert.equal(ex.headers.get('tracestate'), undefined);
      assert.equal(ex.traceId, ex.w3cTraceId);
    });
  }
});

describe('request_id policy: the client trace id header', () => {
  it('keeps a valid client id, sends it upstream once, and still starts a W3C trace', () => {
    const ex = runRequest(implicitPolicy(), ['X-Trace-Id', 'order-42.retry:1', 'x-trace-id', 'second']);
    assert.equal(ex.traceId, 'order-42.retry:1');
    assert.deepEqual(ex.headers.getAll('x-trace-id'), ['order-42.retry:1']);
    assert.match(ex.w3cTraceId, HEX32);
  });

  it('uses a 32-hex client id as the W3C trace id when there is no traceparent', () => {
    const ex = runRequest(implicitPolicy(), ['X-Trace-Id', TRACE]);
    assert.equal(ex.traceId, TRACE);
    assert.equal(ex.w3cTraceId, TRACE);
    assert.equal(ex.headers.get('traceparent'), `00-${TRACE}-${ex.spanId}-01`);
  });

  it('keeps the traceparent trace id next to a different client id', () => {
    const ex = runRequest(implicitPolicy(), ['X-Trace-Id', 'abc', 'traceparent', `00-${TRACE}-${PARENT}-01`]);
    assert.equal(ex.traceId, 'abc');
    assert.equal(ex.w3cTraceId, TRACE);
  });

  const invalid: readonly (readonly [string, string])[] = [
    ['contains spaces', 'abc def'],
    ['is 200 characters', 'a'.repeat(200)],
    ['is 129 characters', 'a'.repeat(129)],
    ['is empty', ''],
    ['holds a quote', 'a"b'],
    ['holds non-ASCII', 'café'],
  ];
  for (const [why, value] of invalid) {
    it(`replaces a client id that ${why}`, () => {
      const ex = runRequest(implicitPolicy(), ['X-Trace-Id', value]);
      assert.match(ex.traceId, HEX32);
      assert.equal(ex.traceId, ex.w3cTraceId);
      assert.deepEqual(ex.headers.getAll('x-trace-id'), [ex.traceId]);
    });
  }

  it('accepts a client id of exactly 128 characters', () => {
    const id = 'a'.repeat(128);
    assert.equal(runRequest(implicitPolicy(), ['X-Trace-Id', id]).traceId, id);
  });

  it('reads and writes the header named by gateway.tracing_header, or by its own header setting', () => {
    const fromGateway = runRequest(implicitPolicy('X-Request-Id'), [
      'x-request-id',
      'req-1',
      'X-Trace-Id',
      'other',
    ]);
    assert.equal(fromGateway.traceId, 'req-1');
    assert.equal(fromGateway.headers.get('x-trace-id'), 'other', 'an unrelated header is left alone');

    const own = requestId.create({ header: 'X-Correlation-Id', echo: true }, context('X-Trace-Id'));
    const ex = runRequest(own, ['X-Correlation-Id', 'corr-7']);
    assert.equal(ex.traceId, 'corr-7');
    assert.equal(ex.headers.get('x-trace-id'), undefined);
  });
});

describe('request_id policy: echo', () => {
  it('returns the trace id and traceparent to the client', () => {
    const policy = implicitPolicy('X-Trace-Id');
    const ex = runRequest(policy, ['traceparent', `00-${TRACE}-${PARENT}-01`, 'X-Trace-Id', 'client-1']);
    const res = gatewayResponse(200, { 'content-type': 'text/plain', 'x-trace-id': 'from-upstream' }, null);
    assert.equal(policy.onResponse?.(ex, res), undefined);
    assert.deepEqual(res.headers, {
      'content-type': 'text/plain',
      'x-trace-id': 'client-1',
      traceparent: `00-${TRACE}-${ex.spanId}-01`,
    });
  });

  it('echoes nothing when echo is false, but still forwards upstream', () => {
    const policy = requestId.create({ echo: false }, context());
    assert.equal(policy.onResponse, undefined);
    const ex = runRequest(policy, []);
    assert.match(ex.headers.get('x-trace-id') ?? '', HEX32);
    assert.match(ex.headers.get('traceparent') ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});

describe('request_id with span export', () => {
  /** A sink that decides by a fixed answer and keeps what it is asked to record. */
  function sink(parentBased: boolean, decision: boolean) {
    const recorded: Exchange[] = [];
    const asked: string[] = [];
    return {
      recorded,
      asked,
      sink: {
        parentBased,
        sampleNew(id: string) {
          asked.push(id);
          return decision;
        },
        record(ex: Exchange) {
          recorded.push(ex);
        },
      },
    };
  }
  const policyWith = (s: ReturnType<typeof sink>['sink']) =>
    requestId.create({ echo: true }, context('X-Trace-Id', s));

  it('a sampled request sends the upstream a client span id and tells the client its server span', () => {
    const s = sink(true, true);
    const policy = policyWith(s.sink);
    const ex = runRequest(policy, ['traceparent', `00-${TRACE}-${PARENT}-01`]);
    assert.equal(ex.traceSampled, true);
    assert.equal(ex.parentSpanId, PARENT);
    assert.match(ex.upstreamSpanId, HEX16);
    assert.notEqual(ex.upstreamSpanId, ex.spanId);
    assert.equal(ex.headers.get('traceparent'), `00-${TRACE}-${ex.upstreamSpanId}-01`);
    const res = gatewayResponse(200, {}, null);
    policy.onResponse?.(ex, res);
    assert.equal(res.headers['traceparent'], `00-${TRACE}-${ex.spanId}-01`);
    assert.deepEqual(s.asked, [], 'a sampled parent decides: the ratio is not asked');
    policy.onComplete?.(ex);
    assert.deepEqual(s.recorded, [ex]);
  });

  it('an unsampled parent is followed when parent-based: flags 00, nothing recorded', () => {
    const s = sink(true, true);
    const policy = policyWith(s.sink);
    const ex = runRequest(policy, ['traceparent', `00-${TRACE}-${PARENT}-00`]);
    assert.equal(ex.traceSampled, false);
    assert.equal(ex.headers.get('traceparent'), `00-${TRACE}-${ex.spanId}-00`);
    policy.onComplete?.(ex);
    assert.deepEqual(s.recorded, []);
  });

  it('not parent-based: the ratio decides even for a sampled parent, other flag bits are kept', () => {
    const s = sink(false, false);
    const policy = policyWith(s.sink);
    const ex = runRequest(policy, ['traceparent', `00-${TRACE}-${PARENT}-03`]);
    assert.deepEqual(s.asked, [TRACE]);
    assert.equal(ex.traceFlags, '02');
    assert.equal(ex.traceSampled, false);
  });

  it('a new trace is decided by the ratio on its own trace id', () => {
    const s = sink(true, true);
    const ex = runRequest(policyWith(s.sink), []);
    assert.deepEqual(s.asked, [ex.w3cTraceId]);
    assert.equal(ex.traceFlags, '01');
    assert.equal(ex.parentSpanId, '');
    assert.equal(ex.traceSampled, true);
  });

  it('withSampledFlag sets or clears only the sampled bit', () => {
    assert.equal(withSampledFlag('00', true), '01');
    assert.equal(withSampledFlag('01', false), '00');
    assert.equal(withSampledFlag('ff', false), 'fe');
    assert.equal(withSampledFlag('02', true), '03');
  });
});
