// A running gateway: compiles the config, listens, reloads on demand (SIGHUP, file change, API), and shuts
// down gracefully (stop accepting, drain in flight up to a deadline, close upstream pools).
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import type { Logger } from 'pino';
import type { AccessLogger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { ResourceRegistry } from '../compiler/carry-over.js';
import type { SharedStoreLink } from '../compiler/compile-context.js';
import {
  type BuildDeps,
  buildSnapshotFromFile,
  buildSnapshotFromText,
  buildSnapshotFromTextAsync,
} from '../compiler/compile-gateway.js';
import type { GatewaySnapshot } from '../compiler/snapshot.js';
import { ConfigError, type ConfigIssue, formatIssue } from '../config/config-issue.js';
import type { Env } from '../config/load-config.js';
import type { GatewayConfig } from '../config/schema.js';
import { createGatewayServer, type GatewayServer } from '../http/server.js';
import type { AnyPolicyDefinition } from '../pipeline/policy.js';
import { SnapshotHolder } from './snapshot-holder.js';
import { createReloader, type Reloader, type ReloadOutcome } from './reloader.js';

export interface GatewayOptions {
  readonly configFile: string;
  /** The config text to start with instead of reading `configFile` (a worker: its primary's text). */
  readonly configText?: string;
  readonly registry: readonly AnyPolicyDefinition[];
  readonly env?: Env;
  readonly eventLogger: Logger;
  readonly accessLogger: AccessLogger;
  /** Request and reload metrics (the admin listener serves them). */
  readonly metrics?: GatewayMetrics;
  /** Watch the config file (default: the config's gateway.reload.watch). */
  readonly watch?: boolean;
  /** Called with the first valid config before anything is logged or listened on (opens the log files). */
  readonly onConfigLoaded?: (config: GatewayConfig) => void;
  /** Log `gateway_started` (default); a worker process logs `worker_started` and its primary the former. */
  readonly announce?: boolean;
  /** In a worker process: the primary's shared memory stores. */
  readonly sharedStores?: SharedStoreLink;
}

export interface Gateway {
  readonly holder: SnapshotHolder;
  readonly servers: readonly http.Server[];
  /** Bound addresses, "host:port", in the order of gateway.listen. */
  readonly addresses: readonly string[];
  readonly ready: boolean;
  readonly draining: boolean;
  reload(reason: string): Promise<ReloadOutcome>;
  /** Reloads from config text its primary read and checked (a worker process). */
  reloadText(text: string, reason: string): Promise<ReloadOutcome>;
  /** Graceful shutdown; resolves when every request finished or the deadline passed. */
  shutdown(reason: string): Promise<{ drained: boolean }>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const env = opts.env ?? process.env;
  const resources = new ResourceRegistry();
  const deps: BuildDeps = {
    registry: opts.registry,
    resources,
    env,
    accessLogger: opts.accessLogger,
    eventLogger: opts.eventLogger,
    metrics: opts.metrics,
    exportTraces: true,
    sharedStores: opts.sharedStores,
  };
  const first =
    opts.configText === undefined
      ? buildSnapshotFromFile(opts.configFile, deps)
      : buildSnapshotFromText(opts.configText, opts.configFile, deps);
  if (!first.ok) throw new ConfigError(first.issues);
  try {
    opts.onConfigLoaded?.(first.snapshot.config);
  } catch (err) {
    await resources.release(first.snapshot.resources, false);
    throw err;
  }
  logWarnings(opts.eventLogger, first.issues);
  const snapshot = first.snapshot;
  opts.metrics?.configLoaded(snapshot.hash);
  const gw = snapshot.config.gateway;
  opts.eventLogger.level = gw.log_level;

  const holder = new SnapshotHolder(snapshot, resources);
  const limits = {
    maxHeaderBytes: gw.limits.max_header_bytes,
    headerTimeoutMs: gw.limits.header_timeout_ms,
    requestTimeoutMs: gw.limits.request_timeout_ms,
    keepAliveTimeoutMs: gw.limits.keep_alive_timeout_ms,
  };
  const listens = Array.isArray(gw.listen) ? gw.listen : [gw.listen];
  const servers: GatewayServer[] = [];
  const addresses: string[] = [];
  try {
    for (const listen of listens) {
      const s = createGatewayServer(holder, limits, opts.eventLogger);
      servers.push(s);
      addresses.push(await listenOn(s.server, listen));
    }
  } catch (err) {
    for (const s of servers) s.server.close();
    await holder.close();
    throw err;
  }

  let ready = true;
  let draining = false;
  let shuttingDown: Promise<{ drained: boolean }> | undefined;
  const reloader: Reloader = createReloader({
    file: opts.configFile,
    holder,
    logger: opts.eventLogger,
    // A reload compiles in slices between requests (and reuses unchanged routes): no stall in flight.
    build: (text) => buildSnapshotFromTextAsync(text, opts.configFile, deps),
    onSwap: (next: GatewaySnapshot, prev: GatewaySnapshot) => {
      opts.eventLogger.level = next.config.gateway.log_level;
      for (const w of restartOnlyChanges(prev, next))
        opts.eventLogger.warn(
          { event: 'config_restart_required', setting: w },
          `${w} changed; it takes effect after a restart`,
        );
    },
    onOutcome: (outcome) => {
      if (outcome.status === 'reloaded') opts.metrics?.reloaded('ok', outcome.hash);
      else if (outcome.status === 'failed') opts.metrics?.reloaded('failed');
    },
    watch: opts.watch ?? gw.reload.watch,
    debounceMs: gw.reload.debounce_ms,
  });

  opts.eventLogger.info(
    {
      event: opts.announce === false ? 'worker_started' : 'gateway_started',
      listen: addresses,
      routes: snapshot.routes.length,
      config_hash: snapshot.hash.slice(0, 12),
    },
    `Portico listening on ${addresses.join(', ')}`,
  );

  return {
    holder,
    servers: servers.map((s) => s.server),
    addresses,
    get ready() {
      return ready;
    },
    get draining() {
      return draining;
    },
    reload: (reason) => reloader.reload(reason),
    reloadText: (text, reason) => reloader.reloadText(text, reason),
    shutdown(reason: string) {
      // A second call (stop() and a signal, two signals…) waits for the same drain and gets its real outcome.
      shuttingDown ??= drainAndClose(reason);
      return shuttingDown;
    },
  };

  async function drainAndClose(reason: string): Promise<{ drained: boolean }> {
    draining = true;
    ready = false;
    reloader.close();
    const deadline = holder.current.config.gateway.shutdown_timeout_ms;
    opts.eventLogger.info(
      { event: 'shutdown_started', reason, inflight: holder.inflight, deadline_ms: deadline },
      'draining',
    );
    for (const s of servers) {
      s.startDraining();
      s.server.close();
      s.server.closeIdleConnections();
    }
    const drained = await holder.waitForDrain(deadline);
    for (const s of servers) s.server.closeAllConnections();
    await holder.close();
    opts.eventLogger.info(
      { event: 'shutdown_complete', drained },
      drained ? 'all requests finished' : 'deadline passed; remaining connections closed',
    );
    return { drained };
  }
}

function listenOn(server: http.Server, listen: string): Promise<string> {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ port, host: host === '' ? undefined : host }, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    });
  });
}

/** Settings a running process cannot change in place. */
function restartOnlyChanges(prev: GatewaySnapshot, next: GatewaySnapshot): string[] {
  const a = prev.config.gateway;
  const b = next.config.gateway;
  const out: string[] = [];
  if (JSON.stringify(a.listen) !== JSON.stringify(b.listen)) out.push('gateway.listen');
  if (JSON.stringify(a.admin) !== JSON.stringify(b.admin)) out.push('gateway.admin');
  for (const k of [
    'max_header_bytes',
    'header_timeout_ms',
    'request_timeout_ms',
    'keep_alive_timeout_ms',
  ] as const)
    if (a.limits[k] !== b.limits[k]) out.push(`gateway.limits.${k}`);
  if (JSON.stringify(a.reload) !== JSON.stringify(b.reload)) out.push('gateway.reload');
  if (a.workers !== b.workers) out.push('gateway.workers');
  if (a.log_file !== b.log_file) out.push('gateway.log_file');
  if (a.access_log.file !== b.access_log.file) out.push('gateway.access_log.file');
  return out;
}

function logWarnings(logger: Logger, issues: readonly ConfigIssue[]): void {
  for (const i of issues)
    if (i.severity === 'warning') logger.warn({ event: 'config_warning' }, formatIssue(i));
}
