// How the Redis webhook store fails: every reason Redis cannot take a write now (down, too slow, out of
// memory, a read-only replica, a failed snapshot…) becomes a StoreWriteError — the policy answers 503 and the
// sender retries — named after the Redis URL without its password. Other errors (a bug, a malformed reply)
// pass through unchanged.
import { StoreWriteError } from './event-store.js';

/** The error replies (their first word) that mean "Redis cannot take this now", and what they mean. */
const REPLY_CODES: Readonly<Record<string, readonly [code: string, explanation: string]>> = {
  OOM: ['REDIS_OOM', 'Redis is out of memory (maxmemory reached, noeviction)'],
  READONLY: ['REDIS_READONLY', 'the server is a read-only replica (failover in progress or wrong address)'],
  MISCONF: ['REDIS_MISCONF', 'Redis refuses writes because its last snapshot failed'],
  NOREPLICAS: ['REDIS_NOREPLICAS', 'Redis refuses writes: not enough replicas (min-replicas-to-write)'],
  LOADING: ['REDIS_UNAVAILABLE', 'Redis is loading its dataset'],
  MASTERDOWN: ['REDIS_UNAVAILABLE', 'the replica lost its master'],
  CLUSTERDOWN: ['REDIS_UNAVAILABLE', 'the Redis Cluster is down'],
  TRYAGAIN: ['REDIS_UNAVAILABLE', 'the Redis Cluster is moving the slot'],
  BUSY: ['REDIS_UNAVAILABLE', 'Redis is busy running a slow script'],
  NOAUTH: ['REDIS_AUTH', 'Redis needs a password'],
  WRONGPASS: ['REDIS_AUTH', 'Redis refused the credentials'],
  NOPERM: ['REDIS_AUTH', 'the Redis user lacks a permission the store needs'],
};

/** `url` (one, or a comma-separated Cluster seed list) without passwords: what errors name as the store. */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((entry) =>
      entry.replace(/^([a-z]+:\/\/)([^@/]*)@/i, (_m, scheme: string, auth: string) => {
        const user = auth.includes(':') ? auth.slice(0, auth.indexOf(':')) : '';
        return user === '' ? scheme : `${scheme}${user}@`;
      }),
    )
    .join(',');
}

/** A failure of a Redis command (rejected reply or transport), as opposed to a failure of our own code. */
export class RedisCommandFailure extends Error {
  constructor(readonly failure: unknown) {
    super(failure instanceof Error ? failure.message : String(failure), { cause: failure });
  }
}

/** The store is closed, or not connected: calls fail at once. */
export function unavailable(file: string, operation: string, why: string, code = 'REDIS_UNAVAILABLE') {
  return new StoreWriteError(code, file, `webhook store ${file}: ${operation} failed: ${why} (${code})`);
}

/** The StoreWriteError for a failed command, or the command's own error when it is not about availability. */
export function toStoreError(err: unknown, file: string, operation: string): unknown {
  if (!(err instanceof RedisCommandFailure)) return err;
  const cause = err.failure;
  if (cause instanceof StoreWriteError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof Error && cause.name === 'ReplyError') {
    const known = REPLY_CODES[detail.split(/\s/, 1)[0] ?? ''];
    if (known === undefined) return cause;
    const [code, explanation] = known;
    return new StoreWriteError(
      code,
      file,
      `webhook store ${file}: ${operation} failed: ${explanation} (${code}: ${detail})`,
      { cause },
    );
  }
  // Anything else ioredis rejects with is about the connection: closed, refused, reset, not writable.
  return new StoreWriteError(
    'REDIS_UNAVAILABLE',
    file,
    `webhook store ${file}: ${operation} failed: Redis is unreachable (REDIS_UNAVAILABLE: ${detail})`,
    { cause },
  );
}

/**
 * The reply, or a RedisCommandFailure: when Redis rejects it, or with a StoreWriteError (REDIS_TIMEOUT) when
 * it takes longer than `timeoutMs`. The timeout waits one more loop turn: after a pause of the gateway itself
 * (GC, a starved CPU) a reply that is already waiting must win over it.
 */
export function within<T>(reply: Promise<T>, timeoutMs: number, file: string, operation: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          const why = `Redis did not answer within ${timeoutMs} ms`;
          reject(new RedisCommandFailure(unavailable(file, operation, why, 'REDIS_TIMEOUT')));
        }),
      timeoutMs,
    );
    reply.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (failure: unknown) => {
        clearTimeout(timer);
        reject(new RedisCommandFailure(failure));
      },
    );
  });
}
