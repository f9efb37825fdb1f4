// Builds the Portico YAML configs the benchmark runs: pass-through, tracing + headers, N-route router.

function gatewayHeader(port: number, extra: readonly string[] = []): string[] {
  return [
    'version: 1',
    'gateway:',
    `  listen: "127.0.0.1:${port}"`,
    '  admin: { listen: "127.0.0.1:0" }',
    ...extra,
    'routes:',
  ];
}

/** Gateway lines turning the access log and request metrics off. */
const OBSERVABILITY_OFF = ['  access_log: { enabled: false }', '  metrics: { enabled: false }'];

/** The one route every scenario uses: everything under / to the upstream. */
function benchRoute(upstreamPort: number): string[] {
  return ['  - name: bench', '    path: /', `    upstream: "http://127.0.0.1:${upstreamPort}"`];
}

/**
 * Scenario 3: one catch-all route with no policies and observability off (no trace policy, no access log,
 * no request metrics), so this measures the core: intake, forwarding headers, routing, proxying.
 */
export function passThroughConfig(port: number, upstreamPort: number): string {
  return [
    'defaults: { request_id: false }',
    ...gatewayHeader(port, OBSERVABILITY_OFF),
    ...benchRoute(upstreamPort),
    '',
  ].join('\n');
}

/**
 * Scenario 4: the reference for the cost of observability — the gateway as configured by default (the trace
 * context policy is always on: every response and problem carries a trace id) with the observability outputs
 * off: no access log, no request metrics, no span export.
 */
export function quietConfig(port: number, upstreamPort: number): string {
  return [...gatewayHeader(port, OBSERVABILITY_OFF), ...benchRoute(upstreamPort), ''].join('\n');
}

/**
 * Scenario 5: the same route with observability on as an operator runs it: request metrics, the access log,
 * trace context (the load sends a traceparent) and span export configured with sampling off — the collector
 * port is closed, and no span may be built, so any cost of tracing itself would show here.
 */
export function observedConfig(port: number, upstreamPort: number, collectorPort: number): string {
  return [
    ...gatewayHeader(port, [
      '  tracing:',
      `    otlp_endpoint: "http://127.0.0.1:${collectorPort}/v1/traces"`,
      '    sample_ratio: 0',
      '    parent_based: false',
    ]),
    ...benchRoute(upstreamPort),
    '',
  ].join('\n');
}

/** The default route with request metrics on and the access log off: what the metrics cost alone. */
export function metricsOnlyConfig(port: number, upstreamPort: number): string {
  return [...gatewayHeader(port, ['  access_log: { enabled: false }']), ...benchRoute(upstreamPort), ''].join(
    '\n',
  );
}

/** The default route with the access log on and request metrics off: what the access log costs alone. */
export function accessLogOnlyConfig(port: number, upstreamPort: number): string {
  return [...gatewayHeader(port, ['  metrics: { enabled: false }']), ...benchRoute(upstreamPort), ''].join(
    '\n',
  );
}

/** Scenario 6: the same route with tracing (request_id, on by default; the load sends a traceparent) and header edits. */
export function policiesConfig(port: number, upstreamPort: number): string {
  return [
    ...gatewayHeader(port),
    ...benchRoute(upstreamPort),
    '    headers:',
    '      request: { set: { X-Bench: "1" }, remove: [X-Remove-Me] }',
    '      response: { set: { X-Served-By: portico } }',
    '',
  ].join('\n');
}

/** Router benchmark: routes r0..r(n-1), each `path: /svc<i>/items`, all to the same upstream. */
export function routerConfig(port: number, upstreamPort: number, routeCount: number): string {
  const lines = ['defaults: { request_id: false }', ...gatewayHeader(port)];
  for (let i = 0; i < routeCount; i++) {
    lines.push(
      `  - name: r${i}`,
      `    path: /svc${i}/items`,
      `    upstream: "http://127.0.0.1:${upstreamPort}"`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** The request path of the router benchmark: a route in the middle of the table. */
export function routerRequestPath(routeCount: number): string {
  return `/svc${Math.floor(routeCount / 2)}/items/42`;
}

/** The default route (observability off) behind an API key: one SHA-256 and a map lookup per request. */
export function apiKeyConfig(port: number, upstreamPort: number, keyHash: string): string {
  return [
    ...gatewayHeader(port, OBSERVABILITY_OFF),
    ...benchRoute(upstreamPort),
    '    auth: api_key',
    'consumers:',
    '  - id: bench-client',
    `    api_keys: ["${keyHash}"]`,
    '',
  ].join('\n');
}

/**
 * The default route (observability off) behind an RS256 JWT from a PEM key. `cacheSize` 0 turns the
 * verification cache off, so every request pays the signature check (the load repeats one token).
 */
export function jwtConfig(
  port: number,
  upstreamPort: number,
  publicKeyPem: string,
  cacheSize: number,
): string {
  return [
    ...gatewayHeader(port, OBSERVABILITY_OFF),
    ...benchRoute(upstreamPort),
    '    auth: jwt',
    'auth:',
    '  jwt:',
    '    default:',
    '      issuer: https://bench.portico.dev/',
    `      cache_size: ${cacheSize}`,
    '      public_key: |',
    ...publicKeyPem
      .trim()
      .split('\n')
      .map((l) => '        ' + l),
    '',
  ].join('\n');
}

/** A limit that never refuses (a billion tokens, refilled at a billion per second): the check is all it costs. */
const NEVER_REFUSING_LIMIT = '    rate_limit: { capacity: 1000000000, refill: 1000000000, key: ip }';

/**
 * The default route (observability off) with a rate limit that never refuses, counted in the memory store
 * (the default) or, with `redisUrl`, in Redis (`timeout_ms: 50`, the default `on_store_error: allow`).
 */
export function rateLimitConfig(port: number, upstreamPort: number, redisUrl: string | null): string {
  const store =
    redisUrl === null ? [] : ['  store:', '    type: redis', `    url: "${redisUrl}"`, '    timeout_ms: 50'];
  return [
    ...gatewayHeader(port, [...OBSERVABILITY_OFF, ...store]),
    ...benchRoute(upstreamPort),
    NEVER_REFUSING_LIMIT,
    '',
  ].join('\n');
}

/**
 * The default route (observability off) through a named upstream with the resilience features on — a
 * circuit breaker, retries (never needed: the upstream answers 200) and passive health — so the difference
 * to portico-quiet is what the resilient path costs per request.
 */
export function resilientConfig(port: number, upstreamPort: number): string {
  return [
    'upstreams:',
    '  bench:',
    `    targets: [{ url: "http://127.0.0.1:${upstreamPort}" }]`,
    '    circuit_breaker: { failure_ratio: 0.5, min_requests: 20, window_ms: 10000, open_ms: 30000 }',
    '    retries: { attempts: 2, backoff_ms: 50 }',
    '    passive_health: { consecutive_failures: 5 }',
    ...gatewayHeader(port, OBSERVABILITY_OFF),
    '  - name: bench',
    '    path: /',
    '    upstream: bench',
    '',
  ].join('\n');
}

/**
 * The transformation scenarios: the default route (observability off) asked for the upstream's 10 KB JSON
 * body, passed through (`transform` false) or rewritten by a typical response transform — a rename, a
 * removal and a mask inside the array, wrapped under `data` — plus a request header from a template.
 */
export function transformConfig(port: number, upstreamPort: number, transform: boolean): string {
  const lines = transform
    ? [
        '    transform:',
        '      request:',
        '        add_headers: { X-Request-Trace: "${trace_id}" }',
        '      response:',
        '        rename: { "items[].customer_name": name }',
        '        remove: ["items[].card.cvc"]',
        '        mask: ["items[].card.number"]',
        '        wrap_json: data',
      ]
    : [];
  return [...gatewayHeader(port, OBSERVABILITY_OFF), ...benchRoute(upstreamPort), ...lines, ''].join('\n');
}

/**
 * The cache-hit scenario: the default route (observability off) with `cache: { ttl_s: 3600 }`, so after
 * the first request every request is answered from the memory cache — what a hit costs, against
 * portico-quiet (the same route proxied).
 */
export function cacheConfig(port: number, upstreamPort: number): string {
  return [
    ...gatewayHeader(port, OBSERVABILITY_OFF),
    ...benchRoute(upstreamPort),
    '    cache: { ttl_s: 3600 }',
    '',
  ].join('\n');
}

/** The webhook-accept scenario's route: its name (the admin API counts events by it) and path. */
export const WEBHOOK_ROUTE = { name: 'hooks', path: '/hooks' } as const;

/**
 * The webhook-accept scenario: one `webhook:` route (GitHub's scheme) whose events are stored in an SQLite
 * file (synchronous=FULL: each commit is fsynced before the 202) and delivered to the upstream in the
 * background, 32 at a time. The admin API listens on `adminPort` (its `GET /webhooks` gives the event counts
 * the scenario reads around each window). Observability is off, as in the other rows without a target.
 */
export function webhookAcceptConfig(
  port: number,
  adminPort: number,
  upstreamPort: number,
  storeFile: string,
  secret: string,
): string {
  return [
    'version: 1',
    'gateway:',
    `  listen: "127.0.0.1:${port}"`,
    `  admin: { listen: "127.0.0.1:${adminPort}" }`,
    ...OBSERVABILITY_OFF,
    'webhooks:',
    `  store: { type: sqlite, path: ${JSON.stringify(storeFile)} }`,
    'routes:',
    `  - name: ${WEBHOOK_ROUTE.name}`,
    `    match: { path: ${WEBHOOK_ROUTE.path}, methods: [POST] }`,
    `    upstream: "http://127.0.0.1:${upstreamPort}"`,
    '    webhook:',
    '      scheme: github',
    `      secrets: [${JSON.stringify(secret)}]`,
    '      delivery: { concurrency: 32 }',
    '',
  ].join('\n');
}
