// Entry of `npm run bench`: runs the interleaved scenarios and the router benchmark, prints the report.
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OptionError, readOptions, type BenchOptions } from './bench-options.js';
import { killAllNow, stopAll } from './child-processes.js';
import { clockTicksPerSecond, procStatAvailable } from './cpu-usage.js';
import {
  decideRate,
  fixedRateColumns,
  fixedRateNotes,
  measureFixedRateRound,
  type RateDecision,
} from './fixed-rate.js';
import { detectLoadGenerator } from './load-generator.js';
import { routerRequestPath } from './portico-config.js';
import { LABELS, ROUTER_SIZES, newResult, startRouter, startScenario } from './scenarios.js';
import {
  oneLine,
  redisNote,
  renderAdded,
  renderTable,
  renderTargets,
  smallestTickDelta,
  standardColumns,
} from './report.js';
import { measureRound, startOwnServer, type RunContext, type Subject } from './subjects.js';
import { decidePinning, gitRevision, machineLine } from './system-info.js';
import {
  measureWebhookRound,
  renderWebhookSection,
  startWebhookAccept,
  webhookCheckFailed,
  type WebhookScenario,
} from './webhook-accept.js';

/** The 1-minute load average when the run started (other users of the machine show here). */
const loadAtStart = os.loadavg()[0] ?? Number.NaN;

/** The temp dir holding the Portico configs, removed on every exit path. */
let tmpDir: string | null = null;
/** The webhook-accept scenario's store dir (inside tmpDir unless BENCH_WEBHOOK_DIR), removed likewise. */
let webhookDir: string | null = null;

/** The rate-limit rows: figures over the default route without a limit, no target. */
const RATE_LIMIT_ROWS = [
  { id: 'portico-ratelimit-memory', label: 'memory store' },
  { id: 'portico-ratelimit-redis', label: 'Redis store (loopback, Redis on the load-generator CPU)' },
] as const;

async function runRounds(
  title: string,
  subjects: readonly Subject[],
  rounds: number,
  measure: (subject: Subject, round: number) => Promise<void>,
): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    process.stderr.write(`${title}: round ${round}/${rounds}\n`);
    for (const subject of subjects) await measure(subject, round);
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

function renderReport(
  opts: BenchOptions,
  ctx: RunContext,
  main: Subject[],
  router: Subject[],
  rate: RateDecision | null,
  webhook: WebhookScenario | null,
): string {
  const results = main.map((s) => s.result);
  const webhookResults = webhook === null ? [] : [webhook.subject.result];
  const baseline = results.find((r) => r.id === 'baseline');
  const routerResults = router.map((s) => s.result);
  const tick = 1000 / clockTicksPerSecond();
  const smallest = smallestTickDelta([...results, ...routerResults, ...webhookResults]);
  const unavailable = [...results, ...routerResults, ...webhookResults].filter((r) => r.unavailable !== null);
  const lines = [
    '# Portico benchmark',
    '',
    `${machineLine()} · pinning: ${ctx.pinning.description} · load generator: ${ctx.generator.description} · ` +
      `${opts.durationS} s timed after ${opts.warmupS} s warm-up · ${opts.connections} connections · ` +
      `${opts.rounds} interleaved round(s) · git ${gitRevision(repoRoot()) ?? 'n/a'} · ${new Date().toISOString()}`,
  ];
  // BENCH_ONLY=webhook-accept selects none of the main table's rows: the table and its targets are left out.
  if (results.length > 0) {
    lines.push(
      '',
      'Cells: median of the rounds (min–max). CPU µs/req = (utime+stime delta of the proxy process over the timed ' +
        'window) ÷ completed requests; the ratio is taken per round against the baseline of the same round. ' +
        'req/s, p50–p99.9, CPU and the ratio: at saturation (wrk, closed loop)' +
        (rate?.perSecond != null ? '; the "@" columns: at a fixed offered rate (open loop).' : '.'),
      '',
      `Fixed rate: ${rate === null ? 'not run (BENCH_FIXED_RATE=0)' : rate.description}.`,
      '',
      renderTable(
        'Scenario',
        results,
        standardColumns(
          baseline,
          'baseline',
          rate?.perSecond != null ? fixedRateColumns(rate.perSecond) : [],
        ),
      ),
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
    );
  }
  const quiet = results.find((r) => r.id === 'portico-quiet');
  if (['portico-metrics', 'portico-accesslog'].some((id) => results.some((r) => r.id === id))) {
    lines.push(
      '',
      'The default features, each alone (figures): CPU added per request, paired per round. Trace context ' +
        '(on by default) over the pass-through route:',
      '',
      renderAdded(
        [{ label: 'trace context', scenario: quiet }],
        results.find((r) => r.id === 'portico-pass'),
        'the pass-through route',
      ),
      '',
      'Request metrics, the access log and both (with span export configured, sampling off) over the default ' +
        'route with observability off:',
      '',
      renderAdded(
        [
          { label: 'request metrics', scenario: results.find((r) => r.id === 'portico-metrics') },
          { label: 'access log', scenario: results.find((r) => r.id === 'portico-accesslog') },
          {
            label: 'metrics + access log + tracing',
            scenario: results.find((r) => r.id === 'portico-observed'),
          },
        ],
        quiet,
        'the default route with observability off',
      ),
    );
  }
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
  lines.push(...renderWebhookSection(webhook, opts));
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
  for (const note of fixedRateNotes(results)) lines.push(`- ${note}`);
  for (const note of ctx.notes) lines.push(`- ${note}`);
  lines.push(
    `- Machine load (1-minute load average over ${os.availableParallelism()} CPUs, including other users): ` +
      `${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]?.toFixed(2) ?? '?'} at the end.`,
  );
  lines.push('');
  return lines.join('\n');
}

async function main(): Promise<number> {
  const opts = readOptions();
  if (!procStatAvailable()) throw new Error('/proc/<pid>/stat is not readable: CPU per request needs Linux');
  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'portico-bench-'));
  const ctx: RunContext = {
    pinning: decidePinning(opts.pin),
    generator: detectLoadGenerator(opts.loadGenerator, tmpDir),
    connections: opts.connections,
    warmupS: opts.warmupS,
    durationS: opts.durationS,
    readyTimeoutMs: opts.readyTimeoutMs,
    tmpDir,
    notes: [],
  };
  process.stderr.write(`load generator: ${ctx.generator.description}; pinning: ${ctx.pinning.description}\n`);
  const main: Subject[] = [];
  const router: Subject[] = [];
  let rate: RateDecision | null = null;
  let webhook: WebhookScenario | null = null;
  try {
    const upstream = await startOwnServer(ctx, 'upstream', 'upstream-server', [], ctx.pinning.loadCpu);
    for (const id of opts.only) {
      if (id === 'webhook-accept') continue; // its own rounds and section, below
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
    if (opts.only.includes('webhook-accept')) {
      webhookDir = await mkdtemp(path.join(opts.webhookDir ?? ctx.tmpDir, 'portico-webhooks-'));
      webhook = await startWebhookAccept(ctx, upstream.port, opts.webhookConnections, webhookDir);
    }
    if (opts.router) {
      for (const routes of ROUTER_SIZES) router.push(await startRouter(ctx, routes, upstream.port));
    }
    const saturate = (subject: Subject, round: number): Promise<void> => measureRound(ctx, subject, round);
    if (main.length > 0) await runRounds('scenarios', main, opts.rounds, saturate);
    if (opts.fixedRate && main.length > 0) {
      rate = decideRate(opts.rate, main.find((s) => s.result.id === 'baseline')?.result);
      const perSecond = rate.perSecond;
      process.stderr.write(`fixed rate: ${rate.description}\n`);
      if (perSecond !== null) {
        await runRounds(`scenarios at ${perSecond} req/s`, main, opts.rounds, (subject, round) =>
          measureFixedRateRound(ctx, subject, round, perSecond),
        );
      }
    }
    if (webhook !== null) {
      const w = webhook;
      await runRounds('webhook-accept', [w.subject], opts.rounds, (_s, round) =>
        measureWebhookRound(ctx, w, round),
      );
    }
    if (router.length > 0) await runRounds('router', router, opts.rounds, saturate);
  } finally {
    await stopAll();
    await rm(ctx.tmpDir, { recursive: true, force: true });
    if (webhookDir !== null) await rm(webhookDir, { recursive: true, force: true });
  }

  const report = renderReport(opts, ctx, main, router, rate, webhook);
  process.stdout.write(report);
  const outDir = path.join(repoRoot(), '.bench');
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'latest.md'), report);
  process.stderr.write(`report written to ${path.join(outDir, 'latest.md')}\n`);
  // Targets failing is a result, not an error; a Portico that is built but could not be measured is, and so
  // is a webhook run that was not all 202s or whose store lost an accepted event.
  const failed =
    [...main, ...router, ...(webhook === null ? [] : [webhook.subject])].some(
      (s) => s.result.unavailable?.kind === 'failed',
    ) || webhookCheckFailed(webhook);
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
  if (webhookDir !== null) rmSync(webhookDir, { recursive: true, force: true });
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
