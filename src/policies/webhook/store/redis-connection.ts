// The Redis webhook store's connection: one ioredis client (standalone or Cluster, set up by
// lib/redis-client.ts: fail fast while disconnected, no resend after a reconnect) with the store's scripts
// defined on it, and the discipline of every command: refused at once when closed or disconnected, bounded
// by the timeout, and its failures turned into StoreWriteError by op().
import type { Cluster, Redis } from 'ioredis';
import { createRedisClient, onceReady, quitClient } from '../../../lib/redis-client.js';
import { globalKeys, routeBase } from './redis-keys.js';
import { RedisCommandFailure, redactUrl, toStoreError, unavailable, within } from './redis-errors.js';
import { ACCEPT_LUA, CLAIM_LUA, FINISH_LUA, PEEK_LUA } from './redis-scripts.js';
import {
  DELETE_LUA,
  GET_LUA,
  PRUNE_LUA,
  REGISTER_LUA,
  REPLAY_LUA,
  SUMMARY_LUA,
} from './redis-scripts-admin.js';

type Arg = string | number | Buffer;
/** The client states before its first connection is ready. */
const FIRST_CONNECT = new Set(['wait', 'connecting', 'connect']);
/** A route script: KEYS[1] the route's stream, then ARGV (the first: the route's key prefix). */
type Script = (key: string, ...args: Arg[]) => Promise<unknown>;

/** The client with the scripts defined on it (ioredis' defineCommand: EVALSHA, EVAL again on NOSCRIPT). */
export type ScriptClient = (Redis | Cluster) & {
  whAccept: Script;
  whClaimBuffer: Script;
  whPeek: Script;
  whFinish: Script;
  whGetBuffer: Script;
  whSummaryBuffer: Script;
  whReplay: Script;
  whDelete: Script;
  whPrune: Script;
  whRegister(routesKey: string, seqKey: string, ...args: Arg[]): Promise<unknown>;
};

export interface ConnectionOptions {
  readonly url: string;
  readonly cluster: boolean;
  readonly prefix: string;
  readonly timeoutMs: number;
}

export class RedisConnection {
  /** The Redis URL without password: what errors name as the store. */
  readonly file: string;
  readonly client: ScriptClient;
  readonly keys: { routes: string; seq: string };
  /** Settles when the first connection is ready (rejects if closed first). */
  readonly ready: Promise<void>;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private lastError: Error | undefined;
  private wasReady = false;
  private closed = false;

  constructor(options: ConnectionOptions) {
    this.prefix = options.prefix;
    this.timeoutMs = options.timeoutMs;
    this.file = redactUrl(options.url);
    this.keys = globalKeys(options.prefix);
    const client = createRedisClient({
      url: options.url,
      cluster: options.cluster,
      socketTimeoutMs: Math.max(1000, options.timeoutMs * 5),
      autoPipelining: false,
    }) as ScriptClient;
    const scripts = {
      whAccept: ACCEPT_LUA,
      whClaim: CLAIM_LUA,
      whPeek: PEEK_LUA,
      whFinish: FINISH_LUA,
      whGet: GET_LUA,
      whSummary: SUMMARY_LUA,
      whReplay: REPLAY_LUA,
      whDelete: DELETE_LUA,
      whPrune: PRUNE_LUA,
    };
    for (const [name, lua] of Object.entries(scripts)) client.defineCommand(name, { numberOfKeys: 1, lua });
    client.defineCommand('whRegister', { numberOfKeys: 2, lua: REGISTER_LUA });
    // Calls report failures themselves; this keeps the reason for their "not connected" message.
    client.on('error', (err: Error) => (this.lastError = err));
    client.once('ready', () => (this.wasReady = true));
    this.client = client;
    this.ready = onceReady(client, `webhook store ${this.file}`);
  }

  /** The prefix of every key of `route`. */
  base(route: string): string {
    return routeBase(this.prefix, route);
  }

  /** One command: failing at once when closed or disconnected, else bounded by the timeout. */
  cmd<T>(operation: string, send: () => Promise<T>): Promise<T> {
    const fail = (why: string, code?: string) =>
      Promise.reject(new RedisCommandFailure(unavailable(this.file, operation, why, code)));
    if (this.closed) return fail('the store is closed', 'REDIS_CLOSED');
    const { status } = this.client;
    if (status !== 'ready') {
      // Right after start, a call waits (within its timeout) for the first connection; once connected, a
      // lost connection fails every call at once until ioredis has reconnected.
      if (!this.wasReady && FIRST_CONNECT.has(status)) {
        return within(
          this.ready.then(() => this.cmd(operation, send)),
          this.timeoutMs,
          this.file,
          operation,
        ).catch((err: unknown) => {
          throw err instanceof RedisCommandFailure && err.failure instanceof RedisCommandFailure
            ? err.failure
            : err;
        });
      }
      const last = this.lastError !== undefined ? `: ${this.lastError.message}` : '';
      return fail(`not connected to Redis (${status}${last})`);
    }
    let reply: Promise<T>;
    try {
      reply = send();
    } catch (err) {
      reply = Promise.reject(err as Error);
    }
    return within(reply, this.timeoutMs, this.file, operation);
  }

  /** A route script, given the route's key prefix: KEYS[1] is its stream, ARGV[1] the prefix. */
  script(operation: string, route: string, run: (key: string, base: string) => Promise<unknown>) {
    const base = this.base(route);
    return this.cmd(operation, () => run(`${base}q`, base));
  }

  /** Runs an operation, turning a failed command into a StoreWriteError (or its own error). */
  async op<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(err, this.file, operation);
    }
  }

  /** The routes that ever received an event or were paused. */
  routes(operation: string): Promise<string[]> {
    return this.cmd(operation, () => this.client.smembers(this.keys.routes));
  }

  /** Runs a route script on every known route (for what only an event id names). */
  async onEveryRoute(
    operation: string,
    run: (key: string, base: string) => Promise<unknown>,
  ): Promise<unknown[]> {
    const routes = await this.routes(operation);
    return Promise.all(routes.map((route) => this.script(operation, route, run)));
  }

  /** Quits the connection (never waiting more than a second); further commands fail with REDIS_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await quitClient(this.client);
  }
}
