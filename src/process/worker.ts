// A worker process of a multi-process gateway (`gateway.workers` > 1): serves the listeners it shares with
// the other workers (node:cluster hands it connections), with the config text its primary read and checked.
// It has no admin listener and watches no file: the primary reloads it, asks it for its metrics and admin
// state, and tells it to drain. Shared stores (memory-store rate limits) are the primary's. Without its
// primary (killed, crashed) it drains and exits.
import type { Logger } from 'pino';
import { localAdmin } from '../admin/local-admin.js';
import { ConfigError } from '../config/config-issue.js';
import { Problem } from '../problems/problem.js';
import {
  EXIT_STARTUP_FAILED,
  isMessage,
  WORKER_ID_ENV,
  type ReplyBody,
  type StoreCall,
  type ToPrimary,
  type ToWorker,
} from './messages.js';
import { startPortico, type Portico } from './start-portico.js';
import { createStoreClient } from './store-link.js';

/** Runs this process as worker $PORTICO_WORKER_ID of `configFile`; resolves once it serves (or exits). */
export async function runWorker(configFile: string): Promise<void> {
  const id = Number(process.env[WORKER_ID_ENV]);
  const send = (m: ToPrimary): void => {
    if (process.connected) process.send!(m);
  };
  const stores = createStoreClient((calls: StoreCall[]) => send({ t: 'store-calls', calls }));
  let portico: Portico | undefined;
  let stopping: Promise<void> | undefined;

  // The terminal's Ctrl-C and a hang-up reach the whole process group: the primary decides what they mean.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGUSR1', () => portico?.reopenLogFiles());
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('disconnect', () => {
    stores.fail('the primary process is gone');
    void stop('primary gone');
  });

  function stop(reason: string): Promise<void> {
    stopping ??= (portico ? portico.stop(reason) : Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
    return stopping;
  }

  const started = new Promise<void>((resolve) => {
    process.on('message', (m: unknown) => {
      if (!isMessage<ToWorker>(m)) return;
      switch (m.t) {
        case 'start':
          void start(m.text, m.version).then(resolve);
          return;
        case 'store-replies':
          stores.onReplies(m.replies);
          return;
        case 'reload':
          reply(m.id, () => portico!.gateway.reloadText(m.text, m.reason));
          return;
        case 'admin':
          reply(m.id, () => localAdmin(portico!.gateway, portico!.metrics).handle(m.call));
          return;
        case 'metrics':
          reply(m.id, () => portico!.metrics.registry.getMetricsAsJSON());
          return;
        case 'reopen-logs':
          portico?.reopenLogFiles();
          return;
        case 'shutdown':
          void stop(m.reason);
          return;
      }
    });
  });
  send({ t: 'hello' });

  async function start(text: string, version: number): Promise<void> {
    try {
      portico = await startPortico({
        configFile,
        configText: text,
        worker: { id, sharedStores: stores },
      });
    } catch (err) {
      const message =
        err instanceof ConfigError
          ? `the config is not valid: ${err.message}`
          : `cannot start: ${err instanceof Error ? err.message : String(err)}`;
      // Exit once the message is on its way: exiting at once could drop it, and the primary would only
      // see a worker that died while starting, not why.
      const exit = () => process.exit(EXIT_STARTUP_FAILED);
      if (process.connected) process.send!({ t: 'startup-failed', message } satisfies ToPrimary, exit);
      else exit();
      return;
    }
    send({ t: 'ready', addresses: portico.gateway.addresses, version });
  }

  function reply(requestId: number, work: () => unknown): void {
    if (portico === undefined) {
      send({ t: 'reply', id: requestId, ok: false, error: 'the worker is still starting' });
      return;
    }
    Promise.resolve()
      .then(work)
      .then(
        (value) => send({ t: 'reply', id: requestId, ok: true, value }),
        (err: unknown) => send({ t: 'reply', id: requestId, ...failure(err, portico!.logger) }),
      );
  }

  await started;
}

function failure(err: unknown, logger: Logger): ReplyBody & { ok: false } {
  if (err instanceof Problem)
    return {
      ok: false,
      error: err.message,
      problem: {
        code: err.code,
        status: err.status,
        title: err.title,
        ...(err.detail !== undefined ? { detail: err.detail } : {}),
        ...(err.headers ? { headers: err.headers } : {}),
        ...(err.extensions ? { extensions: err.extensions } : {}),
      },
    };
  logger.error({ event: 'internal_error', err }, 'a request of the primary failed');
  return { ok: false, error: err instanceof Error ? err.message : String(err) };
}
