// The webhook-accept scenario (BENCH_ONLY=webhook-accept): how many signed webhook events per second the real
// gateway accepts and stores durably. One Portico process (on the proxy CPU, like the other subjects) with a
// `webhook:` route whose SQLite store fsyncs every commit before the 202; POSTs of a 1 KiB event, each with its
// own delivery id, from a closed loop at a fixed concurrency (bench/webhook-load.ts, on the load CPU). Delivery
// to the bench's upstream runs in the background meanwhile; after each window the scenario waits until the
// backlog is delivered, so the next measurement (of any scenario) has the proxy CPU to itself again.
// The store alone, without HTTP (SqliteEventStore vs ThreadedEventStore at 1 and 64 in flight):
//   node --import tsx bench/webhook-store.ts [events]
import { readFileSync, realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { request } from 'undici';
import { ManagedProcess } from './child-processes.js';
import { cpuShare } from './cpu-usage.js';
import { WEBHOOK_ROUTE, webhookAcceptConfig } from './portico-config.js';
import {
  cpuPerRequest,
  fmt,
  oneLine,
  present,
  renderTable,
  spread,
  type Column,
  type ScenarioResult,
} from './report.js';
import { LABELS, newResult } from './scenarios.js';
import {
  freePort,
  markDead,
  nodeArgs,
  porticoMissingReason,
  script,
  startPortico,
  type RunContext,
  type Subject,
} from './subjects.js';
import type { EventCounts, WebhookLoadResult, WebhookLoadSpec } from './webhook-load.js';

/** The route's only signing secret; the generator signs every body with it. */
const SECRET = 'bench-secret';
const BODY_BYTES = 1024;
/** Per-request timeout of the generator, as wrk's --timeout. */
const TIMEOUT_S = 10;
/** The wait for the delivery backlog after a window ends when it has not shrunk for this long… */
const DRAIN_STALL_S = 30;
/** …or at the latest after this long. */
const DRAIN_TIMEOUT_S = 600;

export interface WebhookRound {
  readonly round: number;
  readonly load: WebhookLoadResult;
  /** Events not delivered yet (pending + delivering) when the window ended, or null when unknown. */
  readonly backlog: number | null;
  /** Seconds from the end of the generator to an empty backlog, or null when it did not empty in time. */
  readonly drainS: number | null;
  /** Events of the route in the store once drained, and the 202s answered up to then. */
  readonly stored: number | null;
  readonly answered: number;
}

export interface WebhookScenario {
  readonly subject: Subject;
  readonly adminPort: number;
  /** Where the SQLite file is, and that directory's filesystem (fsync is free on a tmpfs). */
  readonly dir: string;
  readonly filesystem: string;
  readonly connections: number;
  readonly rounds: WebhookRound[];
  /** 202s answered over all rounds so far (warm-ups included): each is an event the store must hold. */
  answered: number;
}

/** The filesystem type of the mount holding `dir` (the longest mount point above it in /proc/self/mounts). */
function filesystemOf(dir: string): string {
  try {
    const real = realpathSync(dir);
    let best = { point: '', type: 'unknown' };
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, rawPoint, type] = line.split(' ');
      if (rawPoint === undefined || type === undefined) continue;
      const point = rawPoint.replace(/\\([0-7]{3})/g, (_m, oct: string) =>
        String.fromCharCode(parseInt(oct, 8)),
      );
      const inside = point === '/' || real === point || real.startsWith(point + '/');
      if (inside && point.length >= best.point.length) best = { point, type };
    }
    return best.type;
  } catch {
    return 'unknown';
  }
}

/**
 * Starts the scenario's gateway with its store in `dir` (made by the caller, who removes it). On failure the
 * result is marked failed or pending and the rounds skip it, as with the other subjects.
 */
export async function startWebhookAccept(
  ctx: RunContext,
  upstreamPort: number,
  connections: number,
  dir: string,
): Promise<WebhookScenario> {
  const id = 'webhook-accept';
  const result = newResult(id, LABELS[id]);
  const adminPort = await freePort();
  const base = { adminPort, dir, filesystem: filesystemOf(dir), connections, rounds: [], answered: 0 };
  const missing = porticoMissingReason();
  if (missing !== null) {
    result.unavailable = { kind: 'pending', reason: missing };
    const subject = { result, proc: null, port: 0, path: WEBHOOK_ROUTE.path, headers: {}, measureCpu: true };
    return { subject, ...base };
  }
  const file = path.join(dir, 'bench-webhooks.db');
  const subject = await startPortico(
    ctx,
    result,
    (port) => webhookAcceptConfig(port, adminPort, upstreamPort, file, SECRET),
    WEBHOOK_ROUTE.path,
    {},
  );
  return { subject, ...base };
}

function parseResult(text: string): WebhookLoadResult {
  const line = text.trim().split('\n').at(-1) ?? '';
  const parsed: unknown = JSON.parse(line);
  if (parsed === null || typeof parsed !== 'object' || !('accepted' in parsed) || !('statuses' in parsed)) {
    throw new Error(`webhook-load printed no result: ${text.slice(0, 200)}`);
  }
  // JSON has no NaN: a percentile of no 202s at all arrives as null.
  const r = parsed as WebhookLoadResult;
  const num = (v: number | null): number => v ?? Number.NaN;
  return { ...r, p50Ms: num(r.p50Ms), p99Ms: num(r.p99Ms), p999Ms: num(r.p999Ms), maxMs: num(r.maxMs) };
}

async function runGenerator(ctx: RunContext, spec: WebhookLoadSpec): Promise<WebhookLoadResult> {
  const proc = new ManagedProcess({
    name: 'webhook-load',
    command: process.execPath,
    args: [...nodeArgs(script('webhook-load')), JSON.stringify(spec)],
    cpu: ctx.pinning.loadCpu,
    tasksetPath: ctx.pinning.tasksetPath,
    stdout: 'collect',
    keepStdin: false,
  });
  const watchdog = setTimeout(
    () => void proc.stop(),
    (spec.warmupS + spec.durationS + TIMEOUT_S + 30) * 1000,
  );
  const code = await proc.waitForExit();
  clearTimeout(watchdog);
  if (code !== 0) throw new Error(`webhook-load generator failed: ${proc.describeExit()}\n${proc.stdout}`);
  return parseResult(proc.stdout);
}

/** The route's event counts from the admin API, or null when it does not answer. */
async function readCounts(adminPort: number): Promise<EventCounts | null> {
  try {
    const res = await request(`http://127.0.0.1:${adminPort}/webhooks`, { headersTimeout: 5000 });
    const body = (await res.body.json()) as { depth?: { route: string; state: string; count: number }[] };
    if (res.statusCode !== 200 || !Array.isArray(body.depth)) return null;
    const counts = { pending: 0, delivering: 0, delivered: 0, dead: 0 };
    for (const row of body.depth) {
      if (row.route === WEBHOOK_ROUTE.name && row.state in counts)
        counts[row.state as keyof EventCounts] += row.count;
    }
    return counts;
  } catch {
    return null;
  }
}

const total = (c: EventCounts): number => c.pending + c.delivering + c.delivered + c.dead;
const undelivered = (c: EventCounts): number => c.pending + c.delivering;

/**
 * Waits until nothing is left to deliver, while the backlog keeps shrinking; the seconds it took and the last
 * counts (seconds null: it stalled or took too long).
 */
async function drain(adminPort: number): Promise<{ seconds: number | null; counts: EventCounts | null }> {
  const started = Date.now();
  let counts: EventCounts | null = null;
  let least = Number.POSITIVE_INFINITY;
  let progressAt = started;
  while (Date.now() - progressAt < DRAIN_STALL_S * 1000 && Date.now() - started < DRAIN_TIMEOUT_S * 1000) {
    counts = await readCounts(adminPort);
    const left = counts === null ? Number.POSITIVE_INFINITY : undelivered(counts);
    if (left === 0) return { seconds: (Date.now() - started) / 1000, counts };
    if (left < least) {
      least = left;
      progressAt = Date.now();
    }
    await sleep(100);
  }
  return { seconds: null, counts };
}

/** One round: warm-up and timed window of the closed loop, then the wait for the delivery backlog. */
export async function measureWebhookRound(ctx: RunContext, w: WebhookScenario, round: number): Promise<void> {
  const { subject } = w;
  const { proc } = subject;
  if (proc === null || subject.result.unavailable !== null) return;
  if (proc.hasExited) return markDead(subject, proc, round);
  const load = await runGenerator(ctx, {
    url: `http://127.0.0.1:${subject.port}${subject.path}`,
    connections: w.connections,
    warmupS: ctx.warmupS,
    durationS: ctx.durationS,
    secret: SECRET,
    bodyBytes: BODY_BYTES,
    timeoutS: TIMEOUT_S,
    cpuPid: proc.pid,
    adminUrl: `http://127.0.0.1:${w.adminPort}`,
    route: WEBHOOK_ROUTE.name,
  });
  if (proc.hasExited || load.cpuTicks === null) return markDead(subject, proc, round);
  w.answered += load.acceptedTotal;
  const drained = await drain(w.adminPort);
  const backlog = load.countsAfter === null ? null : undelivered(load.countsAfter);
  const stored = drained.counts === null ? null : total(drained.counts);
  w.rounds.push({ round, load, backlog, drainS: drained.seconds, stored, answered: w.answered });
  subject.result.measurements.push({
    round,
    load: {
      requests: load.accepted,
      requestsPerSecond: load.acceptedPerSecond,
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      p999Ms: load.p999Ms,
      badStatus: load.windowNonAccepted,
      socketErrors: load.windowSocketErrors,
    },
    windowS: load.windowS,
    cpuTicks: load.cpuTicks,
  });

  const bad = nonAccepted(load);
  process.stderr.write(
    `  ${subject.result.id}: ${Math.round(load.acceptedPerSecond)} events/s, p50 ${load.p50Ms.toFixed(2)} ms, ` +
      `p99 ${load.p99Ms.toFixed(2)} ms, ${load.cpuTicks} ticks; backlog ${backlog ?? '?'}, ` +
      (drained.seconds === null
        ? 'NOT delivered (stalled or too slow)'
        : `delivered in ${drained.seconds.toFixed(1)} s`) +
      (bad > 0 ? `; ${bad} NOT 202: ${statusList(load)}` : '') +
      '\n',
  );
}

/** Responses of a round (warm-up and tail included) that were not 202, plus connection errors. */
function nonAccepted(load: WebhookLoadResult): number {
  const other = Object.entries(load.statuses).filter(([status]) => status !== '202');
  return other.reduce((sum, [, n]) => sum + n, 0) + load.socketErrors;
}

function statusList(load: WebhookLoadResult): string {
  const parts = Object.entries(load.statuses).map(([status, n]) => `${n} × ${status}`);
  if (load.socketErrors > 0) parts.push(`${load.socketErrors} connection errors/timeouts`);
  return parts.join(', ');
}

/** Events delivered to the upstream per second during the window (the background work in the CPU figure). */
function deliveredPerSecond(r: WebhookRound): number | null {
  const { countsBefore: before, countsAfter: after } = r.load;
  return before === null || after === null ? null : (after.delivered - before.delivered) / r.load.windowS;
}

function columns(w: WebhookScenario): Column[] {
  const pick = (f: (r: WebhookRound) => number | null): number[] => present(w.rounds.map(f));
  const ms = (f: (m: ScenarioResult['measurements'][number]) => number) => (s: ScenarioResult) =>
    spread(s.measurements.map(f), 2, ' ms');
  return [
    {
      title: 'accepted events/s (202s)',
      cell: (s) =>
        spread(
          s.measurements.map((m) => m.load.requestsPerSecond),
          0,
        ),
    },
    { title: 'p50 (202)', cell: ms((m) => m.load.p50Ms) },
    { title: 'p99 (202)', cell: ms((m) => m.load.p99Ms) },
    { title: 'p99.9 (202)', cell: ms((m) => m.load.p999Ms) },
    { title: 'CPU µs/event', cell: (s) => spread(present(s.measurements.map(cpuPerRequest)), 1) },
    {
      title: 'gateway CPU',
      cell: (s) =>
        spread(
          present(
            s.measurements.map((m) => (m.cpuTicks === null ? null : cpuShare(m.cpuTicks, m.windowS) * 100)),
          ),
          0,
          '%',
        ),
    },
    { title: 'delivered/s in the window', cell: () => spread(pick(deliveredPerSecond), 0) },
    {
      title: 'backlog at the end',
      cell: () =>
        spread(
          pick((r) => r.backlog),
          0,
        ),
    },
    {
      title: 'delivered after',
      cell: () =>
        spread(
          pick((r) => r.drainS),
          1,
          ' s',
        ),
    },
    {
      title: 'not 202',
      cell: () => {
        const bad = w.rounds.reduce((sum, r) => sum + nonAccepted(r.load), 0);
        return bad === 0 ? '0' : `**${bad}** ⚠`;
      },
    },
  ];
}

/** Whether the run's check failed: a response that was not 202, or a store that does not hold every 202. */
export function webhookCheckFailed(w: WebhookScenario | null): boolean {
  if (w === null) return false;
  return w.rounds.some((r) => nonAccepted(r.load) > 0 || r.stored !== r.answered);
}

/** The report's section, or nothing when the scenario was not selected. */
export function renderWebhookSection(
  w: WebhookScenario | null,
  ctx: { durationS: number; warmupS: number },
): string[] {
  if (w === null) return [];
  const s = w.subject.result;
  const lines = [
    '',
    '## Webhooks: accept and store',
    '',
    `A \`webhook:\` route (scheme github, one secret) storing each event in SQLite (WAL, synchronous=FULL: ` +
      `fsynced before the 202; file on ${w.filesystem}) and delivering it to the upstream in the background ` +
      `(\`delivery: { concurrency: 32 }\`). Load: ${w.connections} connections in a closed loop ` +
      `(bench/webhook-load.ts, undici, on the load-generator CPU), each POSTing a ${BODY_BYTES}-byte JSON ` +
      `event with \`X-Hub-Signature-256\` and its own \`X-GitHub-Delivery\` as soon as its last answer came; ` +
      `${ctx.durationS} s timed after ${ctx.warmupS} s warm-up per round. events/s and latency: the 202s ` +
      'completed in the window. CPU µs/event: the gateway process (all threads: the store has its own) over ' +
      'the window ÷ 202s, so it includes the deliveries made meanwhile (next columns). After each window the ' +
      'bench waits until the backlog is delivered ("delivered after").',
    '',
    renderTable('Scenario', [s], columns(w)),
    '',
  ];
  if (w.rounds.length > 0) {
    const responses = w.rounds.reduce(
      (sum, r) => sum + Object.values(r.load.statuses).reduce((a, b) => a + b, 0),
      0,
    );
    const bad = w.rounds.reduce((sum, r) => sum + nonAccepted(r.load), 0);
    lines.push(
      bad === 0
        ? `- Every response was 202: ${fmt(responses, 0)} responses over ${w.rounds.length} round(s), warm-ups included.`
        : `- ⚠ ${fmt(bad, 0)} of ${fmt(responses, 0)} responses were not 202 (the run exits 1) — ` +
            w.rounds
              .filter((r) => nonAccepted(r.load) > 0)
              .map(
                (r) =>
                  `round ${r.round}: ${statusList(r.load)}; first: ${oneLine(r.load.samples.join(' / '), 300)}`,
              )
              .join('; '),
    );
    const lost = w.rounds.filter((r) => r.stored !== r.answered);
    const last = w.rounds.at(-1);
    if (lost.length > 0) {
      lines.push(
        '- ⚠ The store does not hold one event per 202 (the run exits 1): ' +
          lost
            .map(
              (r) =>
                `after round ${r.round}, ${r.stored === null ? 'no count from the admin API' : `${fmt(r.stored, 0)} events`} ` +
                `for ${fmt(r.answered, 0)} 202s`,
            )
            .join('; '),
      );
    } else if (last !== undefined) {
      lines.push(
        `- The store holds one event per 202: ${fmt(last.answered, 0)} events of the route` +
          (last.drainS === null ? '.' : ', all delivered to the upstream.'),
      );
    }
    const late = w.rounds.filter((r) => r.drainS === null);
    if (late.length > 0) {
      lines.push(
        `- ⚠ The delivery backlog did not empty (no progress for ${DRAIN_STALL_S} s, or over ` +
          `${DRAIN_TIMEOUT_S} s) after round(s) ` +
          `${late.map((r) => r.round).join(', ')}: later windows shared the proxy CPU with deliveries.`,
      );
    }
  }
  if (['tmpfs', 'ramfs'].includes(w.filesystem)) {
    lines.push(
      `- ⚠ The store was on a ${w.filesystem}, where fsync costs nothing: these are not durable-write figures. ` +
        'Set BENCH_WEBHOOK_DIR to a directory on a disk.',
    );
  }
  lines.push(
    '- The store alone, without HTTP or signatures (SqliteEventStore vs ThreadedEventStore, 1 and 64 in ' +
      'flight): `node --import tsx bench/webhook-store.ts [events]`.',
  );
  return lines;
}
