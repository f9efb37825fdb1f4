// The keys of a JWKS URL (given, or found by OIDC discovery), kept fresh without making requests wait:
// fetched once at creation, refreshed in the background before they expire, refetched for an unknown kid
// at most once per cooldown, and kept (even expired) while the IdP is down. One fetch at a time.
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import type { PolicyLog } from '../../../pipeline/policy.js';
import type { JwtConfig } from '../schema.js';
import { describeFetchError, fetchJson } from './fetch-json.js';
import { JwtError } from './jwt-error.js';
import type { KeySource } from './resolve-key-source.js';
import { selectUsableKeys } from './select-usable-keys.js';

/** Selects the key for a token header (jose's local key set over the fetched document). */
export type KeySet = ReturnType<typeof createLocalJWKSet>;

export interface RemoteKeySet {
  /** The cached keys (never waits once there are some); while the first fetch runs, a promise of them. */
  current(): KeySet | Promise<KeySet>;
  /**
   * For a kid `seen` does not know: newer keys when a fetch (joined if one is running, started if the
   * cooldown allows) brought some; undefined when no newer keys can be had now.
   */
  refreshForUnknownKey(seen: KeySet): Promise<KeySet | undefined>;
  /** Stops the refresh timer and any fetch in flight. */
  close(): void;
}

export interface RemoteKeySetOptions {
  readonly name: string;
  readonly source: Extract<KeySource, { kind: 'jwks_url' | 'discovery' }>;
  readonly settings: JwtConfig['jwks'];
  readonly log: PolicyLog;
  readonly now: () => number;
  /** A fetch brought keys different from the cached ones (tokens verified with the old ones must be rechecked). */
  readonly onChange: () => void;
}

const RETRY_FIRST_MS = 1_000;
/** Backoff ceiling: short while there are no keys (every request is a 503), longer once cached keys serve. */
const RETRY_MAX_NO_KEYS_MS = 5_000;
const RETRY_MAX_MS = 60_000;
const MIN_REFRESH_MS = 1_000;
const LOG_EVERY_MS = 60_000;

class FetchError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(describeFetchError(cause), { cause });
  }
}

export function createRemoteKeySet(o: RemoteKeySetOptions): RemoteKeySet {
  const { now, log, name, source, settings } = o;
  const closing = new AbortController();
  const lifetime = (maxAgeS: number | undefined) =>
    1000 * (maxAgeS === undefined ? settings.cache_ttl_s : Math.max(maxAgeS, settings.min_ttl_s));
  let keys: KeySet | undefined;
  let keysText: string | undefined;
  let jwksUrl = source.kind === 'jwks_url' ? source.url : undefined;
  let discoveryDueAt = 0;
  /** When the next fetch is due: refresh-ahead point after a success, end of the backoff after a failure. */
  let dueAt = 0;
  let lastAttemptAt = -Infinity;
  let failures = 0;
  let lastError: FetchError | undefined;
  let loggedAt = -Infinity;
  let inflight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  async function fetchOnce(url: string) {
    try {
      return await fetchJson(url, settings.timeout_ms, closing.signal);
    } catch (err) {
      throw new FetchError(url, err);
    }
  }

  async function findJwksUrl(): Promise<string> {
    if (source.kind === 'jwks_url') return source.url;
    if (jwksUrl !== undefined && now() < discoveryDueAt) return jwksUrl;
    try {
      const doc = await fetchOnce(source.url);
      jwksUrl = readJwksUri(doc.body, source.issuer);
      discoveryDueAt = now() + lifetime(doc.maxAgeS);
    } catch (err) {
      // A jwks_uri learnt earlier is still the best guess while the configuration cannot be read.
      if (jwksUrl === undefined) throw err instanceof FetchError ? err : new FetchError(source.url, err);
    }
    return jwksUrl;
  }

  async function load(): Promise<{ text: string; set: KeySet; ttl: number; url: string }> {
    const url = await findJwksUrl();
    const doc = await fetchOnce(url);
    try {
      const set = keys !== undefined && doc.text === keysText ? keys : createLocalJWKSet(usable(doc.body));
      return { text: doc.text, set, ttl: lifetime(doc.maxAgeS), url };
    } catch (err) {
      throw new FetchError(url, err);
    }
  }
  const usable = (body: unknown): JSONWebKeySet => selectUsableKeys(body, source.algorithms);

  function schedule(delay: number): void {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void refresh();
    }, delay);
    timer.unref();
  }

  function succeeded(r: { text: string; set: KeySet; ttl: number; url: string }): void {
    if (closed) return;
    const changed = keys !== undefined && r.set !== keys;
    keys = r.set;
    keysText = r.text;
    if (changed) o.onChange();
    if (failures > 0)
      log.info({ event: 'jwks_refresh_recovered', name, url: r.url, failures }, 'JWKS fetched again');
    failures = 0;
    lastError = undefined;
    // Refresh ahead of expiry, but never sooner than half the lifetime: a max-age no longer than
    // refresh_ahead_s must not turn into a fetch loop.
    const delay = Math.max(r.ttl - 1000 * settings.refresh_ahead_s, r.ttl / 2, MIN_REFRESH_MS);
    dueAt = now() + delay;
    schedule(delay);
  }

  function failed(err: unknown): void {
    if (closed) return;
    const error = err instanceof FetchError ? err : new FetchError(jwksUrl ?? source.url, err);
    failures++;
    lastError = error;
    const delay = Math.min(
      RETRY_FIRST_MS * 2 ** (failures - 1),
      keys === undefined ? RETRY_MAX_NO_KEYS_MS : RETRY_MAX_MS,
    );
    const t = now();
    dueAt = t + delay;
    schedule(delay);
    if (t - loggedAt < LOG_EVERY_MS) return;
    loggedAt = t;
    log.warn(
      {
        event: 'jwks_refresh_failed',
        name,
        url: error.url,
        error: error.message,
        failures,
        keys_cached: keys !== undefined,
        retry_in_ms: delay,
      },
      keys === undefined
        ? 'JWKS fetch failed; no keys yet, JWTs are answered 503'
        : 'JWKS refresh failed; cached keys stay in use',
    );
  }

  /** Starts a fetch, or joins the one running. Never rejects: failures are recorded and retried. */
  function refresh(): Promise<void> {
    if (inflight !== undefined) return inflight;
    if (closed) return Promise.resolve();
    lastAttemptAt = now();
    const run = load().then(succeeded, failed);
    inflight = run.finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  const unavailable = () =>
    new JwtError('unavailable', 'signing keys unavailable', {
      cause: lastError ?? new Error('key set closed'),
    });

  void refresh();

  return {
    current() {
      // The timer may fire late (or a test's clock run ahead): a due refresh also starts on use, unawaited.
      if (inflight === undefined && !closed && now() >= dueAt) void refresh();
      if (keys !== undefined) return keys;
      if (inflight === undefined) return Promise.reject(unavailable());
      return inflight.then(() => keys ?? Promise.reject(unavailable()));
    },
    async refreshForUnknownKey(seen) {
      if (keys !== seen) return keys;
      if (inflight === undefined && (closed || now() - lastAttemptAt < 1000 * settings.cooldown_s))
        return undefined;
      await refresh();
      return keys !== seen ? keys : undefined;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      closing.abort();
    },
  };
}

/** The jwks_uri of an OpenID Provider configuration, after the checks of OIDC Discovery 1.0 §3 and §4.3. */
function readJwksUri(body: unknown, issuer: string): string {
  if (typeof body !== 'object' || body === null) throw new Error('the OpenID configuration is not an object');
  const doc = body as Record<string, unknown>;
  // §4.3: the issuer in the document must be exactly the one it was fetched for.
  if (doc['issuer'] !== issuer)
    throw new Error(`the OpenID configuration names issuer ${JSON.stringify(doc['issuer'])}, not ${issuer}`);
  const uri = doc['jwks_uri'];
  if (typeof uri !== 'string') throw new Error('the OpenID configuration has no jwks_uri');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Error(`jwks_uri ${JSON.stringify(uri)} is not a URL`);
  }
  const https = issuer.startsWith('https:');
  if (url.protocol !== 'https:' && (https || url.protocol !== 'http:'))
    throw new Error(`jwks_uri ${uri} must use ${https ? 'https' : 'http(s)'}`);
  return uri;
}
