// The data-plane listener: node:http with strict parsing, bounded header/request times (checked every
// second, not Node's default 30 s), and problem+json for everything refused — by the parser (431, 400,
// 408) or before routing (414, 413, 400) — with the connection closed after ambiguous framing.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ALLOWED_METHODS, PRE_ROUTING_PROBLEM } from '../pipeline/unrouted.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import { newTraceId } from '../pipeline/trace-ids.js';
import type { CompiledPipeline } from '../pipeline/run-pipeline.js';
import type { Router } from '../router/router.js';
import type { PathEscapes } from '../lib/normalize-path.js';
import { PROBLEM_CONTENT_TYPE, type Problem, problemBody } from '../problems/problem.js';
import { guardConnection, guardOf } from './request-line-guard.js';
import { isPathRefusal } from '../lib/normalize-path.js';
import { routePath } from '../router/route-path.js';
import { problems } from '../problems/catalog.js';
import { readRequest, type IngressSettings } from './read-request.js';

export interface ServerLimits {
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

/** A route as the server runs it. */
export interface ServedRoute {
  readonly name: string;
  readonly pipeline: CompiledPipeline;
  /** What an encoded "/" or "\\" in the path does on this route. */
  readonly pathEscapes: PathEscapes;
  /** Client method-override headers go upstream. */
  readonly methodOverride: boolean;
}

/** What the server serves at one moment: the routes, the route for everything else, the intake rules. */
export interface ServedSnapshot {
  readonly router: Router<ServedRoute>;
  /** Answers requests no route takes, and requests refused before routing. */
  readonly system: ServedRoute;
  readonly ingress: IngressSettings;
}

/**
 * Where the server takes the snapshot each request runs on (the runtime's snapshot holder): a request
 * acquires the current one and releases it when its exchange closes, so a reload never changes a request
 * half-way.
 */
export interface SnapshotSource {
  readonly current: ServedSnapshot;
  acquire(): { readonly snapshot: ServedSnapshot };
  release(lease: ReturnType<SnapshotSource['acquire']>): void;
}

export interface GatewayServer {
  readonly server: http.Server;
  /** From now on every response closes its connection (graceful shutdown). */
  startDraining(): void;
}

export function createGatewayServer(
  holder: SnapshotSource,
  limits: ServerLimits,
  logger: Logger,
): GatewayServer {
  /** Read by every exchange when it writes its response: once draining, responses close their connection. */
  const lifecycle = { draining: false };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const guard = guardOf(socket);
    if (guard?.refusingRest === true) {
      // Pipelined behind a refused request: never answered or forwarded. The refusal's response closes the
      // connection once written; destroying the socket here would lose that response when both requests
      // arrived in one read.
      if (!socket.writable) socket.destroy();
      return;
    }
    const startedAt = performance.now();
    const live = holder.acquire();
    const snap = live.snapshot;
    const intake = readRequest(req, res, snap.ingress, startedAt);
    const ex = intake.ex;
    let { problem, close } = intake;
    const verdict = guard?.take(req.url ?? '') ?? 'ok';
    if (verdict !== 'ok') {
      problem = problems.badRequest(
        verdict === 'malformed'
          ? 'malformed request line: expected "METHOD SP target SP HTTP/1.1" with single spaces'
          : 'the request could not be verified against the bytes received',
      );
      close = true;
    }
    ex.lifecycle = lifecycle;
    ex.onClose = () => holder.release(live);
    if (problem !== undefined) {
      if (close) {
        guard?.refuseRest();
        res.shouldKeepAlive = false;
        res.once('finish', () => socket.destroySoon());
      }
      ex.set(PRE_ROUTING_PROBLEM, problem);
      runPipeline(ex, snap.system.pipeline);
      return;
    }
    const m = routePath(ex, snap.router);
    if (isPathRefusal(m)) {
      ex.set(PRE_ROUTING_PROBLEM, problems.badRequest(`invalid path: ${m.refused}`));
      runPipeline(ex, snap.system.pipeline);
      return;
    }
    if (m.kind === 'found') {
      const route = m.value;
      if (route.methodOverride && ex.methodOverrides !== undefined) {
        const o = ex.methodOverrides;
        for (let i = 0; i < o.length; i += 2) ex.headers.append(o[i]!, o[i + 1]!);
      }
      ex.routeName = route.name;
      ex.params = m.params;
      ex.prefixLength = m.prefixLength;
      runPipeline(ex, route.pipeline);
      return;
    }
    if (m.kind === 'method-not-allowed') ex.set(ALLOWED_METHODS, m.allow);
    runPipeline(ex, snap.system.pipeline);
  }

  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headerTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Enforce header/request timeouts within a second of the deadline (Node checks every 30 s by default).
      connectionsCheckingInterval: 1000,
      // A missing Host is refused by readRequest in problem+json (Node's own 400 has no body).
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      insecureHTTPParser: false,
    },
    handle,
  );
  // Each connection's bytes pass the request-line guard before the parser (see request-line-guard.ts).
  const maxBodyBytes = () => holder.current.ingress.maxBodyBytes;
  server.on('connection', (socket: Socket) => guardConnection(socket, limits.maxHeaderBytes, maxBodyBytes));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    answerClientError(err, socket, limits, logger);
  });
  // Without a listener Node destroys the socket without an answer; the gateway is not a forward proxy.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', noop);
    writeRawProblem(socket, problems.methodNotAllowed('CONNECT', CONNECT_ALLOW), logger, 'connect');
  });
  return {
    server,
    startDraining() {
      // Requests already in flight answer with Connection: close too (checked when each writes its
      // response), so keep-alive clients do not send another request on a connection about to be closed.
      lifecycle.draining = true;
    },
  };
}

/** Methods the data plane serves (the Allow header of a CONNECT refusal). */
const CONNECT_ALLOW = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

/** Sockets that already have (or are waiting to send) a parser refusal. */
const refusing = new WeakSet<Socket>();

/** The response Node is currently writing on a socket (internal field, read-only use). */
function inFlightResponse(socket: Socket): ServerResponse | undefined {
  const m = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  return m === null || m === undefined || m.writableFinished ? undefined : m;
}

/** The parser refused the request: answer in problem+json (when the socket can still take it) and close. */
function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Socket,
  limits: ServerLimits,
  logger: Logger,
): void {
  const code = err.code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Node reports every later read on a broken connection again; one answer is enough.
  if (refusing.has(socket)) return;
  const inflight = inFlightResponse(socket);
  if (inflight !== undefined) {
    if (inflight.req.complete) {
      // The refused request was pipelined behind ones still being answered: answer it after them, in order,
      // instead of writing over (or cutting off) their responses.
      refusing.add(socket);
      inflight.once('finish', () => {
        refusing.delete(socket);
        answerClientError(err, socket, limits, logger);
      });
      inflight.once('close', () => {
        if (!inflight.writableFinished) socket.destroy();
      });
      return;
    }
    // The in-flight request itself failed (a body timeout or a bad chunk): answer only if nothing of its
    // response was written yet, otherwise cut the connection.
    if (inflight.headersSent) {
      socket.destroy();
      return;
    }
  }
  let problem: Problem;
  if (code === 'HPE_HEADER_OVERFLOW') problem = problems.headersTooLarge(limits.maxHeaderBytes);
  else if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    problem = problems.requestTimeout('The request was not received in time');
  else if (code === 'HPE_UNEXPECTED_CONTENT_LENGTH' || code === 'HPE_INVALID_CONTENT_LENGTH')
    problem = problems.badRequest(
      'Ambiguous or invalid message framing (Content-Length / Transfer-Encoding)',
    );
  else if (code === 'HPE_INVALID_VERSION' && (err as { reason?: string }).reason === 'Invalid HTTP version')
    // A well-formed version the parser does not speak (HTTP/1.2, HTTP/3.0); other version errors are
    // malformed lines (extra tokens, a bare LF) and get 400.
    problem = problems.httpVersionNotSupported();
  else if (code === 'HPE_INVALID_TRANSFER_ENCODING')
    problem = problems.badRequest('Invalid Transfer-Encoding');
  else problem = problems.badRequest('The request could not be parsed');
  refusing.add(socket);
  writeRawProblem(socket, problem, logger, code);
}

/** Writes a problem+json response straight to the socket (no ServerResponse exists) and closes it. */
function writeRawProblem(socket: Socket, problem: Problem, logger: Logger, parserCode: string): void {
  const traceId = newTraceId();
  const body = problemBody(problem, traceId);
  let extra = '';
  for (const [name, value] of Object.entries(problem.headers ?? {})) extra += `${name}: ${value}\r\n`;
  const head =
    `HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status] ?? ''}\r\n` +
    `content-type: ${PROBLEM_CONTENT_TYPE}\r\ncache-control: no-store\r\n${extra}` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  logger.info(
    {
      event: 'client_error',
      problem: problem.code,
      status: problem.status,
      parser_code: parserCode,
      trace_id: traceId,
    },
    'request refused by the parser',
  );
  socket.end(head + body);
  socket.destroySoon();
}

function noop(): void {}
