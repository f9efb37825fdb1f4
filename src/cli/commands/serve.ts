// `portico serve -c gateway.yaml`: run the gateway until SIGTERM/SIGINT (graceful), reload on SIGHUP,
// reopen the log files on SIGUSR1.
import cluster from 'node:cluster';
import { ConfigError } from '../../config/config-issue.js';
import type { Command } from '../main.js';
import { runGateway, type RunningGateway } from '../../process/run-gateway.js';
import { runWorker } from '../../process/worker.js';
import { parseConfigArgs } from './config-arg.js';

export const runServe: Command = {
  summary: 'Run the gateway (reloads on SIGHUP and file change; drains on SIGTERM)',
  usage: [
    'Usage: portico serve [-c FILE]',
    '',
    'Runs the gateway with FILE (default: $PORTICO_CONFIG or ./gateway.yaml).',
    '',
    'Options:',
    '  -c, --config FILE  The gateway configuration',
    '  --no-watch         Do not reload when the file changes (SIGHUP still reloads)',
    '',
    'Signals: SIGHUP reloads the config; SIGUSR1 reopens the log files (after logrotate moved them);',
    'SIGTERM or SIGINT stops accepting, lets in-flight requests finish (gateway.shutdown_timeout_ms)',
    'and exits 0. With gateway.workers above 1, send them to the primary process (the one started):',
    'it passes them on to its workers.',
  ].join('\n'),
  async run(args) {
    const { file, values } = parseConfigArgs(args, { 'no-watch': { type: 'boolean' } });
    if (cluster.isWorker) {
      await runWorker(file);
      return -1;
    }
    const running = await startOrReport(file, values['no-watch'] === true ? false : undefined);
    if (!running) return 1;
    handleSignals(running);
    return -1;
  },
};

export async function startOrReport(file: string, watch?: boolean): Promise<RunningGateway | undefined> {
  try {
    return await runGateway({ configFile: file, ...(watch === undefined ? {} : { watch }) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`portico: ${file} is not valid; nothing was started.\n${err.message}\n`);
      return undefined;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      process.stderr.write(`portico: cannot listen: ${e.message}\n`);
      return undefined;
    }
    throw err;
  }
}

/**
 * SIGHUP reloads; SIGUSR1 reopens the log files; the first SIGTERM/SIGINT drains and exits 0, a second one
 * exits at once. Only the CLI listens to signals: a process embedding Portico keeps its own.
 */
export function handleSignals(portico: RunningGateway): void {
  process.on('SIGHUP', () => void portico.reload('SIGHUP'));
  // A listener also keeps Node from starting its inspector on SIGUSR1 (its default).
  const reopenLogs = () => portico.reopenLogFiles();
  process.on('SIGUSR1', reopenLogs);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      portico.logger.warn({ event: 'shutdown_forced', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    // The files are closed once stopped: from then on there is nothing to reopen.
    const exit = (code: number) => {
      process.off('SIGUSR1', reopenLogs);
      process.exit(code);
    };
    void portico.stop(signal).then(
      () => exit(0),
      () => exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
