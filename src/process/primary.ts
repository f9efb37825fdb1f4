// The primary process of a multi-process gateway (`gateway.workers` > 1). It serves no request itself: it
// checks the config (its own build, which also holds the shared memory stores), forks the workers (node:cluster;
// they share the listeners), replaces a crashed worker with back-off, reloads every worker with the text it
// checked, runs the one admin listener (metrics summed over the workers), and drains the workers on shutdown.
import cluster from 'node:cluster';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import { ResourceRegistry } from '../compiler/carry-over.js';
import {
  buildSnapshotFromText,
  buildSnapshotFromTextAsync,
  type BuildDeps,
} from '../compiler/compile-gateway.js';
import { ConfigError, formatIssue } from '../config/config-issue.js';
import type { Env } from '../config/load-config.js';
import type { GatewayConfig } from '../config/schema.js';
import { createEventLogger, createLogSinks, type LogDestination } from '../observability/logger.js';
import { policyRegistry } from '../policies/registry.js';
import { createReloader, type ReloadOutcome } from '../runtime/reloader.js';
import { SnapshotHolder, type LiveSnapshot } from '../runtime/snapshot-holder.js';
import { createPrimaryMetrics } from './cluster-metrics.js';
import { WORKER_ID_ENV, type ToPrimary, type ToWorker } from './messages.js';
import { primaryAdmin } from './primary-admin.js';
import { runStoreCalls } from './store-link.js';
import { WorkerSet, type WorkerSlot } from './worker-set.js';

export interface PrimaryOptions {
  readonly configFile: string;
  /** The config file's text, as read once by the caller (which found `gateway.workers` in it). */
  readonly configText: string;
  readonly workers: number;
  readonly env?: Env;
  readonly watch?: boolean;
  readonly logDestination?: LogDestination;
}

export interface Primary {
  readonly logger: Logger;
  /** The listeners' addresses, as the first worker bound them. */
  readonly addresses: readonly string[];
  readonly admin: AdminServer | undefined;
  config(): GatewayConfig;
  /** Reloads the file in the primary, then every worker with the same text. */
  reload(reason: string): Promise<ReloadOutcome>;
  reopenLogFiles(): void;
  /** Drains every worker (gateway.shutdown_timeout_ms) and stops. */
  stop(reason: string): Promise<{ drained: boolean }>;
}

/** How long a worker may take to start before the primary gives up on the whole start. */
const WORKER_START_MS = 60_000;

export async function startPrimary(opts: PrimaryOptions): Promise<Primary> {
  const env = opts.env ?? process.env;
  const sinks = createLogSinks(opts.logDestination, { atomic: true });
  const logger = createEventLogger(env.GATEWAY_LOG_LEVEL || 'info', sinks.events).child({ role: 'primary' });
  const resources = new ResourceRegistry();
  // The primary's build serves nothing and connects to nothing: it checks the config and holds the shared
  // memory stores (created under the keys the workers' builds ask for).
  const deps: BuildDeps = {
    registry: policyRegistry,
    resources,
    env,
    accessLogger: undefined,
    eventLogger: logger,
    exportTraces: false,
  };
  // The text the workers start from is the text checked here, whatever the file holds a moment later.
  let text = opts.configText;
  const first = buildSnapshotFromText(text, opts.configFile, deps);
  if (!first.ok) {
    await sinks.close();
    throw new ConfigError(first.issues);
  }
  const configDir = dirname(resolve(opts.configFile));
  const at = (path: string | undefined) => (path === undefined ? undefined : resolve(configDir, path));
  const gw0 = first.snapshot.config.gateway;
  try {
    sinks.useFiles({ events: at(gw0.log_file), access: at(gw0.access_log.file) });
  } catch (err) {
    await resources.release(first.snapshot.resources, false);
    await sinks.close();
    throw err;
  }
  logger.level = gw0.log_level;
  for (const i of first.issues)
    if (i.severity === 'warning') logger.warn({ event: 'config_warning' }, formatIssue(i));

  const holder = new SnapshotHolder(first.snapshot, resources);
  /** The primary's lease on the snapshot the workers serve: its stores stay open while they may call them. */
  let lease: LiveSnapshot = holder.acquire();
  let version = 1;
  const metrics = createPrimaryMetrics(() => set.readyCount);
  let stopping = false;

  const set = new WorkerSet({
    size: opts.workers,
    logger,
    fork: (slot) => cluster.fork({ [WORKER_ID_ENV]: String(slot) }),
    onMessage: (w, m) => onWorkerMessage(w, m),
    onRestart: () => metrics.restarted(),
    stopping: () => stopping,
  });

  function onWorkerMessage(slot: WorkerSlot, m: ToPrimary): void {
    switch (m.t) {
      case 'hello':
        slot.send({ t: 'start', text, version });
        return;
      case 'ready':
        set.ready(slot, m.addresses);
        // Reloaded while it started: it serves an older text.
        if (m.version !== version) void set.request(slot, reloadMessage('catch-up')).catch(() => undefined);
        return;
      case 'startup-failed':
        set.startupFailed(slot, m.message);
        return;
      case 'store-calls': {
        const lookup = (key: string) => resources.peek(key);
        void runStoreCalls(m.calls, lookup).then((replies) => slot.send({ t: 'store-replies', replies }));
        return;
      }
      case 'reply':
        set.settle(slot, m);
        return;
    }
  }

  function reloadMessage(reason: string): (id: number) => ToWorker {
    const t = text;
    const v = version;
    return (id) => ({ t: 'reload', id, text: t, version: v, reason });
  }

  let lastBroadcast: Promise<void> = Promise.resolve();
  const reloader = createReloader({
    file: opts.configFile,
    holder,
    logger,
    // In slices: the primary keeps answering the workers' shared-store calls while it compiles.
    build: (t) => buildSnapshotFromTextAsync(t, opts.configFile, deps),
    onSwap: (next, _prev, newText) => {
      logger.level = next.config.gateway.log_level;
      text = newText;
      version++;
      const previous = lease;
      lease = holder.acquire();
      lastBroadcast = set.broadcast(reloadMessage('primary reload')).then((replies) => {
        for (const [slot, r] of replies)
          if (!r.ok || (r.value as ReloadOutcome).status === 'failed')
            logger.error(
              { event: 'worker_reload_failed', worker: slot.id, error: r.ok ? r.value : r.error },
              `worker ${slot.id} did not reload`,
            );
        // Every worker serves the new snapshot: the old one's stores may close.
        holder.release(previous);
      });
    },
    watch: opts.watch ?? gw0.reload.watch,
    debounceMs: gw0.reload.debounce_ms,
  });
  const reload = async (reason: string): Promise<ReloadOutcome> => {
    const outcome = await reloader.reload(reason);
    await lastBroadcast;
    return outcome;
  };

  const onExit = () => set.killAll();
  process.once('exit', onExit);
  /** A start that cannot complete: the workers that did start are stopped, and nothing is left open. */
  async function abandon(reason: string): Promise<void> {
    stopping = true;
    reloader.close();
    await set.stopAll(reason, 5_000);
    await holder.close();
    process.off('exit', onExit);
    await sinks.close();
  }
  let addresses: readonly string[];
  try {
    cluster.setupPrimary({ execArgv: process.execArgv });
    addresses = await set.start(WORKER_START_MS);
  } catch (err) {
    await abandon('startup failed');
    throw err;
  }

  const adminConfig = gw0.admin;
  let admin: AdminServer | undefined;
  if (adminConfig.enabled) {
    try {
      admin = await startAdminServer(
        primaryAdmin({ holder, set, metrics, reload, draining: () => stopping }),
        adminConfig.listen,
        adminConfig.token,
      );
      logger.info({ event: 'admin_started', listen: admin.address }, `admin listening on ${admin.address}`);
    } catch (err) {
      await abandon('admin listener failed');
      throw err;
    }
  }
  const snap = holder.current;
  logger.info(
    {
      event: 'gateway_started',
      listen: addresses,
      workers: opts.workers,
      routes: snap.routes.length,
      config_hash: snap.hash.slice(0, 12),
    },
    `Portico listening on ${addresses.join(', ')} with ${opts.workers} workers`,
  );

  let shuttingDown: Promise<{ drained: boolean }> | undefined;
  return {
    logger,
    addresses,
    admin,
    config: () => holder.current.config,
    reload,
    reopenLogFiles() {
      const files = sinks.reopen();
      set.post({ t: 'reopen-logs' });
      logger.info(
        { event: 'log_reopened', files },
        files.length > 0 ? 'log files reopened' : 'logs go to stdout: nothing to reopen',
      );
    },
    stop(reason) {
      shuttingDown ??= (async () => {
        stopping = true;
        reloader.close();
        const deadline = holder.current.config.gateway.shutdown_timeout_ms;
        logger.info({ event: 'shutdown_started', reason, deadline_ms: deadline }, 'draining every worker');
        // The workers keep their own deadline; past it (and a margin to exit), they are killed.
        const drained = await set.stopAll(reason, deadline + 5_000);
        await admin?.close();
        await holder.close();
        process.off('exit', onExit);
        logger.info(
          { event: 'shutdown_complete', drained },
          drained ? 'every worker finished its requests' : 'a worker had to be killed',
        );
        await sinks.close();
        return { drained };
      })();
      return shuttingDown;
    },
  };
}
