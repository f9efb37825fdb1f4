// Forward authentication: ask an external auth service whether a request may pass (a subrequest carrying
// the request line and the client's credential headers, never the body), as Traefik's ForwardAuth and
// nginx's auth_request do. 2xx lets it through as the user the answer names; 401/403 are passed back to the
// client; anything else means the service is not working, which is the gateway's problem (503), not the
// client's.
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { Pool, type Dispatcher } from 'undici';
import type { Exchange } from '../../pipeline/exchange.js';
import { PolicyConfigError, type PolicyLog } from '../../pipeline/policy.js';
import { parseCacheControl } from '../../lib/cache-control.js';
import { ExpiringCache } from '../../lib/expiring-cache.js';
import { throttledLog } from '../../lib/throttle.js';
import type { ForwardAuthConfig } from './schema.js';

/** The auth service's decision. Header names are lower-case. */
export type ForwardAuthResult =
  | {
      readonly allowed: true;
      /** The consumer id, from the answer's `user_header`. Never empty. */
      readonly user: string;
      /** The answer's headers named in `copy_headers`, to set on the upstream request. */
      readonly copy: readonly (readonly [string, string])[];
    }
  | {
      readonly allowed: false;
      /** 401 or 403, as the service answered. */
      readonly status: number;
      /** `www-authenticate` and `content-type` of the answer, when it had them. */
      readonly headers: Readonly<Record<string, string>>;
      /** The answer's body, cut at 4 KiB. */
      readonly body: string;
    };

export interface ForwardAuth {
  /** Rejects with ForwardAuthUnavailable only; a denial is a result, not an error. */
  check(ex: Exchange): Promise<ForwardAuthResult>;
  close(): Promise<void>;
}

/**
 * Why the service gave no usable decision: `timeout` (no complete answer within timeout_ms),
 * `unreachable` (connection failed), `bad-status` (neither 2xx nor 401/403), `bad-answer` (a 2xx without
 * exactly one non-empty user header).
 */
export type ForwardAuthFailure = 'timeout' | 'unreachable' | 'bad-status' | 'bad-answer';

/** The auth service is down, slow or misbehaving: the gateway answers 503, not 401. */
export class ForwardAuthUnavailable extends Error {
  constructor(
    message: string,
    readonly reason: ForwardAuthFailure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ForwardAuthUnavailable';
  }
}

/** Most answers remembered per forward-auth config when cache_ttl_s > 0 (oldest dropped first). */
export const FORWARD_AUTH_CACHE_SIZE = 10_000;
const DENIAL_BODY_BYTES = 4096;
const LOG_INTERVAL_MS = 10_000;

// Names the gateway sets itself or that describe one connection (RFC 9110 7.6.1): never copied either way.
const RESERVED = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'x-forwarded-method',
  'x-forwarded-uri',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-for',
]);

/**
 * Builds the client for one `auth.forward_auth.<name>` config; throws PolicyConfigError for what the
 * schema cannot check. The connection pool lives until `close()`. `now` (ms) is the cache's clock, for tests.
 */
export function createForwardAuth(
  name: string,
  config: ForwardAuthConfig,
  deps: { readonly log: PolicyLog; readonly now?: () => number },
): ForwardAuth {
  const url = parseServiceUrl(config.url);
  const requestHeaders = headerNames(config.request_headers, 'request_headers');
  const copyHeaders = headerNames(config.copy_headers, 'copy_headers');
  const userHeader = config.user_header.toLowerCase();
  const path = url.pathname + url.search;
  const label = url.origin + url.pathname;
  const timeoutMs = config.timeout_ms;
  const ttlMs = config.cache_ttl_s * 1000;
  const pool = new Pool(url.origin, { connectTimeout: timeoutMs, headersTimeout: 0, bodyTimeout: 0 });
  const cache = new ExpiringCache<ForwardAuthResult>(FORWARD_AUTH_CACHE_SIZE);
  const inFlight = new Map<string, Promise<ForwardAuthResult>>();
  const health = healthLog(name, label, deps.log);
  const now = deps.now ?? Date.now;
  let closed = false;

  const ask = async (ex: Exchange): Promise<{ result: ForwardAuthResult; ttlMs: number }> => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const res = await pool.request({
        method: config.method,
        path,
        headers: subrequestHeaders(ex, requestHeaders),
        signal: abort.signal,
      });
      const answer = await decide(res, { userHeader, copyHeaders, label, signal: abort.signal });
      health.ok();
      return { result: answer, ttlMs: Math.min(ttlMs, cacheLifetime(res.headers['cache-control'])) };
    } catch (err) {
      const failure = unavailable(err, abort.signal.aborted, label, timeoutMs);
      health.failed(failure);
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  };

  const askAndRemember = (key: string, ex: Exchange): Promise<ForwardAuthResult> => {
    const started = ask(ex).then(
      ({ result, ttlMs: lifetime }) => {
        inFlight.delete(key);
        if (lifetime > 0 && !closed) cache.set(key, result, now() + lifetime);
        return result;
      },
      (err: unknown) => {
        inFlight.delete(key);
        throw err;
      },
    );
    inFlight.set(key, started);
    return started;
  };

  return {
    check: function forwardAuthCheck(ex) {
      if (ttlMs === 0) return ask(ex).then((a) => a.result);
      // The cache assumes the answer depends on the credentials alone (not on method or path).
      const key = credentialKey(ex, requestHeaders);
      const hit = cache.get(key, now());
      if (hit !== undefined) return Promise.resolve(hit);
      return inFlight.get(key) ?? askAndRemember(key, ex);
    },
    async close() {
      if (closed) return;
      closed = true;
      cache.clear();
      await pool.close();
    },
  };
}

function parseServiceUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PolicyConfigError(`"${text}" is not a valid URL`, ['url']);
  }
  if (url.username !== '' || url.password !== '')
    throw new PolicyConfigError('credentials in the URL are not sent; remove them from url', ['url']);
  if (url.hash !== '') throw new PolicyConfigError('a #fragment is not allowed in url', ['url']);
  return url;
}

function headerNames(names: readonly string[], key: string): readonly string[] {
  const out = new Set<string>();
  names.forEach((n, i) => {
    const lower = n.toLowerCase();
    if (RESERVED.has(lower))
      throw new PolicyConfigError(`${n} is set by the gateway or is connection-specific; remove it`, [
        key,
        i,
      ]);
    out.add(lower);
  });
  return [...out];
}

/**
 * The subrequest's headers: the request as the upstream would see it (X-Forwarded-Host and -Proto as the
 * gateway computed them, so trusted proxies in front are honoured), the resolved client address, and the
 * listed client headers only.
 */
function subrequestHeaders(ex: Exchange, names: readonly string[]): string[] {
  const h = ex.headers;
  const out = [
    'x-forwarded-method',
    ex.method,
    'x-forwarded-uri',
    ex.query === '' ? ex.path : `${ex.path}?${ex.query}`,
    'x-forwarded-host',
    h.get('x-forwarded-host') ?? ex.authority,
    'x-forwarded-proto',
    h.get('x-forwarded-proto') ?? ex.protocol,
    'x-forwarded-for',
    ex.clientIp,
  ];
  for (const name of names) for (const value of h.getAll(name)) out.push(name, value);
  return out;
}

/** SHA-256 of the listed headers' values: the raw credentials are not kept as map keys. */
function credentialKey(ex: Exchange, names: readonly string[]): string {
  const hash = createHash('sha256');
  for (const name of names) {
    const values = ex.headers.getAll(name);
    hash.update(`${name}:${values.length}\n`);
    for (const v of values) hash.update(`${v.length}:${v}\n`);
  }
  return hash.digest('base64');
}

async function decide(
  res: Dispatcher.ResponseData,
  opts: {
    readonly userHeader: string;
    readonly copyHeaders: readonly string[];
    readonly label: string;
    readonly signal: AbortSignal;
  },
): Promise<ForwardAuthResult> {
  const status = res.statusCode;
  // The whole answer must arrive within timeout_ms: without the signal, dump() would end quietly when the
  // timeout destroys a body that never ends, and a late answer would still count.
  const discard = { signal: opts.signal, limit: 64 * 1024 };
  if (status >= 200 && status < 300) {
    await res.body.dump(discard);
    const user = res.headers[opts.userHeader];
    // Fail closed: a 2xx that names no user is more likely a wrong URL (a health or login page answering
    // 200) than a yes, and an identity that names nobody cannot be authorized, limited or audited.
    if (typeof user !== 'string' || user.trim() === '')
      throw new ForwardAuthUnavailable(
        `${opts.label} answered ${status} without ${Array.isArray(user) ? 'exactly one' : 'a'} ${opts.userHeader} header`,
        'bad-answer',
      );
    const copy: (readonly [string, string])[] = [];
    for (const name of opts.copyHeaders) {
      const v = res.headers[name];
      if (typeof v === 'string') copy.push(Object.freeze([name, v] as const));
      else if (Array.isArray(v)) for (const one of v) copy.push(Object.freeze([name, one] as const));
    }
    return Object.freeze({ allowed: true, user: user.trim(), copy: Object.freeze(copy) });
  }
  if (status === 401 || status === 403) {
    const headers: Record<string, string> = {};
    const challenge = res.headers['www-authenticate'];
    // RFC 9110 11.6.1: several challenges may be sent as one comma-separated field.
    if (challenge !== undefined) headers['www-authenticate'] = [challenge].flat().join(', ');
    const type = res.headers['content-type'];
    if (typeof type === 'string') headers['content-type'] = type;
    const body = await readPrefix(res.body, DENIAL_BODY_BYTES);
    return Object.freeze({ allowed: false, status, headers: Object.freeze(headers), body });
  }
  await res.body.dump(discard);
  throw new ForwardAuthUnavailable(`${opts.label} answered ${status}`, 'bad-status');
}

/** The first `limit` bytes of a body as text (an incomplete last character is dropped); the rest is discarded. */
async function readPrefix(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const decoder = new StringDecoder('utf8');
  let text = '';
  let left = limit;
  // Leaving the loop early destroys the body: a long denial page is not read to its end.
  for await (const chunk of body) {
    text += decoder.write(chunk.length > left ? chunk.subarray(0, left) : chunk);
    left -= Math.min(left, chunk.length);
    if (left === 0) break;
  }
  return text;
}

/**
 * How long an answer may be remembered by its Cache-Control (RFC 9111 5.2.2), in ms: 0 for no-store or
 * no-cache, max-age when given (a malformed one reads as 0), Infinity when unsaid.
 */
export function cacheLifetime(value: string | string[] | undefined): number {
  const cc = parseCacheControl(value);
  if (cc.noStore || cc.noCache) return 0;
  return cc.maxAge === undefined ? Infinity : cc.maxAge * 1000;
}

function unavailable(
  err: unknown,
  timedOut: boolean,
  label: string,
  timeoutMs: number,
): ForwardAuthUnavailable {
  if (err instanceof ForwardAuthUnavailable) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (timedOut || code === 'UND_ERR_CONNECT_TIMEOUT')
    return new ForwardAuthUnavailable(`${label} did not answer within ${timeoutMs} ms`, 'timeout', {
      cause: err,
    });
  const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return new ForwardAuthUnavailable(`${label} cannot be reached (${detail})`, 'unreachable', { cause: err });
}

/**
 * Logs when the service stops giving decisions and when it recovers — not once per request: while it is
 * down, at most one line per 10 s, with the number of failures in between (`suppressed`).
 */
function healthLog(
  name: string,
  url: string,
  log: PolicyLog,
): { ok(): void; failed(err: ForwardAuthUnavailable): void } {
  let down = false;
  const failures = throttledLog(log, LOG_INTERVAL_MS);
  return {
    ok() {
      if (!down) return;
      down = false;
      log.info(
        { event: 'forward_auth_recovered', forward_auth: name, url },
        'the auth service answers again',
      );
    },
    failed(err) {
      down = true;
      const fields = { event: 'forward_auth_unavailable', forward_auth: name, url, reason: err.reason };
      if (err.reason === 'bad-answer') failures.error(fields, err.message);
      else failures.warn(fields, err.message);
    },
  };
}
