// Builds the Portico YAML configs the benchmark runs: pass-through, tracing + headers, N-route router.

function gatewayHeader(port: number): string[] {
  return [
    'version: 1',
    'gateway:',
    `  listen: "127.0.0.1:${port}"`,
    '  admin: { listen: "127.0.0.1:0" }',
    'routes:',
  ];
}

/**
 * Scenario 3: one catch-all route with no policies — the always-on trace policy is turned off, so this
 * measures the core (intake, forwarding headers, routing, proxying, access log). Scenario 4 turns it on.
 */
export function passThroughConfig(port: number, upstreamPort: number): string {
  return [
    'defaults: { request_id: false }',
    ...gatewayHeader(port),
    '  - name: bench',
    '    path: /',
    `    upstream: "http://127.0.0.1:${upstreamPort}"`,
    '',
  ].join('\n');
}

/** Scenario 4: the same route with tracing (request_id, on by default; the load sends a traceparent) and header edits. */
export function policiesConfig(port: number, upstreamPort: number): string {
  return [
    ...gatewayHeader(port),
    '  - name: bench',
    '    path: /',
    `    upstream: "http://127.0.0.1:${upstreamPort}"`,
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
