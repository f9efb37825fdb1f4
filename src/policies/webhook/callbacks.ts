// Callbacks (authenticate phase): the other direction. An internal service posts an event to the route; the
// gateway stores one copy per subscriber (durably, before answering 202) and each subscriber's delivery loop
// signs it the Standard Webhooks way (webhook-id: the event id, the same on every retry; webhook-timestamp:
// the attempt's time; webhook-signature: one v1 signature per secret) and POSTs it to the subscriber's URL,
// with the same retries, backoff, dead letters, idempotency and admin API as inbound webhooks. No internal
// service writes its own retry loop.
import { BlockList, isIP } from 'node:net';
import { definePolicy, PolicyConfigError, type CompileContext, type Policy } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { problems } from '../../problems/catalog.js';
import { adminActions, ADMIN_PATHS } from './admin.js';
import { Dispatcher, eventRequest, type DeliverySettings, type Sender } from './dispatcher.js';
import { CallbacksSchema, type CallbacksConfig } from './callbacks-schema.js';
import { readBody, storeEvents } from './ingest.js';
import { compileKeyTemplate } from './key-template.js';
import { webhookMetrics } from './metrics.js';
import { callbackForbidden } from './problems.js';
import { sharedStore } from './section.js';
import { signStandardWebhook } from './verify/verify.js';
import { gatewayResponse } from '../../pipeline/gateway-response.js';

/** Loopback and private networks: where `internal_only` callbacks may come from. */
const INTERNAL = new BlockList();
INTERNAL.addSubnet('127.0.0.0', 8, 'ipv4');
INTERNAL.addSubnet('10.0.0.0', 8, 'ipv4');
INTERNAL.addSubnet('172.16.0.0', 12, 'ipv4');
INTERNAL.addSubnet('192.168.0.0', 16, 'ipv4');
INTERNAL.addAddress('::1', 'ipv6');
INTERNAL.addSubnet('fc00::', 7, 'ipv6');

export function isInternalAddress(ip: string): boolean {
  const bare = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const family = isIP(bare);
  if (family === 0) return false;
  return INTERNAL.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** Headers of the posted event that travel to subscribers (the rest is the internal service's business). */
const FORWARDED = ['content-type', 'webhook-type'];

export const callbacks = definePolicy({
  name: 'callbacks',
  phase: 'authenticate',
  summary: 'Takes events from internal services and delivers them, signed, to subscribers with retries.',
  schema: CallbacksSchema,
  adminPaths: ADMIN_PATHS,
  answersAll: true,
  create(config, ctx): Policy {
    return createCallbacks(config, ctx);
  },
});

/** The delivery settings of a `delivery:` block (the same block as a webhook's). */
function settingsOf(d: CallbacksConfig['delivery']): DeliverySettings {
  return {
    attempts: d.attempts,
    backoffMs: d.backoff_ms,
    maxBackoffMs: d.max_backoff_ms,
    timeoutMs: d.timeout_ms,
    concurrency: d.concurrency,
    ratePerS: d.rate_per_s,
  };
}

export function createCallbacks(
  config: CallbacksConfig,
  ctx: CompileContext,
  now: () => number = Date.now,
): Policy {
  const route = ctx.routeName;
  const seen = new Set<string>();
  for (const [i, s] of config.subscribers.entries()) {
    if (seen.has(s.name))
      throw new PolicyConfigError(`subscriber "${s.name}" is listed twice`, ['subscribers', i, 'name']);
    seen.add(s.name);
  }
  const targets = config.subscribers.map((s, i) => {
    try {
      return { ...s, upstream: ctx.upstream(s.url) };
    } catch (err) {
      throw new PolicyConfigError((err as Error).message, ['subscribers', i, 'url']);
    }
  });
  const describe = (): string => `to ${config.subscribers.map((t) => t.name).join(', ')}`;
  if (!ctx.serving)
    return { onRequest: () => Promise.reject(problems.serviceUnavailable('not serving')), describe };

  const shared = sharedStore(ctx);
  const metrics = webhookMetrics(ctx, () => shared.depthRows);
  const settings = settingsOf(config.delivery);
  const dispatchers = targets.map((t) => {
    const storeRoute = `${route}/${t.name}`;
    const sender: Sender = (event, attempt, timeoutMs) => {
      const req = eventRequest(event, attempt, timeoutMs);
      const headers: string[] = [];
      for (let i = 0; i + 1 < req.headers.length; i += 2) headers.push(req.headers[i]!, req.headers[i + 1]!);
      const signed = t.secrets.map((secret) =>
        signStandardWebhook(secret, event.id, Math.floor(now() / 1000), event.body),
      );
      headers.push(
        'webhook-id',
        event.id,
        'webhook-timestamp',
        signed[0]!['webhook-timestamp'],
        'webhook-signature',
        signed.map((s) => s['webhook-signature']).join(' '),
      );
      return t.upstream.send({ ...req, method: 'POST', path: '', query: '', upstreamPath: '', headers });
    };
    return ctx.carryOver(
      `webhook-dispatch:${JSON.stringify([storeRoute, settings, t.upstream.identity, t.url, t.secrets])}`,
      () =>
        new Dispatcher(
          { store: shared, route: storeRoute, metrics, log: ctx.throttledLog(10_000) },
          settings,
          sender,
        ),
      (d) => d.close(),
      (d) => d.wake(),
    );
  });
  for (const action of adminActions(shared)) ctx.admin(action);
  const idempotencyKey =
    config.idempotency.key !== undefined ? compileKeyTemplate(config.idempotency.key) : undefined;
  const retentionMs = config.idempotency.retention_h * 3_600_000;

  return {
    describe,
    async onRequest(ex: Exchange) {
      if (config.internal_only && !isInternalAddress(ex.clientIp)) {
        metrics.refused(route, 'forbidden');
        throw callbackForbidden();
      }
      let body: Buffer;
      try {
        body = await readBody(ex, config.max_body_bytes);
      } catch (err) {
        metrics.refused(route, 'too_large');
        throw err;
      }
      let json: unknown;
      const key =
        idempotencyKey?.read({
          header: (name) => ex.headers.get(name),
          json: () => {
            try {
              return (json ??= JSON.parse(body.toString('utf8')) as unknown);
            } catch {
              return undefined;
            }
          },
        }) ?? ex.headers.get('idempotency-key');
      const headers: Array<[string, string]> = [];
      for (const name of FORWARDED) {
        const v = ex.headers.get(name);
        if (v !== undefined) headers.push([name, v]);
      }
      let results;
      try {
        results = await storeEvents(
          shared,
          targets.map((t) => ({
            route: `${route}/${t.name}`,
            ...(key !== undefined && key !== '' ? { dedupeKey: key.slice(0, 512), retentionMs } : {}),
            method: 'POST',
            path: '/',
            headers,
            body,
          })),
        );
      } catch (err) {
        metrics.refused(route, 'store_unavailable');
        ex.logField('webhook', 'store_unavailable');
        throw err;
      }
      const ids: Record<string, string> = {};
      let fresh = false;
      results.forEach((r, i) => {
        ids[targets[i]!.name] = r.id;
        metrics.accepted(`${route}/${targets[i]!.name}`, r.duplicate === true);
        if (r.duplicate !== true) {
          fresh = true;
          dispatchers[i]!.wake();
        }
      });
      ex.logField('webhook', fresh ? 'accepted' : 'duplicate');
      return gatewayResponse(
        fresh ? 202 : 200,
        { 'content-type': 'application/json', 'cache-control': 'no-store' },
        JSON.stringify({ status: fresh ? 'accepted' : 'duplicate', events: ids }),
      );
    },
  };
}
