// Access lines: the chosen fields in order, valid JSON even for hostile paths and user agents, millisecond
// formatting, the problem and aborted markers, sampling of successes only, credentials in the query
// replaced by [redacted], and batching with an explicit flush.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange } from '../pipeline/exchange.js';
import { DEFAULT_REDACTED_QUERY_PARAMS, type AccessLogField } from '../config/gateway-schema.js';
import { createAccessLog, createQueryRedactor, quoted, round3 } from './access-log.js';
import { createAccessLogger } from './logger.js';
import { testExchange } from '../pipeline/testing.js';

function fakeExchange(over: Partial<Record<string, unknown>> = {}): Exchange {
  return {
    method: 'GET',
    path: '/a"b\\c',
    query: 'x=1',
    host: 'api.example.com',
    routeName: 'orders',
    status: 200,
    upstreamTarget: 'http://127.0.0.1:1',
    upstreamStatus: 201,
    startedAt: performance.now() - 12.3456,
    upstreamLatencyMs: 3.0999,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '',
    clientIp: '10.0.0.7',
    socketWrittenAtStart: 100,
    socketReadAtStart: 0,
    problem: undefined,
    logFields: '',
    socket: { bytesWritten: 612, bytesRead: 80 },
    req: {
      socket: null, // undici clears it once it has read a request body
      headers: { 'user-agent': 'evil"\n\u0000agent' },
      httpVersion: '1.1',
    },
    res: { writableFinished: true },
    ...over,
  } as unknown as Exchange;
}

/** Settings with everything logged and the default redaction. */
const settings = (fields: readonly AccessLogField[], sample = 1) => ({
  fields: [...fields],
  sample,
  redact: [...DEFAULT_REDACTED_QUERY_PARAMS],
});

function capture(): { lines: string[]; logger: ReturnType<typeof createAccessLogger> } {
  const lines: string[] = [];
  const logger = createAccessLogger({
    write: (chunk: string) => void lines.push(...chunk.split('\n').filter((l) => l !== '')),
  });
  return { lines, logger };
}

describe('access log', () => {
  it('writes the chosen fields in order as valid JSON, escaping client-chosen values', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(
      settings([
        'method',
        'path',
        'query',
        'status',
        'upstream_status',
        'trace_id',
        'client_ip',
        'bytes_sent',
        'user_agent',
        'protocol',
      ]),
      logger,
    );
    log(fakeExchange());
    assert.equal(lines.length, 0, 'lines are batched until flushed');
    logger.close();
    assert.equal(lines.length, 1);
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), [
      'method',
      'path',
      'query',
      'status',
      'upstream_status',
      'trace_id',
      'client_ip',
      'bytes_sent',
      'user_agent',
      'protocol',
    ]);
    assert.equal(parsed.path, '/a"b\\c');
    assert.equal(parsed.user_agent, 'evil"\n\u0000agent');
    assert.equal(parsed.bytes_sent, 512);
    assert.equal(parsed.protocol, 'HTTP/1.1');
  });

  it('leaves out fields that do not apply and marks problems and aborted requests', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(
      settings(['route', 'upstream_status', 'upstream_latency_ms', 'status']),
      logger,
    );
    log(
      fakeExchange({
        routeName: '',
        upstreamStatus: 0,
        upstreamLatencyMs: -1,
        status: 404,
        problem: 'route-not-found',
        res: { writableFinished: false },
      }),
    );
    logger.close();
    assert.deepEqual(JSON.parse(lines[0]!), { status: 404, problem: 'route-not-found', aborted: true });
  });

  it('names a fallback with its reason as X-Portico-Fallback spells it, after the upstream problem', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(settings(['status']), logger);
    log(fakeExchange({ status: 200, problem: 'upstream-unavailable', fallback: 'upstream-failed' }));
    log(fakeExchange({ status: 200, fallback: 'upstream-failed' })); // a replaced upstream 5xx
    logger.close();
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      [
        { status: 200, problem: 'upstream-unavailable', fallback: 'upstream-failed' },
        { status: 200, fallback: 'upstream-failed' },
      ],
    );
  });

  it('adds the members policies logged (Exchange.logField), in ASCII, after the configured fields', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(settings(['status']), logger);
    const ex = testExchange([]);
    ex.logField('version', '2');
    ex.logField('brownout', true);
    ex.logField('note', 'caf\u00e9 "x"');
    log(Object.assign(fakeExchange({ status: 410 }), { logFields: ex.logFields }));
    log(Object.assign(fakeExchange({ status: 200 }), { logFields: ex.logFields }));
    const alone = createAccessLog(settings([]), logger);
    alone(Object.assign(fakeExchange(), { logFields: ',"split":"canary"' }));
    logger.close();
    assert.ok(
      lines.every((l) => /^[\x20-\x7e]*$/.test(l)),
      'access lines are ASCII',
    );
    assert.deepEqual(JSON.parse(lines[0]!), {
      status: 410,
      version: '2',
      brownout: true,
      note: 'caf\u00e9 "x"',
    });
    assert.deepEqual(JSON.parse(lines[2]!), { split: 'canary' });
  });

  it('with sample 1 writes through the unsampled function itself (no per-request check)', () => {
    const { logger } = capture();
    assert.equal(createAccessLog(settings(['status']), logger).name, 'writeAccessLine');
    assert.equal(createAccessLog(settings(['status'], 0.5), logger).name, 'writeSampledAccessLine');
    logger.close();
  });

  it('with sample 0 writes only errors, gateway problems, fallbacks and aborted requests', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(settings(['status', 'path'], 0), logger);
    const cases: readonly [what: string, over: Partial<Record<string, unknown>>, written: boolean][] = [
      ['200', { status: 200, path: '/ok' }, false],
      ['304', { status: 304, path: '/not-modified' }, false],
      ['399', { status: 399, path: '/edge' }, false],
      ['400', { status: 400, path: '/bad' }, true],
      ['404 problem', { status: 404, path: '/none', problem: 'route-not-found' }, true],
      ['502', { status: 502, path: '/down' }, true],
      ['200 aborted', { status: 200, path: '/gone', res: { writableFinished: false } }, true],
      ['200 with a problem', { status: 200, path: '/odd', problem: 'some-problem' }, true],
      ['200 fallback', { status: 200, path: '/fallback', fallback: 'upstream-failed' }, true],
    ];
    for (const [, over] of cases) log(fakeExchange(over));
    logger.close();
    const paths = lines.map((l) => (JSON.parse(l) as { path: string }).path);
    assert.deepEqual(
      paths,
      cases.filter(([, , written]) => written).map(([, over]) => over.path),
    );
  });

  it('with sample 0.5 writes about half of the successes and every error', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(settings(['status'], 0.5), logger);
    for (let i = 0; i < 10_000; i++) log(fakeExchange({ status: 200 }));
    for (let i = 0; i < 100; i++) log(fakeExchange({ status: 500 }));
    logger.close();
    const ok = lines.filter((l) => l === '{"status":200}').length;
    const errors = lines.filter((l) => l === '{"status":500}').length;
    // 10 000 draws at p = 0.5: the standard deviation is 50; 4 600..5 400 is eight of them either way.
    assert.ok(ok > 4600 && ok < 5400, `${ok} of 10000 successes written`);
    assert.equal(errors, 100);
  });

  it('replaces the values of credential query parameters in the query field', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(settings(['query']), logger);
    log(fakeExchange({ query: 'page=2&api_key=s3cr3t&Token=t0k3n' }));
    log(fakeExchange({ query: '' }));
    logger.close();
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      [{ query: 'page=2&api_key=[redacted]&Token=[redacted]' }, {}],
    );
  });

  it('formats milliseconds with three decimals', () => {
    for (const [ms, text] of [
      [0, '0.000'],
      [0.0006, '0.001'],
      [1.5, '1.500'],
      [12.3456, '12.346'],
      [1000.001, '1000.001'],
      [3.0999, '3.100'],
    ] as const)
      assert.equal(round3(ms), text);
  });

  it('writes a batch once it is full, without waiting for the timer', () => {
    const { lines, logger } = capture();
    const log = createAccessLog(settings(['path']), logger);
    for (let i = 0; i < 5000; i++) log(fakeExchange({ path: '/' + 'x'.repeat(40) }));
    assert.ok(lines.length > 0 && lines.length < 5000, `some lines written before close (${lines.length})`);
    logger.close();
    assert.equal(lines.length, 5000);
  });
});

describe('query redaction', () => {
  const redact = createQueryRedactor(DEFAULT_REDACTED_QUERY_PARAMS);
  const cases: readonly [query: string, logged: string][] = [
    ['', ''],
    ['page=2&sort=asc', 'page=2&sort=asc'],
    ['api_key=abc', 'api_key=[redacted]'],
    ['a=1&access_token=abc&b=2', 'a=1&access_token=[redacted]&b=2'],
    ['API_KEY=abc&Sig=def', 'API_KEY=[redacted]&Sig=[redacted]'],
    ['token=a&token=b', 'token=[redacted]&token=[redacted]'],
    ['a=1;token=abc;b=2', 'a=1;token=[redacted];b=2'],
    ['api%5Fkey=abc', 'api%5Fkey=[redacted]'],
    ['api%5key=abc', 'api%5key=abc'],
    ['token=a=b&x=1', 'token=[redacted]&x=1'],
    ['token=&token&=token', 'token=&token&=token'],
    ['tokens=abc&mytoken=abc&key2=abc', 'tokens=abc&mytoken=abc&key2=abc'],
    ['X-Amz-Signature=abc&X-Amz-Date=20260101', 'X-Amz-Signature=[redacted]&X-Amz-Date=20260101'],
    ['&&password=hunter2&', '&&password=[redacted]&'],
  ];
  for (const [query, logged] of cases)
    it(`"${query}" is logged as "${logged}"`, () => assert.equal(redact(query), logged));

  it('returns the same string when there is nothing to hide, and redacts nothing with an empty list', () => {
    const q = 'page=2&sort=asc';
    assert.equal(redact(q), q);
    assert.equal(createQueryRedactor([])('token=abc'), 'token=abc');
    assert.equal(createQueryRedactor(['Session'])('session=abc&token=x'), 'session=[redacted]&token=x');
  });
});

describe('access lines are ASCII', () => {
  it('escapes every non-ASCII character of client-chosen values, and the line still parses to the original', () => {
    const values = ['/caf\u00e9', '/\u{1F600}/x', '/\u2028"q"\\', '/plain'];
    for (const v of values) {
      const q = quoted(v);
      assert.match(q, /^[\x20-\x7e]*$/, `${JSON.stringify(v)} → ${q}`);
      assert.equal(JSON.parse(q), v);
    }
  });
});
