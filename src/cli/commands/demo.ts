// `portico demo`: starts the bundled demo services (orders, users, payments) and the gateway in front of
// them, then prints curl commands to try. This is what `npm start` runs.
import { startDemoUpstream, type DemoUpstream } from '../../../examples/demo-upstreams.js';
import { SignJWT } from 'jose';
import cluster from 'node:cluster';
import type { Command } from '../main.js';
import { runWorker } from '../../process/worker.js';
import { handleSignals, startOrReport } from './serve.js';
import { parseConfigArgs } from './config-arg.js';

const SERVICES = [
  { name: 'orders', env: 'ORDERS_URL', port: 4001 },
  { name: 'users', env: 'USERS_URL', port: 4002 },
  { name: 'payments', env: 'PAYMENTS_URL', port: 4003 },
] as const;

export const runDemo: Command = {
  summary: 'Start the demo services and the gateway in front of them (npm start)',
  usage: [
    'Usage: portico demo [-c FILE]',
    '',
    'Starts three demo services on 127.0.0.1:4001-4003 (orders, users, payments) and the gateway',
    'with FILE (default: examples/gateway.yaml), then prints curl commands to try.',
    'Ports already taken? Set ORDERS_URL / USERS_URL / PAYMENTS_URL to run the services elsewhere.',
  ].join('\n'),
  async run(args) {
    const { file } = parseConfigArgs(args.length === 0 ? ['examples/gateway.yaml'] : args);
    // A worker process of the demo gateway (gateway.workers > 1): the primary started the services.
    if (cluster.isWorker) {
      await runWorker(file);
      return -1;
    }
    const upstreams: DemoUpstream[] = [];
    for (const s of SERVICES) {
      const override = process.env[s.env];
      const port = override ? Number(new URL(override).port) : s.port;
      try {
        upstreams.push(await startDemoUpstream(s.name, port));
      } catch (err) {
        process.stderr.write(
          `portico demo: cannot start the ${s.name} service on port ${port}: ${(err as Error).message}\n`,
        );
        for (const u of upstreams) u.server.close();
        return 1;
      }
      process.env[s.env] = upstreams[upstreams.length - 1]!.url;
    }
    const portico = await startOrReport(file);
    if (!portico) {
      for (const u of upstreams) u.server.close();
      return 1;
    }
    handleSignals(portico);
    const token = await demoToken(portico.config());
    const gw = portico.addresses[0]!.replace(/^(\[::\]|0\.0\.0\.0)/, 'localhost');
    const admin = portico.adminAddress;
    const base = `http://${gw}`;
    process.stderr.write(
      [
        '',
        `Portico is running on ${base} in front of: ${upstreams.map((u) => `${u.name} (${u.url})`).join(', ')}`,
        'Try these in another terminal:',
        '',
        `  curl -i ${base}/orders                      # routed to the orders service (note X-Trace-Id)`,
        `  curl -i ${base}/users/7                     # the users service; X-Forwarded-* added; RateLimit headers`,
        `  for i in $(seq 12); do curl -s -o /dev/null -w '%{http_code} ' ${base}/users; done; echo   # 10 × 200, then 429`,
        `  curl -i ${base}/v2/orders/1                 # /v2/orders/1 reaches orders as /orders/1; again: X-Cache: HIT`,
        `  curl -i '${base}/v1/orders?page=1&size=2'    # the brief's transform: {"data", "pagination"} + Link; deprecated: Deprecation, Sunset`,
        `  curl -s ${base}/payments                     # card numbers masked by the route's transform`,
        `  curl -i -X POST ${base}/orders -d '{"item":"mug"}' -H 'content-type: application/json'`,
        `  curl -i ${base}/payments/slow               # upstream takes 3 s, route timeout 1 s: 504 problem+json`,
        `  curl -i ${base}/nowhere                     # no route: 404 problem+json with a trace id`,
        `  curl -i -X DELETE ${base}/payments          # method not allowed: 405 with Allow`,
        `  curl -i -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' ${base}/orders`,
        `  curl -i ${base}/account                     # needs credentials: 401 with WWW-Authenticate`,
        `  ${webhookCurl(base)}   # signed webhook: 202, then delivered to payments`,
        `  curl -i -H 'X-Api-Key: pk_demo_0123456789' ${base}/account   # the demo consumer; X-Quota-* count its daily quota`,
        ...(token ? [`  curl -i -H 'Authorization: Bearer ${token}' ${base}/account`] : []),
        admin ? `  curl -s http://${admin}/readyz               # admin: readiness` : '',
        admin ? `  curl -s http://${admin}/upstreams            # admin: targets, health, circuit state` : '',
        '',
        'Edit examples/gateway.yaml and save: the gateway reloads it (a broken file is rejected and the old one keeps serving).',
        'Access log lines follow below. Ctrl-C stops everything.',
        '',
      ].join('\n') + '\n',
    );
    return -1;
  },
};

/** A one-hour HS256 token for the demo's `default` JWT config, when it uses a secret (else none). */
async function demoToken(config: unknown): Promise<string | undefined> {
  const jwt = (
    config as {
      auth?: { jwt?: Record<string, { secret?: string; issuer?: string; audience?: string | string[] }> };
    }
  ).auth?.jwt?.['default'];
  if (jwt?.secret === undefined) return undefined;
  const builder = new SignJWT({ sub: 'demo-user', roles: ['customer'], scope: 'account:read' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h');
  if (jwt.issuer !== undefined) builder.setIssuer(jwt.issuer);
  if (jwt.audience !== undefined) builder.setAudience(jwt.audience);
  return builder.sign(new TextEncoder().encode(jwt.secret));
}

/**
 * A curl line that signs a payload the GitHub way with the demo route's secret (examples/gateway.yaml) and
 * posts it; a fresh X-GitHub-Delivery each run, so a rerun is not a duplicate.
 */
function webhookCurl(base: string): string {
  return (
    `body='{"action":"opened"}'; curl -i ${base}/webhooks/github -H 'content-type: application/json' ` +
    `-H "x-github-delivery: $(date +%s%N)" -H "x-hub-signature-256: sha256=$(printf '%s' "$body" | ` +
    `openssl dgst -sha256 -hmac demo-webhook-secret | sed 's/^.* //')" --data "$body"`
  );
}
