// Access lines: the chosen fields in order, valid JSON even for hostile paths and user agents, millisecond
// formatting, the problem and aborted markers, and batching with an explicit flush.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange } from '../pipeline/exchange.js';
import { createAccessLog, round3 } from './access-log.js';
import { createAccessLogger } from './logger.js';

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
      [
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
      ],
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
    const log = createAccessLog(['route', 'upstream_status', 'upstream_latency_ms', 'status'], logger);
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
    const log = createAccessLog(['path'], logger);
    for (let i = 0; i < 5000; i++) log(fakeExchange({ path: '/' + 'x'.repeat(40) }));
    assert.ok(lines.length > 0 && lines.length < 5000, `some lines written before close (${lines.length})`);
    logger.close();
    assert.equal(lines.length, 5000);
  });
});
