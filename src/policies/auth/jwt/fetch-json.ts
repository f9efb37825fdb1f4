// One GET of an IdP document (JWKS or OpenID configuration) with a deadline, and how long the IdP says it
// may be kept. Node's global fetch (undici); nothing here retries: the key set decides when to ask again.

/** A fetched JSON document, its text (to notice when it changes) and its max-age in seconds, if any. */
export interface FetchedJson {
  readonly body: unknown;
  readonly text: string;
  readonly maxAgeS: number | undefined;
}

/** Key sets are a few kilobytes; anything far larger is a misconfigured URL, not keys. */
const MAX_BYTES = 1 << 20;

/** GETs `url` as JSON within `timeoutMs` (headers and body). Throws an Error whose message says why. */
export async function fetchJson(url: string, timeoutMs: number, signal: AbortSignal): Promise<FetchedJson> {
  try {
    const res = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    if (!res.ok || Number(res.headers.get('content-length') ?? 0) > MAX_BYTES) {
      await res.body?.cancel();
      throw new Error(res.ok ? 'document larger than 1 MiB' : `HTTP ${res.status}`);
    }
    const text = await res.text();
    if (text.length > MAX_BYTES) throw new Error('document larger than 1 MiB');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error('the answer is not JSON');
    }
    return { body, text, maxAgeS: parseMaxAge(res.headers.get('cache-control'), res.headers.get('age')) };
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError')
      throw new Error(`timed out after ${timeoutMs} ms`, { cause: err });
    throw err;
  }
}

/**
 * Seconds the response may be used: max-age (RFC 9111 §5.2.2.1) less its Age (§4.2.3); no-store and
 * no-cache count as 0. Undefined when the response says nothing.
 */
export function parseMaxAge(cacheControl: string | null, age: string | null): number | undefined {
  if (cacheControl === null) return undefined;
  let maxAge: number | undefined;
  for (const directive of cacheControl.split(',')) {
    const eq = directive.indexOf('=');
    const name = (eq === -1 ? directive : directive.slice(0, eq)).trim().toLowerCase();
    if (name === 'no-store' || name === 'no-cache') return 0;
    if (name === 'max-age' && eq !== -1) {
      const value = directive
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      if (/^\d+$/.test(value)) maxAge = Number(value);
    }
  }
  if (maxAge === undefined) return undefined;
  const used = age !== null && /^\d+$/.test(age.trim()) ? Number(age.trim()) : 0;
  return Math.max(0, maxAge - used);
}

/** A fetch failure in one short line for logs: "fetch failed: ECONNREFUSED", "HTTP 500", "timed out…". */
export function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause: unknown = err.cause;
  if (err.message === 'fetch failed' && cause instanceof Error)
    return `fetch failed: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`;
  return err.message;
}
