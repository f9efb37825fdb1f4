// OpenTelemetry export end to end: a real OTLP/HTTP collector (an HTTP server decoding the JSON payload)
// receives the gateway's server and client spans, linked to the client's traceparent and to what the
// upstream saw; head sampling, parent-based decisions, export failures, shutdown flush and reload.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface ReceivedSpan extends OtlpSpan {
  resource: Record<string, unknown>;
  scope: string;
  attrs: Record<string, unknown>;
}

const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

function flatten(attributes: { key: string; value: OtlpValue }[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of attributes)
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue);
  return out;
}

interface Collector {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly requests: { contentType: string | undefined; headers: http.IncomingHttpHeaders }[];
  /** Resolves when spans of `traceId` numbering at least `count` have arrived (or fails after 5 s). */
  waitFor(traceId: string, count: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

async function startCollector(): Promise<Collector> {
  const spans: ReceivedSpan[] = [];
  const requests: Collector['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ contentType: req.headers['content-type'], headers: req.headers });
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: OtlpValue }[] };
          scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans)
            spans.push({
              ...s,
              resource: flatten(rs.resource.attributes),
              scope: ss.scope.name,
              attrs: flatten(s.attributes),
            });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    requests,
    async waitFor(traceId, count) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const got = spans.filter((s) => s.traceId === traceId);
        if (got.length >= count) return got;
        if (Date.now() > deadline)
          assert.fail(
            `expected ${count} spans of trace ${traceId}, got ${got.length}: ${JSON.stringify(got)}`,
          );
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function tracingConfig(endpoint: string, upstream: string, refusedPort: number, extra = ''): string {
  return `
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  tracing:
    otlp_endpoint: ${endpoint}
    flush_interval_ms: 20
    service_name: portico-test
    resource_attributes: { deployment.environment.name: test }
    headers: { X-Collector-Key: k-123 }
${extra}
routes:
  - name: ok
    path: /ok
    upstream: ${upstream}
  - name: fail
    path: /fail
    upstream: ${upstream}
  - name: refused
    path: /refused
    upstream: http://127.0.0.1:${refusedPort}
`;
}

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const P = '00f067aa0ba902b7';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('OpenTelemetry export', () => {
  let collector: Collector;
  let up: TestUpstream;
  let gw: TestGateway;
  let refusedPort: number;
  before(async () => {
    collector = await startCollector();
    up = await startUpstream((req, res) => {
      res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'text/plain' });
      res.end('x');
    });
    refusedPort = await closedPort();
    gw = await startTestGateway(tracingConfig(collector.url, up.url, refusedPort));
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
    await collector?.close();
  });

  it('continues the client trace: server span, client span, and the upstream sees the client span', async () => {
    const res = await fetch(`${gw.url}/ok`, {
      headers: { traceparent: `00-${T}-${P}-01`, tracestate: 'vendor=abc' },
    });
    assert.equal(res.status, 200);
    await res.text();
    const echoed = res.headers.get('traceparent')!;
    const [, echoedTrace, gatewaySpan, echoedFlags] = echoed.split('-');
    assert.equal(echoedTrace, T);
    assert.equal(echoedFlags, '01');
    const seen = up.received.at(-1)!.headers['traceparent'] as string;
    const [, upTrace, upParent, upFlags] = seen.split('-');
    assert.equal(upTrace, T, 'the upstream continues the same trace');
    assert.equal(upFlags, '01');
    assert.notEqual(upParent, P, 'the upstream gets a new parent span id');
    assert.notEqual(upParent, gatewaySpan, "the upstream's parent is the client span, not the server span");
    assert.equal(up.received.at(-1)!.headers['tracestate'], 'vendor=abc', 'tracestate is passed on');

    const spans = await collector.waitFor(T, 2);
    const server = spans.find((s) => s.kind === SERVER)!;
    const client = spans.find((s) => s.kind === CLIENT)!;
    assert.ok(server && client, JSON.stringify(spans));
    assert.equal(server.spanId, gatewaySpan);
    assert.equal(server.parentSpanId, P, "the server span's parent is the client's span");
    assert.equal(server.name, 'GET ok');
    assert.equal(server.attrs['http.request.method'], 'GET');
    assert.equal(server.attrs['url.path'], '/ok');
    assert.equal(server.attrs['http.response.status_code'], 200);
    assert.equal(server.attrs['portico.route'], 'ok');
    assert.equal(server.attrs['client.address'], '127.0.0.1');
    assert.equal(client.spanId, upParent);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.name, 'GET');
    assert.equal(client.attrs['server.address'], '127.0.0.1');
    assert.equal(client.attrs['server.port'], up.port);
    assert.equal(client.attrs['http.response.status_code'], 200);
    assert.notEqual(server.status?.code, STATUS_ERROR);
    // The upstream call lies within the gateway's handling.
    const ns = (v: string) => BigInt(v);
    assert.ok(ns(client.startTimeUnixNano) >= ns(server.startTimeUnixNano));
    assert.ok(ns(client.endTimeUnixNano) <= ns(server.endTimeUnixNano));
    assert.ok(ns(server.endTimeUnixNano) > ns(server.startTimeUnixNano));
    // Wall-clock times, not process-relative ones.
    const startMs = Number(ns(server.startTimeUnixNano) / 1_000_000n);
    assert.ok(Math.abs(startMs - Date.now()) < 60_000, `start ${startMs} is near now`);

    assert.equal(server.resource['service.name'], 'portico-test');
    assert.equal(server.resource['deployment.environment.name'], 'test');
    assert.match(String(server.resource['service.version']), /^\d+\.\d+\.\d+/);
    assert.equal(server.scope, 'portico');
    const exportRequest = collector.requests.find((r) => r.headers['x-collector-key'] !== undefined)!;
    assert.equal(exportRequest.headers['x-collector-key'], 'k-123', 'configured headers reach the collector');
    assert.match(exportRequest.contentType ?? '', /application\/json/);
  });

  it('starts a root span when the client sent no traceparent; the trace id is the X-Trace-Id', async () => {
    const res = await fetch(`${gw.url}/ok`);
    await res.text();
    const traceId = res.headers.get('x-trace-id')!;
    assert.match(traceId, /^[0-9a-f]{32}$/);
    const spans = await collector.waitFor(traceId, 2);
    const server = spans.find((s) => s.kind === SERVER)!;
    assert.equal(server.parentSpanId ?? '', '', 'a root span');
    assert.equal(res.headers.get('traceparent'), `00-${traceId}-${server.spanId}-01`);
  });

  it('marks upstream 5xx and upstream failures as errors', async () => {
    const fail = await fetch(`${gw.url}/fail`, { headers: { traceparent: `00-${'a'.repeat(32)}-${P}-01` } });
    await fail.text();
    assert.equal(fail.status, 503);
    const failSpans = await collector.waitFor('a'.repeat(32), 2);
    const failServer = failSpans.find((s) => s.kind === SERVER)!;
    const failClient = failSpans.find((s) => s.kind === CLIENT)!;
    assert.equal(failServer.status?.code, STATUS_ERROR);
    assert.equal(failServer.attrs['error.type'], '503');
    assert.equal(failClient.status?.code, STATUS_ERROR);
    assert.equal(failClient.attrs['http.response.status_code'], 503);

    const refused = await fetch(`${gw.url}/refused`, {
      headers: { traceparent: `00-${'b'.repeat(32)}-${P}-01` },
    });
    await refused.text();
    assert.equal(refused.status, 502);
    const refusedSpans = await collector.waitFor('b'.repeat(32), 2);
    const rServer = refusedSpans.find((s) => s.kind === SERVER)!;
    const rClient = refusedSpans.find((s) => s.kind === CLIENT)!;
    assert.equal(rServer.attrs['portico.problem'], 'upstream-unavailable');
    assert.equal(rClient.attrs['error.type'], 'upstream-unavailable');
    assert.equal(rClient.attrs['http.response.status_code'], undefined, 'no status: nothing answered');
    assert.equal(rClient.status?.code, STATUS_ERROR);
  });

  it('records gateway-made answers (no route) as a server span only', async () => {
    const res = await fetch(`${gw.url}/nowhere`, {
      headers: { traceparent: `00-${'c'.repeat(32)}-${P}-01` },
    });
    await res.text();
    assert.equal(res.status, 404);
    const spans = await collector.waitFor('c'.repeat(32), 1);
    await sleep(100);
    const all = collector.spans.filter((s) => s.traceId === 'c'.repeat(32));
    assert.equal(all.length, 1, 'no client span: the upstream was not called');
    assert.equal(spans[0]!.kind, SERVER);
    assert.equal(spans[0]!.name, 'GET');
    assert.equal(spans[0]!.attrs['portico.problem'], 'route-not-found');
    assert.equal(spans[0]!.attrs['http.response.status_code'], 404);
  });

  it("follows an unsampled parent: nothing exported, the upstream is told 'not sampled'", async () => {
    const d = 'd'.repeat(32);
    const res = await fetch(`${gw.url}/ok`, { headers: { traceparent: `00-${d}-${P}-00` } });
    await res.text();
    const seen = up.received.at(-1)!.headers['traceparent'] as string;
    assert.ok(seen.startsWith(`00-${d}-`) && seen.endsWith('-00'), seen);
    assert.equal(res.headers.get('traceparent'), seen, 'unsampled: one span id, no client span');
    // A sampled request sent afterwards is exported, so the collector is flushed past the unsampled one.
    const e = 'e'.repeat(32);
    await (await fetch(`${gw.url}/ok`, { headers: { traceparent: `00-${e}-${P}-01` } })).text();
    await collector.waitFor(e, 2);
    assert.equal(collector.spans.filter((s) => s.traceId === d).length, 0);
  });

  it('counts exported spans in /metrics', async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const m = /^portico_tracing_spans_total\{result="exported"\} (\d+)$/m.exec(text);
    assert.ok(m, text.slice(0, 2000));
    assert.ok(Number(m[1]) >= collector.spans.length - 2, `${m[1]} vs ${collector.spans.length}`);
  });
});

describe('OpenTelemetry export: sampling, failures, shutdown and reload', () => {
  let up: TestUpstream;
  let refusedPort: number;
  before(async () => {
    up = await startUpstream();
    refusedPort = await closedPort();
  });
  after(async () => {
    await up?.close();
  });

  it('head sampling at ratio 0 exports nothing and sends flags 00; parent_based: false overrides the parent', async () => {
    const collector = await startCollector();
    const gw = await startTestGateway(
      tracingConfig(collector.url, up.url, refusedPort, '    sample_ratio: 0\n    parent_based: false'),
    );
    try {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${gw.url}/ok`, { headers: { traceparent: `00-${T}-${P}-01` } });
        await res.text();
        const seen = up.received.at(-1)!.headers['traceparent'] as string;
        assert.ok(seen.startsWith(`00-${T}-`) && seen.endsWith('-00'), seen);
      }
      const res = await fetch(`${gw.url}/ok`);
      await res.text();
      assert.ok(res.headers.get('traceparent')!.endsWith('-00'));
      await sleep(200);
      assert.equal(collector.spans.length, 0);
    } finally {
      await gw.stop();
      await collector.close();
    }
  });

  it('samples about the configured share of new traces, consistently by trace id', async () => {
    const collector = await startCollector();
    const gw = await startTestGateway(
      tracingConfig(collector.url, up.url, refusedPort, '    sample_ratio: 0.25'),
    );
    try {
      let sampled = 0;
      const n = 200;
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${gw.url}/ok`);
        await res.text();
        if (res.headers.get('traceparent')!.endsWith('-01')) sampled++;
      }
      assert.ok(sampled > n * 0.1 && sampled < n * 0.45, `sampled ${sampled} of ${n}`);
      const deadline = Date.now() + 5000;
      while (collector.spans.length < sampled * 2 && Date.now() < deadline) await sleep(20);
      assert.equal(collector.spans.length, sampled * 2, 'exactly the sampled requests were exported');
      // The decision depends on the trace id alone: the same trace is decided alike every time (and by
      // every gateway of a fleet).
      for (let i = 0; i < 20; i++) {
        const id = (i.toString(16).padStart(2, '0') + 'f3a9c1').repeat(4);
        const flags = new Set<string>();
        for (let k = 0; k < 3; k++) {
          const res = await fetch(`${gw.url}/ok`, { headers: { 'x-trace-id': id } });
          await res.text();
          assert.ok(res.headers.get('traceparent')!.startsWith(`00-${id}-`));
          flags.add(res.headers.get('traceparent')!.slice(-2));
        }
        assert.equal(flags.size, 1, `trace ${id} decided alike each time`);
      }
    } finally {
      await gw.stop();
      await collector.close();
    }
  });

  it('keeps serving when the collector is down; logs trace_export_failed and counts failures', async () => {
    const downPort = await closedPort();
    const gw = await startTestGateway(
      tracingConfig(`http://127.0.0.1:${downPort}/v1/traces`, up.url, refusedPort, '    timeout_ms: 500'),
    );
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gw.url}/ok`);
        assert.equal(res.status, 200);
        await res.text();
      }
      const deadline = Date.now() + 8000;
      let event: Record<string, unknown> | undefined;
      while (!(event = gw.logs.find((l) => l.event === 'trace_export_failed')) && Date.now() < deadline)
        await sleep(50);
      assert.ok(event, 'trace_export_failed was logged');
      assert.equal(event.level, 'warn');
      const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      const m = /^portico_tracing_spans_total\{result="failed"\} (\d+)$/m.exec(text);
      assert.ok(m && Number(m[1]) > 0, 'failed spans are counted');
    } finally {
      await gw.stop();
    }
  });

  it('flushes queued spans on shutdown', async () => {
    const collector = await startCollector();
    const gw = await startTestGateway(
      tracingConfig(collector.url, up.url, refusedPort, '    flush_interval_ms: 60000').replace(
        '    flush_interval_ms: 20\n',
        '',
      ),
    );
    let traceId = '';
    try {
      const res = await fetch(`${gw.url}/ok`);
      await res.text();
      traceId = res.headers.get('x-trace-id')!;
      await sleep(100);
      assert.equal(collector.spans.length, 0, 'not exported yet: the batch waits for the interval');
    } finally {
      await gw.stop();
    }
    try {
      await collector.waitFor(traceId, 2);
    } finally {
      await collector.close();
    }
  });

  it('a reload with a new tracing config exports through the new settings', async () => {
    const collector = await startCollector();
    const yaml = tracingConfig(collector.url, up.url, refusedPort);
    const gw = await startTestGateway(yaml);
    try {
      await (
        await fetch(`${gw.url}/ok`, { headers: { traceparent: `00-${'1'.repeat(32)}-${P}-01` } })
      ).text();
      await collector.waitFor('1'.repeat(32), 2);
      gw.writeConfig(yaml.replace('service_name: portico-test', 'service_name: portico-reloaded'));
      const outcome = await gw.portico.gateway.reload('test');
      assert.equal(outcome.status, 'reloaded', JSON.stringify(outcome));
      await (
        await fetch(`${gw.url}/ok`, { headers: { traceparent: `00-${'2'.repeat(32)}-${P}-01` } })
      ).text();
      const spans = await collector.waitFor('2'.repeat(32), 2);
      assert.equal(spans[0]!.resource['service.name'], 'portico-reloaded');
    } finally {
      await gw.stop();
      await collector.close();
    }
  });
});
