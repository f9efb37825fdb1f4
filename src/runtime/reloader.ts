// Hot reload: read → (skip if unchanged) → build → swap, serialized so two reloads never race, triggered by
// SIGHUP, the admin API or a debounced file watch. A config that fails keeps the current one serving.
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { BuildResult } from '../compiler/compile-gateway.js';
import { configHash, digestInputs } from '../compiler/config-inputs.js';
import type { GatewaySnapshot } from '../compiler/snapshot.js';
import { formatIssue } from '../config/config-issue.js';
import type { SnapshotHolder } from './snapshot-holder.js';

export type ReloadOutcome =
  | { readonly status: 'reloaded'; readonly hash: string }
  | { readonly status: 'unchanged'; readonly hash: string }
  | { readonly status: 'failed'; readonly errors: readonly string[] };

export interface Reloader {
  reload(reason: string): Promise<ReloadOutcome>;
  /**
   * Reloads from `text` instead of reading the file: a worker process builds the very text its primary
   * read and checked, so every worker serves the same config even if the file changes meanwhile.
   */
  reloadText(text: string, reason: string): Promise<ReloadOutcome>;
  close(): void;
}

export interface ReloaderOptions {
  readonly file: string;
  readonly holder: SnapshotHolder;
  readonly logger: Logger;
  /** Builds the next snapshot; a promise lets the build run in slices (buildSnapshotFromTextAsync). */
  readonly build: (text: string) => BuildResult | Promise<BuildResult>;
  /** The new snapshot serves; `text` is the config text it was built from. */
  readonly onSwap: (next: GatewaySnapshot, prev: GatewaySnapshot, text: string) => void;
  /** Every reload's outcome, whatever triggered it (metrics). */
  readonly onOutcome?: (outcome: ReloadOutcome) => void;
  readonly watch: boolean;
  readonly debounceMs: number;
}

export function createReloader(o: ReloaderOptions): Reloader {
  let chain: Promise<ReloadOutcome> = Promise.resolve({ status: 'unchanged', hash: o.holder.current.hash });
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;
  /** Inputs of the last failed build (a broken consumers file): watched too, so fixing one reloads. */
  let pendingInputs: readonly string[] = [];

  async function reloadNow(reason: string, given: string | undefined): Promise<ReloadOutcome> {
    let text: string;
    try {
      text = given ?? (await readFile(o.file, 'utf8'));
    } catch (err) {
      const msg = `cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      o.logger.error(
        { event: 'config_reload_failed', reason, errors: [msg] },
        'config reload failed; the current config keeps serving',
      );
      return { status: 'failed', errors: [msg] };
    }
    const current = o.holder.current;
    // The config hash covers the text and the input files (the consumers file): a change of either is a
    // change. The inputs are read now, after the event that triggered this reload.
    if (configHash(text, digestInputs(current.inputs)) === current.hash) {
      o.logger.debug(
        { event: 'config_unchanged', reason, config_hash: current.hash.slice(0, 12) },
        'config unchanged',
      );
      return { status: 'unchanged', hash: current.hash };
    }
    const started = performance.now();
    const result = await o.build(text);
    if (!result.ok) {
      pendingInputs = result.inputs ?? [];
      updateWatchers();
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
    o.onSwap(result.snapshot, prev, text);
    pendingInputs = [];
    updateWatchers();
    const hash = result.snapshot.hash;
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
  async function reloadSafely(reason: string, text: string | undefined): Promise<ReloadOutcome> {
    try {
      return await reloadNow(reason, text);
    } catch (err) {
      const msg = `unexpected error while reloading ${o.file}: ${err instanceof Error ? err.message : String(err)}`;
      o.logger.error(
        { event: 'config_reload_failed', reason, errors: [msg], err },
        'config reload failed; the current config keeps serving',
      );
      return { status: 'failed', errors: [msg] };
    }
  }

  function reload(reason: string, text?: string): Promise<ReloadOutcome> {
    chain = chain.then(async () => {
      const outcome = await reloadSafely(reason, text);
      o.onOutcome?.(outcome);
      return outcome;
    });
    return chain;
  }

  /** One watcher per directory holding the config file or one of the current snapshot's input files. */
  const watchers = new Map<string, FSWatcher>();
  function watchedNames(dir: string): Set<string> {
    const names = new Set<string>();
    if (dirname(o.file) === dir) names.add(basename(o.file));
    for (const input of watchedInputs()) if (dirname(input) === dir) names.add(basename(input));
    return names;
  }
  function watchedInputs(): readonly string[] {
    return [...o.holder.current.inputs, ...pendingInputs];
  }
  function updateWatchers(): void {
    if (!o.watch || closed) return;
    const dirs = new Set([dirname(o.file), ...watchedInputs().map((p) => dirname(p))]);
    for (const [dir, w] of watchers)
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        // Watch the directory: editors often replace the file (rename) instead of writing it in place.
        const w = watch(dir, (_event, changed) => {
          // Kubernetes ConfigMap volumes swap a `..data` symlink instead of touching the file itself; an
          // event that changed nothing is cheap (the content hash is compared before anything is built).
          if (closed) return;
          if (changed !== null && !changed.startsWith('..') && !watchedNames(dir).has(changed)) return;
          clearTimeout(debounce);
          debounce = setTimeout(() => void reload('file change'), o.debounceMs);
        });
        w.on('error', (err) =>
          o.logger.warn({ event: 'config_watch_failed', err, dir }, 'config file watch stopped'),
        );
        watchers.set(dir, w);
      } catch (err) {
        o.logger.warn(
          { event: 'config_watch_failed', err, dir },
          'cannot watch the config file; reload with SIGHUP',
        );
      }
    }
  }
  updateWatchers();

  return {
    reload: (reason) => reload(reason),
    reloadText: (text, reason) => reload(reason, text),
    close() {
      closed = true;
      clearTimeout(debounce);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
