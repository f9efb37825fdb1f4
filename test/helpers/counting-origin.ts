// A programmable upstream for cache tests: one handler per path (query ignored), and the hits counted per
// path, so a test can assert exactly how many requests the cache let through.
import type http from 'node:http';
import { startUpstream, type TestUpstream } from './upstream.js';

/** What the upstream answers on one path; `n` is this path's hit number, from 1. */
export type PathHandler = (
  n: number,
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => void | Promise<void>;

export class Origin {
  private readonly handlers = new Map<string, PathHandler>();
  private readonly counts = new Map<string, number>();
  up!: TestUpstream;

  async start(): Promise<void> {
    this.up = await startUpstream(async (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const n = (this.counts.get(path) ?? 0) + 1;
      this.counts.set(path, n);
      const handler = this.handlers.get(path);
      if (handler === undefined) return send(res, 404, {}, 'no handler');
      await handler(n, req, res);
    });
  }

  on(path: string, handler: PathHandler): void {
    this.handlers.set(path, handler);
  }

  /** Requests that reached the upstream on `path` (query ignored). */
  hits(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  /** The requests that reached the upstream on `path`, in order. */
  received(path: string) {
    return this.up.received.filter((r) => r.url.split('?')[0] === path);
  }
}

/** Answers with a text body and its Content-Length; `headers` may override both. */
export function send(
  res: http.ServerResponse,
  status: number,
  headers: http.OutgoingHttpHeaders,
  body = '',
): void {
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
