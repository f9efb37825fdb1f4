// The webhook-accept scenario's load generator: a closed loop of POSTs, each carrying the same 1 KiB JSON
// event signed for GitHub's scheme (`X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>`) and its own
// `X-GitHub-Delivery`, so no event is a duplicate (the signature covers the body, not the header, so one
// signature serves every request). Each of `connections` lanes sends its next request as soon as the last
// one was answered, over an undici Pool of keep-alive connections — like wrk's connections, which can only
// send one fixed GET (bench/load-generator.ts), and unlike bench/open-loop.ts, which offers a fixed rate.
// Usage: node webhook-load.js '<json spec>' (WebhookLoadSpec). Prints one JSON line (WebhookLoadResult).
//
// One process runs the warm-up and then the timed window on the same connections. A response counts in the
// window when it completes inside it (as with wrk); the latency percentiles are those of the 202s in the
// window, each timed from its own send. Every status of every response (warm-up and tail too) is counted,
// so the caller can check that all were 202. Right when the window starts and ends the target's CPU ticks
// (/proc/<pid>/stat) and, from the admin API, its event counts by state are read.
import { createHmac, randomBytes } from 'node:crypto';
import { createHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { readCpuTicks } from './cpu-usage.js';

export interface WebhookLoadSpec {
  readonly url: string;
  readonly connections: number;
  /** Unmeasured lead-in on the same connections, seconds (may be 0). */
  readonly warmupS: number;
  /** The timed window, seconds. */
  readonly durationS: number;
  /** The route's GitHub secret. */
  readonly secret: string;
  /** Size of the JSON body, bytes. */
  readonly bodyBytes: number;
  /** Per-request timeout (headers and body), seconds. */
  readonly timeoutS: number;
  /** Process whose utime + stime is read around the window (the gateway), or null. */
  readonly cpuPid: number | null;
  /** The gateway's admin origin (GET /webhooks: event counts by route and state), or null. */
  readonly adminUrl: string | null;
  /** The webhook route whose counts are read. */
  readonly route: string;
}

/** The route's events by state, from the admin API. */
export interface EventCounts {
  readonly pending: number;
  readonly delivering: number;
  readonly delivered: number;
  readonly dead: number;
}

export interface WebhookLoadResult {
  /** 202s completed in the window. */
  readonly accepted: number;
  readonly acceptedPerSecond: number;
  /** Latency of the window's 202s. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Responses completed in the window that were not 202. */
  readonly windowNonAccepted: number;
  /** Connection errors and timeouts in the window. */
  readonly windowSocketErrors: number;
  /** Every response of the run (warm-up, window and tail) by status code. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Connection errors and timeouts over the whole run. */
  readonly socketErrors: number;
  /** 202s over the whole run: each is an event the gateway said it stored. */
  readonly acceptedTotal: number;
  /** The first non-202 answer of each status and the first errors (a few at most), for the report. */
  readonly samples: readonly string[];
  /** CPU ticks of `cpuPid` over the window, and the window's length in seconds. */
  readonly cpuTicks: number | null;
  readonly windowS: number;
  /** The route's event counts right before and right after the window. */
  readonly countsBefore: EventCounts | null;
  readonly countsAfter: EventCounts | null;
}

const NS_PER_MS = 1e6;
const HIGHEST_NS = 60_000_000_000;
const MAX_SAMPLES = 5;

/** A JSON event of exactly `bytes` bytes (a push-like payload padded with a filler field). */
function webhookBody(bytes: number): Buffer {
  const event = {
    ref: 'refs/heads/main',
    before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
    after: '59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5',
    repository: { id: 35129377, full_name: 'portico/bench', private: false },
    pusher: { name: 'bench', email: 'bench@portico.dev' },
    sender: { login: 'bench', id: 21031067, type: 'User' },
    padding: '',
  };
  const bare = Buffer.byteLength(JSON.stringify(event));
  if (bare > bytes) throw new Error(`webhook body: ${bytes} bytes is less than the ${bare}-byte event`);
  event.padding = 'x'.repeat(bytes - bare);
  return Buffer.from(JSON.stringify(event));
}

function parseSpec(raw: string | undefined): WebhookLoadSpec {
  if (raw === undefined) throw new Error("usage: webhook-load '<json spec>'");
  const spec = JSON.parse(raw) as WebhookLoadSpec;
  for (const key of ['connections', 'durationS', 'bodyBytes', 'timeoutS'] as const) {
    if (!(typeof spec[key] === 'number' && spec[key] > 0)) throw new Error(`webhook-load: bad ${key}`);
  }
  if (!(typeof spec.warmupS === 'number' && spec.warmupS >= 0)) throw new Error('webhook-load: bad warmupS');
  return spec;
}

function ticksOf(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    return readCpuTicks(pid);
  } catch {
    return null;
  }
}

/** The route's counts from the admin API's `GET /webhooks`, or null when it does not answer. */
async function readCounts(pool: Pool | null, route: string): Promise<EventCounts | null> {
  if (pool === null) return null;
  try {
    const res = await pool.request({ method: 'GET', path: '/webhooks' });
    const body = (await res.body.json()) as { depth?: { route: string; state: string; count: number }[] };
    if (res.statusCode !== 200 || !Array.isArray(body.depth)) return null;
    const counts = { pending: 0, delivering: 0, delivered: 0, dead: 0 };
    for (const row of body.depth) {
      if (row.route === route && row.state in counts) counts[row.state as keyof EventCounts] += row.count;
    }
    return counts;
  } catch {
    return null;
  }
}

async function runWebhookLoad(spec: WebhookLoadSpec): Promise<WebhookLoadResult> {
  const target = new URL(spec.url);
  const timeoutMs = spec.timeoutS * 1000;
  const pool = new Pool(target.origin, {
    connections: spec.connections,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const admin = spec.adminUrl === null ? null : new Pool(spec.adminUrl, { connections: 1 });
  const body = webhookBody(spec.bodyBytes);
  const signature = 'sha256=' + createHmac('sha256', spec.secret).update(body).digest('hex');
  const path = target.pathname + target.search;
  // Unique per run, so the rounds (one process each) never repeat a delivery id of an earlier round.
  const run = randomBytes(6).toString('hex');
  let sequence = 0;

  const latency = createHistogram({ lowest: 1, highest: HIGHEST_NS, figures: 3 });
  const statuses: Record<string, number> = {};
  const samples: string[] = [];
  const sampled = new Set<string>();
  const sample = (kind: string, text: string): void => {
    if (samples.length >= MAX_SAMPLES || sampled.has(kind)) return;
    sampled.add(kind);
    samples.push(text);
  };
  let phase: 'warmup' | 'window' | 'tail' = spec.warmupS > 0 ? 'warmup' : 'window';
  let accepted = 0;
  let acceptedTotal = 0;
  let windowNonAccepted = 0;
  let windowSocketErrors = 0;
  let socketErrors = 0;
  let stopped = false;
  const base = process.hrtime.bigint();
  const now = (): number => Number(process.hrtime.bigint() - base);

  const lane = async (): Promise<void> => {
    while (!stopped) {
      const startedNs = now();
      try {
        const res = await pool.request({
          method: 'POST',
          path,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'GitHub-Hookshot/portico-bench',
            'x-github-event': 'push',
            'x-github-delivery': `${run}-${sequence++}`,
            'x-hub-signature-256': signature,
          },
          body,
        });
        const text = res.statusCode === 202 ? (await res.body.dump(), '') : await res.body.text();
        const ns = now() - startedNs;
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 202) {
          acceptedTotal++;
          if (phase === 'window') {
            accepted++;
            latency.record(Math.min(Math.max(1, Math.round(ns)), HIGHEST_NS));
          }
        } else {
          if (phase === 'window') windowNonAccepted++;
          sample(String(res.statusCode), `${res.statusCode} ${text.slice(0, 200)}`);
        }
      } catch (err: unknown) {
        socketErrors++;
        if (phase === 'window') windowSocketErrors++;
        const message = err instanceof Error ? err.message : String(err);
        sample(message, `error: ${message}`);
        // A refused connection fails at once: do not spin on it for the rest of the window.
        await sleep(10);
      }
    }
  };

  const lanes = Array.from({ length: spec.connections }, lane);
  if (spec.warmupS > 0) await sleep(spec.warmupS * 1000);
  const countsBefore = await readCounts(admin, spec.route);
  const ticksBefore = ticksOf(spec.cpuPid);
  const windowStartedNs = now();
  phase = 'window';
  await sleep(spec.durationS * 1000);
  phase = 'tail';
  const ticksAfter = ticksOf(spec.cpuPid);
  const windowS = (now() - windowStartedNs) / 1e9;
  const countsAfter = await readCounts(admin, spec.route);
  stopped = true;
  await Promise.all(lanes);
  await pool.close();
  await admin?.close();

  const percentile = (p: number): number =>
    latency.count === 0 ? Number.NaN : latency.percentile(p) / NS_PER_MS;
  return {
    accepted,
    acceptedPerSecond: accepted / windowS,
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    p999Ms: percentile(99.9),
    maxMs: latency.count === 0 ? Number.NaN : latency.max / NS_PER_MS,
    windowNonAccepted,
    windowSocketErrors,
    statuses,
    socketErrors,
    acceptedTotal,
    samples,
    cpuTicks: ticksBefore !== null && ticksAfter !== null ? ticksAfter - ticksBefore : null,
    windowS,
    countsBefore,
    countsAfter,
  };
}

const result = await runWebhookLoad(parseSpec(process.argv[2]));
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
