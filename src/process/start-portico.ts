// Starts the whole gateway in this process: data plane and admin listener, sharing one set of loggers
// (on stdout, or in the files the config names). Used by `serve`, `demo` and the end-to-end tests.
import { dirname, resolve } from 'node:path';
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import { localAdmin } from '../admin/local-admin.js';
import type { SharedStoreLink } from '../compiler/compile-context.js';
import type { Env } from '../config/load-config.js';
import {
  ATOMIC_WRITE_BYTES,
  createAccessLogger,
  createEventLogger,
  createLogSinks,
  type LogDestination,
  type Logger,
} from '../observability/logger.js';
import { createGatewayMetrics, type GatewayMetrics } from '../observability/metrics.js';
import { policyRegistry } from '../policies/registry.js';
import { startGateway, type Gateway } from '../runtime/gateway.js';

export interface PorticoOptions {
  readonly configFile: string;
  /** The config text to start with instead of reading `configFile` (a worker: its primary's text). */
  readonly configText?: string;
  readonly env?: Env;
  /** Where logs go unless the config names files (default: stdout). */
  readonly logDestination?: LogDestination;
  readonly watch?: boolean;
  /**
   * This process is worker `id` of a primary (`gateway.workers` > 1): no admin listener (the primary runs
   * it), no file watch (the primary reloads), every event line carries `worker`, and shared stores are the
   * primary's.
   */
  readonly worker?: { readonly id: number; readonly sharedStores: SharedStoreLink };
}

export interface Portico {
  readonly gateway: Gateway;
  readonly admin: AdminServer | undefined;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Writes pending access lines now (they are otherwise batched for up to 100 ms). */
  flushAccessLog(): void;
  /** Reopens the log files at their paths (after logrotate renamed them) and logs `log_reopened`. */
  reopenLogFiles(): void;
  /** Graceful stop: drain, close listeners and pools. */
  stop(reason?: string): Promise<{ drained: boolean }>;
}

export async function startPortico(opts: PorticoOptions): Promise<Portico> {
  const env = opts.env ?? process.env;
  // A worker shares stdout and the log files with the other processes: whole-line writes (logger.ts).
  const sinks = createLogSinks(opts.logDestination, { atomic: opts.worker !== undefined });
  const root = createEventLogger(env.GATEWAY_LOG_LEVEL || 'info', sinks.events);
  const logger = opts.worker ? root.child({ worker: opts.worker.id }) : root;
  const accessLogger = opts.worker
    ? createAccessLogger(sinks.access, ATOMIC_WRITE_BYTES, opts.worker.id)
    : createAccessLogger(sinks.access);
  // Relative log paths are read from the config file's directory, wherever the process was started.
  const configDir = dirname(resolve(opts.configFile));
  const at = (path: string | undefined) => (path === undefined ? undefined : resolve(configDir, path));
  // The in-flight gauge reads the gateway, which exists only after the metrics it is given.
  const running: { gateway?: Gateway } = {};
  const metrics = createGatewayMetrics({ inflight: () => running.gateway?.holder.inflight ?? 0 });
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      configFile: opts.configFile,
      ...(opts.configText === undefined ? {} : { configText: opts.configText }),
      registry: policyRegistry,
      env,
      eventLogger: logger,
      accessLogger,
      metrics,
      ...(opts.watch === undefined ? {} : { watch: opts.watch }),
      ...(opts.worker ? { watch: false, announce: false, sharedStores: opts.worker.sharedStores } : {}),
      onConfigLoaded: (config) =>
        sinks.useFiles({ events: at(config.gateway.log_file), access: at(config.gateway.access_log.file) }),
    });
  } catch (err) {
    accessLogger.close();
    await sinks.close();
    throw err;
  }
  running.gateway = gateway;
  const adminConfig = gateway.holder.current.config.gateway.admin;
  let admin: AdminServer | undefined;
  if (adminConfig.enabled && opts.worker === undefined) {
    try {
      admin = await startAdminServer(localAdmin(gateway, metrics), adminConfig.listen, adminConfig.token);
      logger.info({ event: 'admin_started', listen: admin.address }, `admin listening on ${admin.address}`);
    } catch (err) {
      await gateway.shutdown('admin listener failed');
      accessLogger.close();
      await sinks.close();
      throw err;
    }
  }
  return {
    gateway,
    admin,
    logger,
    metrics,
    flushAccessLog: () => accessLogger.flush(),
    reopenLogFiles() {
      // Lines gathered before the signal still go to the file they were written for.
      accessLogger.flush();
      const files = sinks.reopen();
      logger.info(
        { event: 'log_reopened', files },
        files.length > 0 ? 'log files reopened' : 'logs go to stdout: nothing to reopen',
      );
    },
    async stop(reason = 'stop') {
      const result = await gateway.shutdown(reason);
      await admin?.close();
      accessLogger.close();
      await sinks.close();
      return result;
    },
  };
}
