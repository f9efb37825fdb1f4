// Hot reload: read → (skip if unchanged) → build → swap, serialized so two reloads never race, triggered by
// SIGHUP, the admin API or a debounced file watch. A config that fails keeps the current one serving.
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { BuildResult } from '../compiler/compile-gateway.js';
import { hashConfigText } from '../compiler/compile-gateway.js';
import type { GatewaySnapshot } from '../compiler/snapshot.js';
import { formatIssue } from '../config/config-issue.js';
import type { SnapshotHolder } from './snapshot-holder.js';

export type ReloadOutcome =
  | { readonly status: 'reloaded'; readonly hash: string }
  | { readonly status: 'unchanged'; readonly hash: string }
  | { readonly status: 'failed'; readonly errors: readonly string[] };

export interface Reloader {
  reload(reason: string): Promise<ReloadOutcome>;
  close(): void;
}

export interface ReloaderOptions {
  readonly file: string;
  readonly holder: SnapshotHolder;
  readonly logger: Logger;
  readonly build: (text: string) => BuildResult;
  readonly onSwap: (next: GatewaySnapshot, prev: GatewaySnapshot) => void;
  /** Every reload's outcome, whatever triggered it (metrics). */
  readonly onOutcome?: (outcome: ReloadOutcome) => void;
  readonly watch: boolean;
  readonly debounceMs: number;
}

export function createReloader(o: ReloaderOptions): Reloader {
  let chain: Promise<ReloadOutcome> = Promise.resolve({ status: 'unchanged', hash: o.holder.current.hash });
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;

  async function reloadNow(reason: string): Promise<ReloadOutcome> {
    let text: string;
    try {
      text = await readFile(o.file, 'utf8');
    } catch (err) {
      const msg = `cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      o.logger.error(
        { event: 'config_reload_failed', reason, errors: [msg] },
        'config reload failed; the current config keeps serving',
      );
      return { status: 'failed', errors: [msg] };
    }
    const hash = hashConfigText(text);
    if (hash === o.holder.current.hash) {
      o.logger.debug(
        { event: 'config_unchanged', reason, config_hash: hash.slice(0, 12) },
        'config unchanged',
      );
      return { status: 'unchanged', hash };
    }
    const started = performance.now();
    const result = o.build(text);
    if (!result.ok) {
      const errors = result.issues.filter((i) => i.severity === 'error').map(formatIssue);
      o.logger.error(
        { event: 'config_reload_failed', reason, errors },
        `config reload failed; the current config keeps serving\n${errors.join('\n')}`,
      );
      return { status: 'failed', errors };
    }
    for (const i of result.issues)
      if (i.severity === 'warning') o.logger.warn({ event: 'config_warning' }, formatIssue(i));
    const prev = o.holder.swap(result.snapshot);
    o.onSwap(result.snapshot, prev);
    o.logger.info(
      {
        event: 'config_reloaded',
        reason,
        config_hash: hash.slice(0, 12),
        routes: result.snapshot.routes.length,
        compile_ms: Math.round((performance.now() - started) * 10) / 10,
      },
      'config reloaded',
    );
    return { status: 'reloaded', hash };
  }

  /** Never rejects: SIGHUP and the watcher fire reloads without awaiting them (a rejection would crash). */
  async function reloadSafely(reason: string): Promise<ReloadOutcome> {
    try {
      return await reloadNow(reason);
    } catch (err) {
      const msg = `unexpected error while reloading ${o.file}: ${err instanceof Error ? err.message : String(err)}`;
      o.logger.error(
        { event: 'config_reload_failed', reason, errors: [msg], err },
        'config reload failed; the current config keeps serving',
      );
      return { status: 'failed', errors: [msg] };
    }
  }

  function reload(reason: string): Promise<ReloadOutcome> {
    chain = chain.then(async () => {
      const outcome = await reloadSafely(reason);
      o.onOutcome?.(outcome);
      return outcome;
    });
    return chain;
  }

  if (o.watch) {
    const name = basename(o.file);
    try {
      // Watch the directory: editors often replace the file (rename) instead of writing it in place.
      watcher = watch(dirname(o.file), (_event, changed) => {
        // Kubernetes ConfigMap volumes swap a `..data` symlink instead of touching the file itself; an
        // event that changed nothing is cheap (the content hash is compared before anything is built).
        if (closed || (changed !== null && changed !== name && !changed.startsWith('..'))) return;
        clearTimeout(debounce);
        debounce = setTimeout(() => void reload('file change'), o.debounceMs);
      });
      watcher.on('error', (err) =>
        o.logger.warn({ event: 'config_watch_failed', err }, 'config file watch stopped'),
      );
    } catch (err) {
      o.logger.warn(
        { event: 'config_watch_failed', err },
        'cannot watch the config file; reload with SIGHUP',
      );
    }
  }

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(debounce);
      watcher?.close();
    },
  };
}
