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
import { purgeKey } from '../policies/cache/purge-key.js';
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
    const path = (req.url ?? '/').split('?')[0];
    const purge = path === '/cache/purge';
    if (purge ? req.method !== 'POST' : req.method !== 'GET' && req.method !== 'HEAD')
      return sendProblem(
        res,
        problems.methodNotAllowed(req.method ?? '', purge ? ['POST'] : ['GET', 'HEAD']),
      );
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
    if (purge) {
      purgeCache(gateway, req).then(
        ([status, body]) => (body instanceof Problem ? sendProblem(res, body) : sendJson(res, status, body)),
        () => sendProblem(res, problems.serviceUnavailable('The cache store did not answer')),
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

/** Largest purge request body read. */
const PURGE_BODY_MAX = 16_384;

/**
 * POST /cache/purge with one of {"key": "<URL or cache key>"}, {"prefix": "/path/prefix"}, {"tag": "<tag>"}:
 * removes the matching entries of the current config's response cache and says how many.
 */
async function purgeCache(gateway: Gateway, req: http.IncomingMessage): Promise<[number, unknown]> {
  const store = gateway.holder.current.responseCache;
  if (store === undefined)
    return [
      404,
      new Problem({
        code: 'route-not-found',
        status: 404,
        title: 'No cache',
        detail: 'No route caches responses',
      }),
    ];
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > PURGE_BODY_MAX) return [413, problems.payloadTooLarge(PURGE_BODY_MAX)];
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    body = undefined;
  }
  const request = body as { key?: unknown; prefix?: unknown; tag?: unknown } | undefined;
  const given = request === undefined || request === null ? [] : Object.keys(request);
  const value = given.length === 1 ? (request as Record<string, unknown>)[given[0]!] : undefined;
  if (typeof value !== 'string' || value === '' || !['key', 'prefix', 'tag'].includes(given[0]!))
    return [
      400,
      problems.badRequest(
        'Send a JSON object with one of "key", "prefix" (a path prefix) or "tag", a non-empty string',
      ),
    ];
  let purged: number;
  if (given[0] === 'key') {
    // A URL, or `<path>?<query>\n<host>`, covers that URL on every route, for every consumer and variant; a
    // full key (with its route and consumer parts) that entry and its variants. The host may carry its port.
    const key = purgeKey(value);
    if (typeof key !== 'string') return [400, problems.badRequest(`Cannot purge this key: ${key.refused}`)];
    const exact = (await store.delete(key)) ? 1 : 0;
    purged = exact + (await store.purgePrefix(key + '\n'));
  } else if (given[0] === 'prefix') {
    if (!value.startsWith('/')) return [400, problems.badRequest('A prefix is a path: it starts with "/"')];
    purged = await store.purgePrefix(value);
  } else purged = await store.purgeTag(value);
  return [200, { purged, [given[0]!]: value }];
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
