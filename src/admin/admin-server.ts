// The admin listener (loopback by default): HTTP in front of an AdminHandler. /healthz and /readyz answer
// without the token; anything else requires the admin token when one is configured. The handler decides what
// each path does: the gateway's own state in a single process (local-admin.ts), or every worker's state
// gathered by the primary (cluster/).
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../problems/problem.js';
import { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import { newTraceId } from '../pipeline/trace-ids.js';
import { readStream } from '../pipeline/body.js';

/** One admin request, as plain data (a primary hands it to its workers as a message). */
export interface AdminCall {
  readonly method: string;
  readonly path: string;
  /** The query string without `?`. */
  readonly query: string;
  /** The JSON body, parsed (undefined when empty or not JSON). */
  readonly body: unknown;
}

/** An admin answer: JSON, or text of a content type (/metrics). */
export type AdminResult =
  | { readonly status: number; readonly body: unknown }
  | { readonly status: number; readonly text: string; readonly contentType: string };

export interface AdminHandler {
  /** The methods `path` accepts (GET and HEAD for views, the declared method for operations). */
  methods(path: string): readonly string[];
  /** Answers a call whose method is allowed; throws (or rejects with) a Problem to answer with one. */
  handle(call: AdminCall): AdminResult | Promise<AdminResult>;
}

export interface AdminServer {
  readonly server: http.Server;
  readonly address: string;
  close(): Promise<void>;
}

/** Paths anyone who reaches the listener may read (probes carry no token). */
const OPEN_PATHS = new Set(['/healthz', '/readyz']);
/** Largest admin request body read. */
const ACTION_BODY_MAX = 16_384;

export async function startAdminServer(
  handler: AdminHandler,
  listen: string,
  token: string | undefined,
): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? '';
    const allowed = handler.methods(path);
    if (!allowed.includes(method)) return sendProblem(res, problems.methodNotAllowed(method, allowed));
    if (!OPEN_PATHS.has(path) && token !== undefined && !validToken(req.headers.authorization, token))
      return sendProblem(
        res,
        new Problem({
          code: 'unauthenticated',
          status: 401,
          title: 'Unauthenticated',
          detail: 'The admin API needs the admin token',
          headers: { 'www-authenticate': 'Bearer' },
        }),
      );
    answer(req, path, q < 0 ? '' : url.slice(q + 1)).then(
      (result) => send(res, result, method === 'HEAD'),
      (err: unknown) => sendProblem(res, err instanceof Problem ? err : problems.internalError()),
    );
  });

  async function answer(req: http.IncomingMessage, path: string, query: string): Promise<AdminResult> {
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readJson(req);
    return handler.handle({ method: req.method ?? '', path, query, body });
  }

  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: Number(listen.slice(colon + 1)), host: host === '' ? undefined : host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The call's JSON body (bounded: larger is refused with 413); undefined when empty or not JSON. */
async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const bytes = await readStream(req, ACTION_BODY_MAX, (limit) => problems.payloadTooLarge(limit));
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function validToken(header: string | undefined, token: string): boolean {
  // The auth scheme is case-insensitive (RFC 9110 §11.1): "bearer x" is as valid as "Bearer x".
  const m = header === undefined ? null : /^Bearer +(.*)$/i.exec(header);
  if (m === null) return false;
  const given = Buffer.from(m[1]!);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function send(res: http.ServerResponse, result: AdminResult, head: boolean): void {
  const text = 'text' in result ? result.text : JSON.stringify(result.body);
  res.writeHead(result.status, {
    'content-type': 'text' in result ? result.contentType : 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(head ? undefined : text);
}

function sendProblem(res: http.ServerResponse, p: Problem): void {
  const text = problemBody(p, newTraceId());
  res.writeHead(p.status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...p.headers,
  });
  res.end(text);
}
