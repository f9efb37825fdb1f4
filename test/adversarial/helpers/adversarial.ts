// Shared pieces of the adversarial suite: the gateway config under attack, unique markers to find a
// request's bytes at the upstream, and assertions on refusals (RFC 9457 problem+json, connection closed,
// nothing — or nothing complete — reached the upstream).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawRequest, statusCodes, type RawResult } from '../../helpers/raw-http.js';
import { assertRawProblem } from '../../fixtures/http-tools.js';
import type { RecordedRequest, RecordingUpstream } from './recording-upstream.js';

/** How long a raw exchange may take before the test gives up (the gateway answers refusals at once). */
export const RAW_TIMEOUT_MS = 4000;
/** After a refusal, how long to let a wrongly forwarded request reach the upstream before checking. */
export const SETTLE_MS = 100;

const PROBLEM_BASE = 'https://portico.dev/problems/';
/** The problem `type` the specification fixes for some statuses. */
const PROBLEM_TYPES: Readonly<Record<number, string>> = {
  400: 'bad-request',
  505: 'http-version-not-supported',
};

/** The routes of the specification; each sets X-Route so the upstream can tell which route forwarded. */
export function routesYaml(upstreamUrl: string): string {
  const route = (name: string, prefix: string, extra = '') =>
    `  - name: ${name}\n    path_prefix: ${prefix}\n    upstream: ${upstreamUrl}\n` +
    `    headers: { request: { set: { X-Route: ${name} } } }\n${extra}`;
  return (
    'routes:\n' +
    route('admin', '/admin') +
    route('api', '/api') +
    route('files-keep', '/keep', '    path_escapes: keep\n') +
    route('files-decode', '/decode', '    path_escapes: decode\n') +
    route('stripped', '/svc', '    strip_prefix: true\n') +
    route('legacy', '/legacy', '    method_override: true\n')
  );
}

/**
 * A full config: `gateway:` with ephemeral listeners plus `extra` lines (indented under gateway:). A short
 * shutdown_timeout_ms keeps after() bounded when an attack left an exchange hanging in the gateway.
 */
export function gatewayYaml(upstreamUrl: string, extra: readonly string[] = []): string {
  return (
    'gateway:\n  listen: "127.0.0.1:0"\n  admin: { listen: "127.0.0.1:0" }\n  shutdown_timeout_ms: 2000\n' +
    extra.map((l) => `  ${l}\n`).join('') +
    routesYaml(upstreamUrl)
  );
}

let markerCount = 0;
/** A unique, fixed-length token (no prefix of another) to find one request in the upstream's bytes. */
export function marker(): string {
  return `zq${String(++markerCount).padStart(4, '0')}`;
}

/** Strings no problem body may contain: the upstream's port and names of the gateway's internals. */
export function internalNames(up: RecordingUpstream): string[] {
  return [String(up.port), 'Error', 'stack', 'HPE_', 'llhttp', 'undici', 'node_modules', '.ts:'];
}

/** Splits a raw byte stream into its responses (Content-Length framed, as every answer here is). */
export function splitResponses(text: string): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) {
      out.push(rest);
      break;
    }
    const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(rest.slice(0, end));
    const length = end + 4 + (m ? Number(m[1]) : 0);
    out.push(rest.slice(0, length));
    rest = rest.slice(length);
  }
  return out;
}

/**
 * A raw response that must be a gateway refusal: the status, application/problem+json with type, title,
 * status, detail and trace_id, no stack trace, no internal name; the type where the specification fixes it.
 */
export function assertRefusal(
  responseText: string,
  status: number,
  forbidden: readonly string[],
): Record<string, unknown> {
  const p = assertRawProblem(responseText, status, forbidden);
  const type = PROBLEM_TYPES[status];
  if (type !== undefined) assert.equal(p.type, PROBLEM_BASE + type);
  assert.ok(!('stack' in p), 'problem body has a stack member');
  return p;
}

/** Waits briefly, then asserts the upstream received no byte since `mark` and none of `markers` ever. */
export async function assertUpstreamUntouched(
  up: RecordingUpstream,
  mark: readonly number[],
  markers: readonly string[],
): Promise<void> {
  await sleep(SETTLE_MS);
  const since = up.textSince(mark);
  assert.equal(since, '', `the upstream received bytes:\n${since.slice(0, 600)}`);
  assertNeverReached(up, markers);
}

/** None of `markers` appears anywhere in the upstream's bytes, on any connection. */
export function assertNeverReached(up: RecordingUpstream, markers: readonly string[]): void {
  const all = up.allText();
  for (const m of markers) {
    const at = all.indexOf(m);
    assert.equal(at, -1, `the upstream received ${m}:\n${all.slice(Math.max(0, at - 300), at + 300)}`);
  }
}

/** No request carrying `m` in its target ever arrived at the upstream complete (a cut-off one may have). */
export function assertNoCompleteRequest(up: RecordingUpstream, m: string): void {
  const complete = up.requests.filter((r) => r.target.includes(m) && r.complete);
  assert.deepEqual(
    complete.map((r) => r.requestLine),
    [],
    'the upstream received a complete request that should never have been forwarded',
  );
}

/** The one request whose target contains `m`; it must be complete. */
export function receivedOnce(up: RecordingUpstream, m: string): RecordedRequest {
  const got = up.requests.filter((r) => r.target.includes(m));
  assert.equal(
    got.length,
    1,
    `upstream received ${got.length} requests for ${m}: ${JSON.stringify(got.map((r) => r.requestLine))}`,
  );
  assert.ok(got[0]!.complete, `the request for ${m} arrived incomplete`);
  return got[0]!;
}

export interface RefusalCase {
  /** The bytes sent in one write (the refused request and whatever the test pipelines after it). */
  readonly payload: string | Buffer;
  /** Acceptable statuses (the specification sometimes allows two). */
  readonly status: number | readonly number[];
  /** Markers whose requests must never reach the upstream. */
  readonly markers: readonly string[];
  /** Request lines that must not appear anywhere in the upstream's bytes (smuggled/pipelined requests). */
  readonly smuggledLines?: readonly string[];
  /**
   * 'nothing': the upstream receives no byte at all; 'no-complete-request': a cut-off forward of the
   * refused request is tolerated (errors found while streaming its body), never a complete one.
   */
  readonly upstream?: 'nothing' | 'no-complete-request';
  /** The server must close the connection after the refusal (default true). */
  readonly closes?: boolean;
}

/** Sends `c.payload` on a fresh connection and asserts a single problem+json refusal, then the upstream. */
export async function expectRefusal(
  port: number,
  up: RecordingUpstream,
  c: RefusalCase,
): Promise<{ raw: RawResult; problem: Record<string, unknown> }> {
  const mark = up.mark();
  const raw = await rawRequest(port, c.payload, { timeoutMs: RAW_TIMEOUT_MS });
  const allowed = typeof c.status === 'number' ? [c.status] : c.status;
  const statuses = statusCodes(raw.text);
  assert.equal(
    statuses.length,
    1,
    `expected exactly one response, got ${JSON.stringify(statuses)}:\n${raw.text.slice(0, 600)}`,
  );
  assert.ok(allowed.includes(statuses[0]!), `status ${statuses[0]} not in ${JSON.stringify(allowed)}`);
  const problem = assertRefusal(raw.text, statuses[0]!, internalNames(up));
  if (c.closes ?? true) assert.ok(raw.closedByServer, 'the gateway left the connection open');
  if ((c.upstream ?? 'nothing') === 'nothing') await assertUpstreamUntouched(up, mark, c.markers);
  else {
    await sleep(SETTLE_MS);
    for (const m of c.markers) assertNoCompleteRequest(up, m);
  }
  const all = up.allText();
  for (const line of c.smuggledLines ?? [])
    assert.ok(!all.includes(line), `the smuggled request line ${JSON.stringify(line)} reached the upstream`);
  return { raw, problem };
}

/** Stops everything even when one stop fails; rethrows the first failure. */
export async function stopAll(...stops: (() => Promise<void> | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(stops.map(async (s) => s()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
