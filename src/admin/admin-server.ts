// The admin listener (loopback by default): /healthz (the process is alive), /readyz (a config is loaded
// and the gateway is not draining). Anything else requires the admin token when one is configured.
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Gateway } from '../runtime/gateway.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../http/problem.js';
import { Problem } from '../http/problem.js';
import { problems } from '../http/problems.js';
import { newTraceId } from '../observability/trace-ids.js';

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
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendProblem(res, problems.methodNotAllowed(req.method ?? '', ['GET', 'HEAD']));
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
    if (path === '/upstreams' || path?.startsWith('/upstreams/')) {
      const groups = gateway.holder.current.upstreams;
      if (path === '/upstreams')
        return sendJson(res, 200, { upstreams: [...groups.values()].map((g) => g.snapshot()) });
      const group = groups.get(decodeURIComponent(path.slice('/upstreams/'.length)));
      if (group !== undefined) return sendJson(res, 200, group.snapshot());
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
