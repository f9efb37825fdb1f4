// The `webhooks:` root section: where accepted events are kept (an SQLite file by default, or Redis for
// several gateway instances) and how long finished events stay for inspection. One store serves every
// webhook and callbacks route; it is opened only by a serving gateway, kept across reloads while its
// settings are unchanged, and closed once no route uses it.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import type { CompileContext, SectionCheckContext } from '../../pipeline/policy.js';
import type { AsyncEventStore, DepthRow } from './store/event-store.js';
import { StoreWriteError } from './store/event-store.js';
import { ThreadedEventStore } from './store/thread-store.js';
import { RedisEventStore } from './store/redis-store.js';

export const DEFAULT_STORE_PATH = './data/portico-webhooks.db';

export const WebhooksSectionSchema = Type.Object(
  {
    store: Type.Object(
      {
        type: Type.Union([Type.Literal('sqlite'), Type.Literal('redis')], {
          default: 'sqlite',
          description:
            'sqlite: one file on this machine (every worker of one gateway shares it); redis: Redis ' +
            'Streams shared by several gateway instances.',
          'x-expected': 'sqlite or redis',
        }),
        path: Type.String({
          minLength: 1,
          default: DEFAULT_STORE_PATH,
          description:
            'The SQLite file (relative to the config file); its directory is created when its parent exists.',
        }),
        url: Type.Optional(
          Type.String({
            pattern: '^rediss?://',
            description:
              'Redis: `redis://[user:pass@]host:port[/db]` (with `cluster`, a comma-separated list).',
          }),
        ),
        cluster: Type.Boolean({ default: false, description: 'Redis: the url lists Cluster seed nodes.' }),
        prefix: Type.String({
          default: 'portico:',
          description: 'Redis: prefix of every key the store writes.',
        }),
        timeout_ms: Type.Integer({
          minimum: 10,
          maximum: 60_000,
          default: 2_000,
          description: 'Redis: longest one store operation may take (an accept past it answers 503).',
          'x-expected': 'a whole number of milliseconds, 10 to 60000',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    delivered_retention_h: Type.Integer({
      minimum: 1,
      maximum: 8_760,
      default: 72,
      description: 'How long a delivered event stays for inspection and replay before it is pruned.',
      'x-expected': 'hours, 1 to 8760',
    }),
  },
  { default: {}, additionalProperties: false },
);

export type WebhooksSection = Static<typeof WebhooksSectionSchema>;

/** `checkSections`: Redis needs its url. */
export function checkWebhooksSection(ctx: SectionCheckContext): undefined {
  const s = ctx.section('webhooks') as WebhooksSection | undefined;
  if (s?.store.type === 'redis' && s.store.url === undefined)
    ctx.error(['webhooks', 'store', 'url'], 'store type redis needs `url: redis://host:port`');
  return undefined;
}

/** How often the queue-depth gauge's counts are read from the store. */
const DEPTH_REFRESH_MS = 5_000;

/** Longest dedupe retention any route may set (the store's default; each event carries its own). */
const MAX_RETENTION_MS = 8_760 * 3_600_000;

/** The store every webhook and callbacks route of a serving gateway shares, opened on first use. */
export class SharedStore {
  private opened: Promise<AsyncEventStore> | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private depthTimer: NodeJS.Timeout | undefined;
  closed = false;
  /** The delivery loops using this store: closing it first closes them (each ends by its timeout). */
  readonly loops = new Set<{ close(): Promise<void> }>();
  /** Event counts by route and state, refreshed every few seconds (the queue-depth gauge reads them). */
  depthRows: readonly DepthRow[] = [];

  constructor(
    private readonly open: () => Promise<AsyncEventStore>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The store; rejects (StoreWriteError) while it cannot be opened, and tries again on the next call. */
  get(): Promise<AsyncEventStore> {
    if (this.closed) return Promise.reject(new StoreWriteError('CLOSED', '', 'the webhook store is closed'));
    if (this.opened === undefined) {
      const p = this.open();
      this.opened = p;
      p.then(
        (store) => this.startPruning(store),
        (err: unknown) => {
          if (this.opened === p) this.opened = undefined;
          this.onError(err);
        },
      );
    }
    return this.opened;
  }

  private startPruning(store: AsyncEventStore): void {
    if (this.closed) return;
    // Expired dedupe keys and old delivered events, every 10 minutes (each process; the work is idempotent).
    this.pruneTimer = setInterval(() => {
      store.prune(Date.now()).catch((err: unknown) => this.onError(err));
    }, 600_000);
    this.pruneTimer.unref();
    const refresh = (): void => {
      store.depth().then(
        (rows) => {
          this.depthRows = rows;
        },
        () => {},
      );
    };
    refresh();
    this.depthTimer = setInterval(refresh, DEPTH_REFRESH_MS);
    this.depthTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pruneTimer);
    clearInterval(this.depthTimer);
    await Promise.allSettled([...this.loops].map((loop) => loop.close()));
    const p = this.opened;
    this.opened = undefined;
    if (p === undefined) return;
    try {
      await (await p).close();
    } catch {
      // It never opened, or is gone already.
    }
  }
}

/** The shared store of this config (same settings, same store across routes, policies and reloads). */
export function sharedStore(ctx: CompileContext): SharedStore {
  const section = ctx.section('webhooks') as WebhooksSection;
  const s = section.store;
  const deliveredRetentionMs = section.delivered_retention_h * 3_600_000;
  const key =
    s.type === 'sqlite'
      ? `webhooks:sqlite:${resolve(ctx.baseDir, s.path)}:${deliveredRetentionMs}`
      : `webhooks:redis:${JSON.stringify([s.url, s.cluster, s.prefix, s.timeout_ms, deliveredRetentionMs])}`;
  const log = ctx.throttledLog(10_000);
  const report = (err: unknown): void =>
    log.error(
      { event: 'webhook_store_error', error: err instanceof Error ? err.message : String(err) },
      'the webhook store cannot be used',
    );
  return ctx.carryOver(
    key,
    () =>
      new SharedStore(async (): Promise<AsyncEventStore> => {
        if (s.type === 'redis') {
          return new RedisEventStore({
            url: s.url!,
            cluster: s.cluster,
            prefix: s.prefix,
            timeoutMs: s.timeout_ms,
            retentionMs: MAX_RETENTION_MS,
            deliveredRetentionMs,
            leaseMs: 60_000,
          });
        }
        const file = resolve(ctx.baseDir, s.path);
        try {
          // Only the file's own directory, not its parents: a mistyped path fails here rather than making a
          // tree (and Node 20's recursive mkdir never returns under /proc).
          if (!existsSync(dirname(file))) mkdirSync(dirname(file));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
          throw new StoreWriteError('SQLITE_CANTOPEN', file, `cannot create ${dirname(file)}: ${code}`);
        }
        return ThreadedEventStore.open({
          file,
          retentionMs: MAX_RETENTION_MS,
          deliveredRetentionMs,
          leaseMs: 60_000,
        });
      }, report),
    (store) => store.close(),
  );
}
