// Starts the scenarios' servers: the baseline, the peers (bench/peer-subjects.ts), each Portico configuration
// (bench/portico-config.ts) and the router pair, each as its own process on the proxy CPU.
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { isPeerId, type ScenarioId } from './bench-options.js';
import { PEER_LABELS, startPeer } from './peer-subjects.js';
import {
  accessLogOnlyConfig,
  apiKeyConfig,
  metricsOnlyConfig,
  jwtConfig,
  observedConfig,
  quietConfig,
  passThroughConfig,
  policiesConfig,
  rateLimitConfig,
  transformConfig,
  cacheConfig,
  resilientConfig,
  routerConfig,
  routerRequestPath,
} from './portico-config.js';
import { redisMissingReason, startRedis, type BenchRedis } from './redis-server.js';
import type { ScenarioResult } from './report.js';
import {
  freePort,
  porticoMissingReason,
  startOwnServer,
  startPortico,
  type RunContext,
  type Subject,
} from './subjects.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
export const ROUTER_SIZES = [10, 10_000] as const;

export const LABELS: Record<ScenarioId, string> = {
  upstream: 'upstream (direct)',
  baseline: 'baseline: node:http + undici.Pool',
  ...PEER_LABELS,
  'portico-pass': 'Portico pass-through',
  'portico-quiet': 'Portico default route, observability off',
  'portico-observed': 'Portico metrics + access log + tracing',
  'portico-metrics': 'Portico default route + request metrics (access log off)',
  'portico-accesslog': 'Portico default route + access log (request metrics off)',
  'portico-policies': 'Portico tracing + headers',
  'portico-apikey': 'Portico API key (default route, observability off)',
  'portico-jwt-cached': 'Portico JWT RS256, verification cached',
  'portico-jwt-uncached': 'Portico JWT RS256, every request verified',
  'portico-ratelimit-memory': 'Portico rate limit, memory store (default route, observability off)',
  'portico-ratelimit-redis': 'Portico rate limit, Redis store (default route, observability off)',
  'portico-resilient':
    'Portico named upstream with circuit breaker, retries and passive health (default route, observability off)',
  'portico-json10k': 'Portico 10 KB JSON response, passed through (default route, observability off)',
  'portico-transform': 'Portico 10 KB JSON response, transformed (rename, remove, mask in an array, wrap)',
  'portico-cache-hit': 'Portico cache hit, memory store (default route, observability off)',
  'webhook-accept': 'Portico webhook accept-and-store (GitHub signature, SQLite store, fsync per commit)',
};

export function newResult(id: string, label: string): ScenarioResult {
  return { id, label, measurements: [], fixedRate: [], unavailable: null };
}

function pending(id: string, label: string, reason: string): Subject {
  const result = newResult(id, label);
  result.unavailable = { kind: 'pending', reason };
  return { result, proc: null, port: 0, path: '/', headers: {}, measureCpu: true };
}

export async function startScenario(ctx: RunContext, id: ScenarioId, upstreamPort: number): Promise<Subject> {
  if (isPeerId(id)) return startPeer(ctx, id, upstreamPort);
  const result = newResult(id, LABELS[id]);
  const missing = porticoMissingReason();
  switch (id) {
    case 'upstream':
      throw new Error('the upstream subject is built by the caller');
    case 'webhook-accept':
      throw new Error('the webhook-accept subject is built by bench/webhook-accept.ts');
    case 'baseline': {
      const origin = `http://127.0.0.1:${upstreamPort}`;
      const { proc, port } = await startOwnServer(ctx, id, 'baseline-proxy', [origin], ctx.pinning.proxyCpu);
      return { result, proc, port, path: '/', headers: {}, measureCpu: true };
    }
    case 'portico-pass':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => passThroughConfig(port, upstreamPort), '/', {});
    case 'portico-quiet':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => quietConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-observed': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const collectorPort = await freePort();
      return startPortico(ctx, result, (port) => observedConfig(port, upstreamPort, collectorPort), '/', {
        traceparent: TRACEPARENT,
      });
    }
    case 'portico-metrics':
    case 'portico-accesslog':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(
        ctx,
        result,
        (port) =>
          id === 'portico-metrics'
            ? metricsOnlyConfig(port, upstreamPort)
            : accessLogOnlyConfig(port, upstreamPort),
        '/',
        { traceparent: TRACEPARENT },
      );
    case 'portico-policies':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => policiesConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-apikey': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const key = 'pk_bench_' + randomBytes(24).toString('base64url');
      const hash = 'sha256:' + createHash('sha256').update(key).digest('hex');
      return startPortico(ctx, result, (port) => apiKeyConfig(port, upstreamPort, hash), '/', {
        traceparent: TRACEPARENT,
        'x-api-key': key,
      });
    }
    case 'portico-jwt-cached':
    case 'portico-jwt-uncached': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const { pem, token } = await benchToken();
      const cacheSize = id === 'portico-jwt-cached' ? 10_000 : 0;
      return startPortico(ctx, result, (port) => jwtConfig(port, upstreamPort, pem, cacheSize), '/', {
        traceparent: TRACEPARENT,
        authorization: `Bearer ${token}`,
      });
    }
    case 'portico-ratelimit-memory':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => rateLimitConfig(port, upstreamPort, null), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-json10k':
    case 'portico-transform':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(
        ctx,
        result,
        (port) => transformConfig(port, upstreamPort, id === 'portico-transform'),
        '/json10k',
        { traceparent: TRACEPARENT },
      );
    case 'portico-cache-hit':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => cacheConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-resilient':
      if (missing !== null) return pending(id, LABELS[id], missing);
      return startPortico(ctx, result, (port) => resilientConfig(port, upstreamPort), '/', {
        traceparent: TRACEPARENT,
      });
    case 'portico-ratelimit-redis': {
      if (missing !== null) return pending(id, LABELS[id], missing);
      const noRedis = redisMissingReason();
      if (noRedis !== null) return pending(id, LABELS[id], noRedis);
      let redis: BenchRedis;
      try {
        redis = await startRedis(ctx, await freePort(), ctx.readyTimeoutMs);
      } catch (err: unknown) {
        const reason = `redis-server did not start: ${err instanceof Error ? err.message : String(err)}`;
        result.unavailable = { kind: 'failed', reason };
        process.stderr.write(`${id}: ${reason}\n`);
        return { result, proc: null, port: 0, path: '/', headers: {}, measureCpu: true };
      }
      const url = redis.url;
      return startPortico(
        ctx,
        result,
        (port) => rateLimitConfig(port, upstreamPort, url),
        '/',
        { traceparent: TRACEPARENT },
        redis,
      );
    }
  }
}

/** An RS256 key pair made for this run and a one-hour token signed with it. */
async function benchToken(): Promise<{ pem: string; token: string }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const token = await new SignJWT({ sub: 'bench-user', roles: ['customer'], scope: 'orders:read' })
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer('https://bench.portico.dev/')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return { pem: await exportSPKI(publicKey), token };
}

export async function startRouter(ctx: RunContext, routes: number, upstreamPort: number): Promise<Subject> {
  const id = `router-${routes}`;
  const label = `${routes.toLocaleString('en-US')} routes`;
  const missing = porticoMissingReason();
  if (missing !== null) return pending(id, label, missing);
  const build = (port: number): string => routerConfig(port, upstreamPort, routes);
  return startPortico(ctx, newResult(id, label), build, routerRequestPath(routes), {});
}
