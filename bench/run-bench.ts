// Entry of `npm run bench`: runs the interleaved scenarios and the router benchmark, prints the report.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OptionError, readOptions, type BenchOptions, type ScenarioId } from './bench-options.js';
import { killAllNow, stopAll } from './child-processes.js';
import { clockTicksPerSecond, procStatAvailable } from './cpu-usage.js';
import { detectLoadGenerator } from './load-generator.js';
import {
  apiKeyConfig,
  jwtConfig,
  observedConfig,
  quietConfig,
  passThroughConfig,
  policiesConfig,
  rateLimitConfig,
  transformConfig,
  cacheConfig,
  resilientConfig,
  routerConfig,
  routerRequestPath,
} from './portico-config.js';
import { redisMissingReason, startRedis, type BenchRedis } from './redis-server.js';
import {
  oneLine,
  redisNote,
  renderAdded,
  renderTable,
  renderTargets,
  smallestTickDelta,
  standardColumns,
  type ScenarioResult,
} from './report.js';
import {
  freePort,
  measureRound,
  porticoMissingReason,
  startOwnServer,
  startPortico,
  type RunContext,
  type Subject,
} from './subjects.js';
import { decidePinning, gitRevision, machineLine } from './system-info.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const ROUTER_SIZES = [10, 10_000] as const;

/** The temp dir holding the Portico configs, removed on every exit path. */
let tmpDir: string | null = null;

const LABELS: Record<ScenarioId, string> = {
  upstream: 'upstream (direct)',
  baseline: 'baseline: node:http + undici.Pool',
  'portico-pass': 'Portico pass-through',
  'portico-quiet': 'Portico default route, observability off',
  'portico-observed': 'Portico metrics + access log + tracing',
  'portico-policies': 'Portico tracing + headers',
  'portico-apikey': 'Portico API key (default route, observability off)',
  'portico-jwt-cached': 'Portico JWT RS256, verification cached',
  'portico-jwt-uncached': 'Portico JWT RS256, every request verified',
  'portico-ratelimit-memory': 'Portico rate limit, memory store (default route, observability off)',
  'portico-ratelimit-redis': 'Portico rate limit, Redis store (default route, observability off)',
  'portico-resilient':
    'Portico named upstream with circuit breaker, retries and passive health (default route, observability off)',
  'portico-json10k': 'Portico 10 KB JSON response, passed through (default route, observability off)',
  'portico-transform': 'Portico 10 KB JSON response, transformed (rename, remove, mask in an array, wrap)',
  'portico-cache-hit': 'Portico cache hit, memory store (default route, observability off)',
};

/** The rate-limit rows: figures over the default route without a limit, no target. */
const RATE_LIMIT_ROWS = [
  { id: 'portico-ratelimit-memory', label: 'memory store' },
  { id: 'portico-ratelimit-redis', label: 'Redis store (loopback, Redis on the load-generator CPU)' },
] as const;

function newResult(id: string, label: string): ScenarioResult {
  return { id, label, measurements: [], unavailable: null };
}

function pending(id: string, label: string, reason: string): Subject {
  const result = newResult(id, label);
  result.unavailable = { kind: 'pending', reason };
  return { result, proc: null, port: 0, path: '/', headers: {}, measureCpu: true };
}

async function startScenario(ctx: RunContext, id: ScenarioId, upstreamPort: number): Promise<Subject> {
  const result = newResult(id, LABELS[id]);
  const missing = porticoMissingReason();
  switch (id) {
    case 'upstream':
      throw new Error('the upstream subject is built by the caller');
    case 'baseline': {
      const origin = `http://127.0.0.1:${upstreamPort}`;
      const { proc, port } = await startOwnServer(ctx, id, 'baseline-proxy', [origin], ctx.pinning.proxyCpu);
      return { result, proc, port, path: '/', headers: {}, measureCpu: true };
    }
    case 'portico-pass':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => passThroughConfig(port, upstreamPort), '/', {});
    case 'portico-quiet':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => quietConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-observed': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const collectorPort = await freePort();
      return startPortico(ctx, result, (port) => observedConfig(port, upstreamPort, collectorPort), '/', {
        traceparent: TRACEPARENT,
      });
    }
    case 'portico-policies':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => policiesConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-apikey': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const key = 'pk_bench_' + randomBytes(24).toString('base64url');
      const hash = 'sha256:' + createHash('sha256').update(key).digest('hex');
      return startPortico(ctx, result, (port) => apiKeyConfig(port, upstreamPort, hash), '/', {
        traceparent: TRACEPARENT,
        'x-api-key': key,
      });
    }
    case 'portico-jwt-cached':
    case 'portico-jwt-uncached': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const { pem, token } = await benchToken();
      const cacheSize = id === 'portico-jwt-cached' ? 10_000 : 0;
      return startPortico(ctx, result, (port) => jwtConfig(port, upstreamPort, pem, cacheSize), '/', {
        traceparent: TRACEPARENT,
        authorization: `Bearer ${token}`,
      });
    }
    case 'portico-ratelimit-memory':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => rateLimitConfig(port, upstreamPort, null), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-json10k':
    case 'portico-transform':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(
        ctx,
        result,
        (port) => transformConfig(port, upstreamPort, id === 'portico-transform'),
        '/json10k',
        { traceparent: TRACEPARENT },
      );
    case 'portico-cache-hit':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => cacheConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-resilient':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => resilientConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-ratelimit-redis': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const noRedis = redisMissingReason();
      if (noRedis !== null) return pending(id, LABELS[id], noRedis);
      let redis: BenchRedis;
      try {
        redis = await startRedis(ctx, await freePort(), ctx.readyTimeoutMs);
      } catch (err: unknown) {
        const reason = `redis-server did not start: ${err instanceof Error ? err.message : String(err)}`;
        result.unavailable = { kind: 'failed', reason };
        process.stderr.write(`${id}: ${reason}\n`);
        return { result, proc: null, port: 0, path: '/', headers: {}, measureCpu: true };
      }
      const url = redis.url;
      return startPortico(
        ctx,
        result,
        (port) => rateLimitConfig(port, upstreamPort, url),
        '/',
        { traceparent: TRACEPARENT },
        redis,
      );
    }
  }
}

/** An RS256 key pair made for this run and a one-hour token signed with it. */
async function benchToken(): Promise<{ pem: string; token: string }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const token = await new SignJWT({ sub: 'bench-user', roles: ['customer'], scope: 'orders:read' })
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer('https://bench.portico.dev/')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return { pem: await exportSPKI(publicKey), token };
}

async function startRouter(ctx: RunContext, routes: number, upstreamPort: number): Promise<Subject> {
  const id = `router-${routes}`;
  const label = `${routes.toLocaleString('en-US')} routes`;
  const missing = porticoMissingReason();
  if (missing !== null) return pending(id, label, missing);
  const build = (port: number): string => routerConfig(port, upstreamPort, routes);
  return startPortico(ctx, newResult(id, label), build, routerRequestPath(routes), {});
}

async function runRounds(
  ctx: RunContext,
  title: string,
  subjects: readonly Subject[],
  rounds: number,
): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    process.stderr.write(`${title}: round ${round}/${rounds}\n`);
    for (const subject of subjects) await measureRound(ctx, subject, round);
  }
}

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

function renderReport(opts: BenchOptions, ctx: RunContext, main: Subject[], router: Subject[]): string {
  const results = main.map((s) => s.result);
  const baseline = results.find((r) => r.id === 'baseline');
  const routerResults = router.map((s) => s.result);
  const tick = 1000 / clockTicksPerSecond();
  const smallest = smallestTickDelta([...results, ...routerResults]);
  const unavailable = [...results, ...routerResults].filter((r) => r.unavailable !== null);
  const lines = [
    '# Portico benchmark',
    '',
    `${machineLine()} · pinning: ${ctx.pinning.description} · load generator: ${ctx.generator.description} · ` +
      `${opts.durationS} s timed after ${opts.warmupS} s warm-up · ${opts.connections} connections · ` +
      `${opts.rounds} interleaved round(s) · git ${gitRevision(repoRoot()) ?? 'n/a'} · ${new Date().toISOString()}`,
    '',
    'Cells: median of the rounds (min–max). CPU µs/req = (utime+stime delta of the proxy process over the timed ' +
      'window) ÷ completed requests; the ratio is taken per round against the baseline of the same round.',
    '',
    renderTable('Scenario', results, standardColumns(baseline, 'baseline')),
    '',
    'Targets:',
    '',
    renderTargets(
      [
        {
          label: 'Portico pass-through',
          scenario: results.find((r) => r.id === 'portico-pass'),
          maxRatio: 1.15,
        },
        {
          label: 'Portico metrics + access log + tracing (sampling off)',
          scenario: results.find((r) => r.id === 'portico-observed'),
          maxRatio: 1.1,
          reference: results.find((r) => r.id === 'portico-quiet'),
          referenceLabel: 'the default route with observability off',
        },
        {
          label: 'Portico with tracing + headers',
          scenario: results.find((r) => r.id === 'portico-policies'),
          maxRatio: 1.3,
        },
      ],
      baseline,
    ),
  ];
  const rateLimited = RATE_LIMIT_ROWS.map(({ id, label }) => ({
    label,
    scenario: results.find((r) => r.id === id),
  }));
  if (rateLimited.some((row) => row.scenario !== undefined)) {
    lines.push(
      '',
      'Rate limiting (figures, no target): CPU added per request by a limit that never refuses ' +
        '(`capacity`/`refill` 1e9, `key: ip`), paired per round with the default route without it:',
      '',
      renderAdded(
        rateLimited,
        results.find((r) => r.id === 'portico-quiet'),
        'the default route with observability off',
      ),
    );
  }
  const cached = results.find((r) => r.id === 'portico-cache-hit');
  if (cached !== undefined) {
    lines.push(
      '',
      'Caching (figures, no target): a cache hit (memory store, `ttl_s: 3600`) against the same route ' +
        'proxied to the upstream, paired per round (negative: the hit is cheaper):',
      '',
      renderAdded(
        [{ label: 'cache hit', scenario: cached }],
        results.find((r) => r.id === 'portico-quiet'),
        'the default route with observability off',
      ),
    );
  }
  const transformed = results.find((r) => r.id === 'portico-transform');
  if (transformed !== undefined) {
    lines.push(
      '',
      'Transformation (figures, no target): CPU added per request by a JSON response transform of a 10 KB ' +
        'body (rename, remove and mask inside a 48-item array, wrap_json) and a templated request header, ' +
        'paired per round with the same 10 KB response passed through:',
      '',
      renderAdded(
        [{ label: 'transform, 10 KB JSON', scenario: transformed }],
        results.find((r) => r.id === 'portico-json10k'),
        'the 10 KB response passed through',
      ),
    );
  }
  if (router.length > 0) {
    lines.push('', '## Router: 10 vs 10,000 routes', '');
    lines.push(
      `Same load against two Portico processes, one with 10 and one with 10,000 routes \`/svc<i>/items\`; ` +
        `requests hit the middle route (e.g. \`${routerRequestPath(10_000)}\`).`,
      '',
    );
    lines.push(renderTable('Routes', routerResults, standardColumns(routerResults[0], '10 routes')));
  }
  lines.push('', 'Notes:', '');
  lines.push(
    `- CPU time comes in ${tick} ms ticks (CLK_TCK ${clockTicksPerSecond()}); each window is read right before ` +
      'and after the timed load, so a figure is good to about ±2 ticks' +
      (smallest === null
        ? '.'
        : `; the smallest window here was ${smallest} ticks (±${((2 / smallest) * 100).toFixed(1)}%).`),
  );
  for (const r of unavailable)
    lines.push(`- ${r.label}: ${r.unavailable?.kind} — ${oneLine(r.unavailable?.reason ?? '')}`);
  for (const r of results) {
    const note = redisNote(r);
    if (note !== null) lines.push(`- ${note}.`);
  }
  if (results.some((r) => r.id === 'portico-ratelimit-redis' && r.measurements.length > 0)) {
    lines.push(
      '- The Redis store runs as configured (`timeout_ms: 50`): one ioredis connection with auto-pipelining ' +
        "off (the store's default), the checks of all concurrent requests in flight on it at once.",
    );
  }
  for (const note of ctx.notes) lines.push(`- ${note}`);
  lines.push('');
  return lines.join('\n');
}

async function main(): Promise<number> {
  const opts = readOptions();
  if (!procStatAvailable()) throw new Error('/proc/<pid>/stat is not readable: CPU per request needs Linux');
  const ctx: RunContext = {
    pinning: decidePinning(opts.pin),
    generator: detectLoadGenerator(opts.loadGenerator),
    connections: opts.connections,
    warmupS: opts.warmupS,
    durationS: opts.durationS,
    readyTimeoutMs: opts.readyTimeoutMs,
    tmpDir: (tmpDir = await mkdtemp(path.join(os.tmpdir(), 'portico-bench-'))),
    notes: [],
  };
  process.stderr.write(`load generator: ${ctx.generator.description}; pinning: ${ctx.pinning.description}\n`);
  const main: Subject[] = [];
  const router: Subject[] = [];
  try {
    const upstream = await startOwnServer(ctx, 'upstream', 'upstream-server', [], ctx.pinning.loadCpu);
    for (const id of opts.only) {
      if (id === 'upstream') {
        const result = newResult(id, LABELS[id]);
        main.push({
          result,
          proc: upstream.proc,
          port: upstream.port,
          path: '/',
          headers: {},
          measureCpu: false,
        });
      } else {
        main.push(await startScenario(ctx, id, upstream.port));
      }
    }
    if (opts.router) {
      for (const routes of ROUTER_SIZES) router.push(await startRouter(ctx, routes, upstream.port));
    }
    await runRounds(ctx, 'scenarios', main, opts.rounds);
    if (router.length > 0) await runRounds(ctx, 'router', router, opts.rounds);
  } finally {
    await stopAll();
    await rm(ctx.tmpDir, { recursive: true, force: true });
  }

  const report = renderReport(opts, ctx, main, router);
  process.stdout.write(report);
  const outDir = path.join(repoRoot(), '.bench');
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'latest.md'), report);
  process.stderr.write(`report written to ${path.join(outDir, 'latest.md')}\n`);
  // Targets failing is a result, not an error; a Portico that is built but could not be measured is.
  const failed = [...main, ...router].some((s) => s.result.unavailable?.kind === 'failed');
  return failed ? 1 : 0;
}

let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n${signal}: stopping benchmark processes\n`);
  void stopAll().finally(() => process.exit(130));
}
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
process.on('exit', () => {
  killAllNow();
  if (tmpDir !== null) rmSync(tmpDir, { recursive: true, force: true });
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    process.stderr.write(`benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof Error && !(err instanceof OptionError) && err.stack !== undefined) {
      process.stderr.write(`${err.stack}\n`);
    }
    await stopAll();
    process.exitCode = 1;
  },
);
