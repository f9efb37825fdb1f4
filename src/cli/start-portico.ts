// Starts the whole gateway process in-process: data plane and admin listener, sharing one set of loggers.
// Used by `serve`, `demo` and the end-to-end tests.
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import type { Env } from '../config/load-config.js';
import {
  createAccessLogger,
  createEventLogger,
  type LogDestination,
  type Logger,
} from '../observability/logger.js';
import { createGatewayMetrics, type GatewayMetrics } from '../observability/metrics.js';
import { policyRegistry } from '../policies/registry.js';
import { startGateway, type Gateway } from '../runtime/gateway.js';

export interface PorticoOptions {
  readonly configFile: string;
  readonly env?: Env;
  /** Where logs go (default: stdout). */
  readonly logDestination?: LogDestination;
  readonly watch?: boolean;
}

export interface Portico {
  readonly gateway: Gateway;
  readonly admin: AdminServer | undefined;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Writes pending access lines now (they are otherwise batched for up to 100 ms). */
  flushAccessLog(): void;
  /** Graceful stop: drain, close listeners and pools. */
  stop(reason?: string): Promise<{ drained: boolean }>;
}

export async function startPortico(opts: PorticoOptions): Promise<Portico> {
  const env = opts.env ?? process.env;
  const logger = createEventLogger(env.GATEWAY_LOG_LEVEL || 'info', opts.logDestination);
  const accessLogger = createAccessLogger(opts.logDestination);
  // The in-flight gauge reads the gateway, which exists only after the metrics it is given.
  const running: { gateway?: Gateway } = {};
  const metrics = createGatewayMetrics({ inflight: () => running.gateway?.holder.inflight ?? 0 });
  const gateway = await startGateway({
    configFile: opts.configFile,
    registry: policyRegistry,
    env,
    eventLogger: logger,
    accessLogger,
    metrics,
    ...(opts.watch === undefined ? {} : { watch: opts.watch }),
  });
  running.gateway = gateway;
  const adminConfig = gateway.holder.current.config.gateway.admin;
  let admin: AdminServer | undefined;
  if (adminConfig.enabled) {
    try {
      admin = await startAdminServer(gateway, adminConfig.listen, adminConfig.token, metrics);
      logger.info({ event: 'admin_started', listen: admin.address }, `admin listening on ${admin.address}`);
    } catch (err) {
      await gateway.shutdown('admin listener failed');
      throw err;
    }
  }
  return {
    gateway,
    admin,
    logger,
    metrics,
    flushAccessLog: () => accessLogger.flush(),
    async stop(reason = 'stop') {
      const result = await gateway.shutdown(reason);
      await admin?.close();
      accessLogger.close();
      return result;
    },
  };
}
