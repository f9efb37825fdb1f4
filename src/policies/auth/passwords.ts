// Credential hashing for API keys and HTTP Basic: the config holds only hashes (SHA-256 for high-entropy API
// keys, scrypt or bcrypt for passwords), and a short-lived cache of successful verifications keeps Basic
// requests from paying the deliberately slow password hash on every call.
import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

/** Prefix of keys made by `generateApiKey`, so a leaked key is recognisable (secret scanners, logs). */
export const API_KEY_PREFIX = 'pk_';

/** Options of `hashPassword`. */
export interface HashPasswordOptions {
  /** `scrypt` (default; node:crypto, runs off the event loop) or `bcrypt` (for compatibility). */
  readonly algorithm?: 'scrypt' | 'bcrypt';
  /** Work factor: log2(N) for scrypt (default 14, N = 16384), rounds for bcrypt (default 10). */
  readonly cost?: number;
}

export const SCRYPT_DEFAULT_COST = 14;
export const BCRYPT_DEFAULT_COST = 10;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SCRYPT_KEY_BYTES = 32;
const SCRYPT_SALT_BYTES = 16;

// Bounds on what a hash in the config may ask of the gateway: a hash is verified on the request path, so a
// typo like N=2^30 or bcrypt cost 31 must be refused, not run for minutes.
const SCRYPT_MAX_LOG_N = 20;
const SCRYPT_MAX_R = 32;
const SCRYPT_MAX_P = 16;
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024;
const BCRYPT_MIN_COST = 4;
const BCRYPT_MAX_COST = 16;
/** bcrypt reads only the first 72 bytes of a password. */
const BCRYPT_MAX_PASSWORD_BYTES = 72;

const SCRYPT_FORMAT = /^scrypt\$N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;
const BCRYPT_FORMAT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

interface ScryptHash {
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** Hashes a password as `scrypt$N=<n>,r=<r>,p=<p>$<salt>$<key>` (base64url), or as bcrypt `$2b$…`. */
export async function hashPassword(password: string, opts: HashPasswordOptions = {}): Promise<string> {
  if (opts.algorithm === 'bcrypt') {
    const cost = opts.cost ?? BCRYPT_DEFAULT_COST;
    if (!Number.isInteger(cost) || cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST)
      throw new RangeError(`bcrypt cost must be an integer from ${BCRYPT_MIN_COST} to ${BCRYPT_MAX_COST}`);
    if (Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_PASSWORD_BYTES)
      throw new RangeError(`bcrypt uses only the first ${BCRYPT_MAX_PASSWORD_BYTES} bytes of a password`);
    return bcrypt.hash(password, cost);
  }
  const cost = opts.cost ?? SCRYPT_DEFAULT_COST;
  if (!Number.isInteger(cost) || cost < 1 || cost > SCRYPT_MAX_LOG_N)
    throw new RangeError(`scrypt cost (log2 N) must be an integer from 1 to ${SCRYPT_MAX_LOG_N}`);
  const params = { n: 2 ** cost, r: SCRYPT_R, p: SCRYPT_P };
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await scryptKey(password, salt, SCRYPT_KEY_BYTES, params);
  return `scrypt$N=${params.n},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/**
 * Whether `password` matches `hash` (scrypt format above, or bcrypt $2a$/$2b$/$2y$). Never throws: a
 * malformed or out-of-bounds hash simply matches nothing.
 */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    if (hash.startsWith('$2')) {
      if (bcryptIssue(hash) !== undefined) return false;
      return await bcrypt.compare(password, hash);
    }
    const parsed = parseScrypt(hash);
    if (typeof parsed === 'string') return false;
    const key = await scryptKey(password, parsed.salt, parsed.key.length, parsed);
    return timingSafeEqual(key, parsed.key);
  } catch {
    return false;
  }
}

/**
 * What is wrong with a password hash, or undefined when `verifyPassword` can use it. For load time: a
 * hash that can never match should be reported with the config, not discovered as 401s.
 */
export function passwordHashIssue(hash: string): string | undefined {
  if (hash.startsWith('$2')) return bcryptIssue(hash);
  const parsed = parseScrypt(hash);
  return typeof parsed === 'string' ? parsed : undefined;
}

/** `sha256:<hex>` of an API key: what the config stores in `api_keys`. */
export function hashApiKey(key: string): string {
  return 'sha256:' + createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new API key: `pk_` + 32 random bytes in base64url (256 bits, so SHA-256 without salt is enough). */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

function bcryptIssue(hash: string): string | undefined {
  const m = BCRYPT_FORMAT.exec(hash);
  if (m === null) return 'not a bcrypt hash ($2a$/$2b$/$2y$, cost, 53 characters of salt and hash)';
  const cost = Number(m[1]);
  if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST)
    return `bcrypt cost ${cost} is outside ${BCRYPT_MIN_COST}–${BCRYPT_MAX_COST}`;
  return undefined;
}

/** The parsed scrypt hash, or a message saying why it cannot be used. */
function parseScrypt(hash: string): ScryptHash | string {
  const m = SCRYPT_FORMAT.exec(hash);
  if (m === null) return 'not a scrypt hash (scrypt$N=<n>,r=<r>,p=<p>$<salt>$<key>, base64url)';
  const n = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  if (n < 2 || n > 2 ** SCRYPT_MAX_LOG_N || (n & (n - 1)) !== 0)
    return `scrypt N must be a power of two from 2 to 2^${SCRYPT_MAX_LOG_N}`;
  if (r < 1 || r > SCRYPT_MAX_R) return `scrypt r must be from 1 to ${SCRYPT_MAX_R}`;
  if (p < 1 || p > SCRYPT_MAX_P) return `scrypt p must be from 1 to ${SCRYPT_MAX_P}`;
  if (128 * n * r > SCRYPT_MAX_MEMORY) return 'scrypt N × r needs more than 256 MiB';
  const salt = decodeBase64Url(m[4]!);
  const key = decodeBase64Url(m[5]!);
  if (salt === undefined || salt.length < 8 || salt.length > 64) return 'scrypt salt must be 8–64 bytes';
  if (key === undefined || key.length < 16 || key.length > 64) return 'scrypt key must be 16–64 bytes';
  return { n, r, p, salt, key };
}

/** Strict base64url: Buffer.from ignores stray characters, so the text must round-trip. */
function decodeBase64Url(text: string): Buffer | undefined {
  const buf = Buffer.from(text, 'base64url');
  return buf.toString('base64url') === text ? buf : undefined;
}

function scryptKey(
  password: string,
  salt: Buffer,
  length: number,
  params: { readonly n: number; readonly r: number; readonly p: number },
): Promise<Buffer> {
  // Node refuses above maxmem (32 MiB by default); the bounds above already cap what a hash may ask for.
  const maxmem = 128 * params.n * params.r * 2 + 128 * params.r * params.p;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N: params.n, r: params.r, p: params.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Options of `createPasswordVerifier`. */
export interface PasswordVerifierOptions {
  /** Successful verifications remembered (least recently used dropped first); 0 turns the cache off. */
  readonly cacheSize: number;
  /** How long one is remembered, from when it was verified; 0 turns the cache off. */
  readonly ttlMs: number;
  /** Clock (ms); tests pass their own. */
  readonly now?: () => number;
}

/** `verifyPassword` with a memory of recent successes. */
export interface PasswordVerifier {
  /** Same answer as `verifyPassword`; a (password, hash) pair that matched within the TTL costs one HMAC. */
  verify(password: string, hash: string): Promise<boolean>;
  /** Entries currently remembered (expired ones included until they are looked up or evicted). */
  readonly size: number;
  clear(): void;
}

/**
 * A verifier that remembers successful (password, hash) pairs as HMAC-SHA256 under a key made for this
 * process: the password is never stored, and the entries are useless outside the process. Failures are not
 * remembered (a wrong guess always pays the full hash), but identical verifications in flight share one
 * computation, so a burst of requests with the same credentials at a cold cache pays once.
 */
export function createPasswordVerifier(opts: PasswordVerifierOptions): PasswordVerifier {
  const now = opts.now ?? Date.now;
  const enabled = opts.cacheSize > 0 && opts.ttlMs > 0;
  const macKey = randomBytes(32);
  /** HMAC → expiry time; Map order is recency order (oldest first). */
  const verified = new Map<string, number>();
  const inFlight = new Map<string, Promise<boolean>>();

  const remember = (id: string): void => {
    verified.set(id, now() + opts.ttlMs);
    if (verified.size > opts.cacheSize) verified.delete(verified.keys().next().value!);
  };

  return {
    verify: function verifyCached(password, hash) {
      const mac = createHmac('sha256', macKey);
      // Length-prefixed so (hash, password) pairs cannot run into each other.
      mac.update(`${hash.length}:${hash}`, 'utf8').update(password, 'utf8');
      const id = mac.digest('base64');
      if (enabled) {
        const expires = verified.get(id);
        if (expires !== undefined) {
          verified.delete(id);
          if (expires > now()) {
            verified.set(id, expires);
            return Promise.resolve(true);
          }
        }
      }
      const pending = inFlight.get(id);
      if (pending !== undefined) return pending;
      const started = verifyPassword(password, hash).then((ok) => {
        inFlight.delete(id);
        if (ok && enabled) remember(id);
        return ok;
      });
      inFlight.set(id, started);
      return started;
    },
    get size() {
      return verified.size;
    },
    clear() {
      verified.clear();
    },
  };
}
