// Test support for policy unit tests: an Exchange with no socket behind it, and a compile context. Used by
// *.test.ts files only; it lives in pipeline/ because policies may import nothing else.
import type { TraceSink } from './trace-sink.js';
import type { PolicyLog, PolicyMetrics } from './policy.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Exchange } from './exchange.js';
import { HeaderList } from './header-list.js';
import { PolicyConfigError, type CompileContext } from './policy.js';

/** An Exchange whose request headers are `raw` ([name, value, ...]); req/res are inert stand-ins. */
export function testExchange(raw: string[]): Exchange {
  const req = { socket: { bytesWritten: 0, bytesRead: 0 } } as unknown as IncomingMessage;
  return new Exchange({
    req,
    res: {} as unknown as ServerResponse,
    startedAt: 0,
    method: 'GET',
    path: '/',
    query: '',
    host: 'gateway.test',
    protocol: 'http',
    clientIp: '127.0.0.1',
    headers: new HeaderList(raw),
    authority: 'gateway.test',
    requestBody: null,
  });
}

/** A compile context for creating a policy outside the compiler. */
export function testContext(tracingHeader = 'X-Trace-Id', tracer?: TraceSink): CompileContext {
  return {
    routeName: 'r',
    gateway: { tracingHeader, tracer },
    carryOver: (_key, create) => create(),
    section: () => undefined,
    baseDir: process.cwd(),
    serving: false,
    watchInput: () => {},
    log: SILENT_LOG,
    throttledLog: () => SILENT_LOG,
    metrics: NO_METRICS,
    store: (_name, open) => ({ kind: 'memory', store: open({ kind: 'memory' }) }),
    admin: () => {},
    upstream: (ref) => {
      throw new PolicyConfigError(`no upstream "${ref}" in a test context`);
    },
  };
}

const NO_SERIES = { inc() {}, observe() {} };

/** Metrics that record nothing (policy unit tests). */
export const NO_METRICS: PolicyMetrics = {
  enabled: false,
  counter: () => ({ series: () => NO_SERIES }),
  histogram: () => ({ series: () => NO_SERIES }),
  gauge: () => {},
};

/** A PolicyLog that drops everything (policy unit tests). */
export const SILENT_LOG: PolicyLog = { info() {}, warn() {}, error() {} };
