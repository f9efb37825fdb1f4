// The admin listener (loopback by default): /healthz (the process is alive), /readyz (a config is loaded
// and the gateway is not draining). Anything else requires the admin token when one is configured.
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Gateway } from '../runtime/gateway.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../problems/problem.js';
import { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import { newTraceId } from '../pipeline/trace-ids.js';
import type { AdminAction, AdminReply } from '../pipeline/policy.js';
import { readStream } from '../pipeline/body.js';
import { readClocks, upstreamView } from './upstream-view.js';

export interface AdminServer {
  readonly server: http.Server;
  readonly address: string;
  close(): Promise<void>;
}

export async function startAdminServer(
  gateway: Gateway,
  listen: string,
  token: string | undefined,
  metrics?: GatewayMetrics,
): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    // Operations policies expose (the cache purge), as the current config declares them.
    const entry = gateway.holder.current.admin.get(path);
    const allowed = entry ? [entry.method] : ['GET', 'HEAD'];
    if (!allowed.includes(req.method ?? ''))
      return sendProblem(res, problems.methodNotAllowed(req.method ?? '', allowed));
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const snap = gateway.holder.current;
      return gateway.ready
        ? sendJson(res, 200, {
            status: 'ready',
            config_hash: snap.hash.slice(0, 12),
            routes: snap.routes.length,
          })
        : sendJson(res, 503, { status: gateway.draining ? 'draining' : 'starting' });
    }
    if (token !== undefined && !validToken(req.headers.authorization, token)) {
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
    }
    if (path === '/metrics' && metrics !== undefined) {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        () => sendProblem(res, problems.internalError()),
      );
      return;
    }
    if (entry) {
      const action = entry.action;
      if (action === undefined)
        return sendProblem(
          res,
          new Problem({
            code: 'route-not-found',
            status: 404,
            title: 'Nothing to act on',
            detail: `No route uses the ${entry.policy} policy, so ${path} has nothing to act on`,
          }),
        );
      runAction(action, req, q < 0 ? '' : url.slice(q + 1)).then(
        (reply) => sendJson(res, reply.status, reply.body),
        (err: unknown) => sendProblem(res, err instanceof Problem ? err : problems.internalError()),
      );
      return;
    }
    if (path === '/upstreams' || path?.startsWith('/upstreams/')) {
      const snap = gateway.holder.current;
      const clocks = readClocks();
      if (path === '/upstreams')
        return sendJson(res, 200, {
          upstreams: [...snap.upstreams.values()].map((g) => upstreamView(g.snapshot(), clocks)),
        });
      const name = decodeName(path.slice('/upstreams/'.length));
      const group = snap.upstreams.get(name);
      if (group !== undefined) return sendJson(res, 200, upstreamView(group.snapshot(), clocks));
      return sendProblem(res, upstreamNotFound(name, Object.hasOwn(snap.config.upstreams, name)));
    }
    return sendProblem(res, problems.routeNotFound(path ?? '/'));
  });
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

/** Largest admin action request body read. */
const ACTION_BODY_MAX = 16_384;

/** Reads the call's JSON body (bounded) and runs the action; a body too large is refused with 413. */
async function runAction(action: AdminAction, req: http.IncomingMessage, query: string): Promise<AdminReply> {
  const bytes = await readStream(req, ACTION_BODY_MAX, (limit) => problems.payloadTooLarge(limit));
  let body: unknown;
  try {
    body = bytes.length === 0 ? undefined : JSON.parse(bytes.toString('utf8'));
  } catch {
    body = undefined;
  }
  return action.handle({ body, query: new URLSearchParams(query) });
}

/** `GET /upstreams/<name>` for a name the current config has no upstream group for. */
function upstreamNotFound(name: string, configuredButUnused: boolean): Problem {
  const quoted = JSON.stringify(name.length > 200 ? name.slice(0, 200) + '…' : name);
  return new Problem({
    code: 'upstream-not-found',
    status: 404,
    title: 'Upstream not found',
    detail: configuredButUnused
      ? `Upstream ${quoted} is configured but no route uses it, so it has no state to show`
      : `Upstream ${quoted} does not exist; GET /upstreams lists the upstreams in use`,
    extensions: { upstream: name },
  });
}

/** A path segment, percent-decoded; as it is when it holds a malformed escape. */
function decodeName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
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

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
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
