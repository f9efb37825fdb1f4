// Runs the gateway the config asks for: in this process (`gateway.workers: 1`, the default), or as a
// primary with worker processes. Both are a RunningGateway to the command line (signals, the demo's hints).
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { loadConfigFile, type Env } from '../config/load-config.js';
import { MAX_WORKERS } from '../config/gateway-schema.js';
import type { GatewayConfig } from '../config/schema.js';
import type { ReloadOutcome } from '../runtime/reloader.js';
import { startPrimary } from './primary.js';
import { startPortico } from './start-portico.js';

export interface RunningGateway {
  readonly logger: Logger;
  /** The listeners' addresses, in the order of gateway.listen. */
  readonly addresses: readonly string[];
  readonly adminAddress: string | undefined;
  /** Processes serving the listeners (1: this one). */
  readonly workers: number;
  config(): GatewayConfig;
  reload(reason: string): Promise<ReloadOutcome>;
  /** Reopens the log files at their paths (after logrotate renamed them). */
  reopenLogFiles(): void;
  /** Graceful stop: drain, close listeners and pools. */
  stop(reason: string): Promise<{ drained: boolean }>;
}

export interface RunOptions {
  readonly configFile: string;
  readonly env?: Env;
  readonly watch?: boolean;
}

export async function runGateway(opts: RunOptions): Promise<RunningGateway> {
  const env = opts.env ?? process.env;
  // Read once: the text decides how many processes run, and every one of them starts from it.
  const source = loadConfigFile(opts.configFile, env);
  const workers = workerCount(source.value);
  const base = {
    configFile: opts.configFile,
    env,
    ...(opts.watch === undefined ? {} : { watch: opts.watch }),
  };
  if (workers > 1) {
    const p = await startPrimary({ ...base, configText: source.text, workers });
    return {
      logger: p.logger,
      addresses: p.addresses,
      adminAddress: p.admin?.address,
      workers,
      config: () => p.config(),
      reload: (reason) => p.reload(reason),
      reopenLogFiles: () => p.reopenLogFiles(),
      stop: (reason) => p.stop(reason),
    };
  }
  // An unreadable file has no text: startPortico reads it and reports why.
  const p = await startPortico({ ...base, ...(source.text === '' ? {} : { configText: source.text }) });
  return {
    logger: p.logger,
    addresses: p.gateway.addresses,
    adminAddress: p.admin?.address,
    workers: 1,
    config: () => p.gateway.holder.current.config,
    reload: (reason) => p.gateway.reload(reason),
    reopenLogFiles: () => p.reopenLogFiles(),
    stop: (reason) => p.stop(reason),
  };
}

/**
 * `gateway.workers` of a parsed config: "auto" is one per CPU. Anything that is not a valid setting counts
 * as 1, so the single-process start reports it with its line, as every other config error.
 */
export function workerCount(config: unknown, cpus = availableParallelism()): number {
  const gw = (config as { gateway?: { workers?: unknown } } | undefined)?.gateway;
  const w = gw?.workers;
  if (w === 'auto') return Math.min(MAX_WORKERS, Math.max(1, cpus));
  if (typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= MAX_WORKERS) return w;
  return 1;
}
