// Webhook (authenticate phase): an endpoint external systems call. The raw body is read under a limit and
// its signature verified before anything parses it; a refused request gets one 401 that does not say what
// failed. A verified event is stored durably — deduplicated by its delivery id or Idempotency-Key within the
// retention — and only then does the sender hear 202 (200 for a duplicate). The route's upstream never sees
// the sender's request: each route's delivery loop (dispatcher.ts) sends the stored event there, headers and
// body byte for byte, with retries, backoff, a cap on deliveries in flight, an optional rate and per-key
// order, until it is delivered or dead-lettered. At-least-once: a delivery whose outcome was lost is sent
// again, marked with the same X-Portico-Event-Id.
import { definePolicy, PolicyConfigError, type CompileContext, type Policy } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { problems } from '../../problems/catalog.js';
import { adminActions, ADMIN_PATHS } from './admin.js';
import { Dispatcher, eventRequest, type DeliverySettings, type Sender } from './dispatcher.js';
import { acknowledged, keptHeaders, readBody, storeEvents } from './ingest.js';
import { compileKeyTemplate, type KeySource } from './key-template.js';
import { webhookMetrics, type WebhookMetrics } from './metrics.js';
import { signatureRefused } from './problems.js';
import { WebhookSchema, verifierConfigOf, type WebhookConfig } from './schema.js';
import { checkWebhooksSection, sharedStore, WebhooksSectionSchema, type SharedStore } from './section.js';
import { createVerifier, type Verifier } from './verify/verify.js';
import { callbacks } from './callbacks.js';

export { callbacks };

export const webhook = definePolicy({
  name: 'webhook',
  phase: 'authenticate',
  summary: 'Verifies signed webhooks, stores each event durably, then delivers it with retries.',
  schema: WebhookSchema,
  sections: { webhooks: WebhooksSectionSchema },
  checkSections: checkWebhooksSection,
  adminPaths: ADMIN_PATHS,
  create(config, ctx): Policy {
    return createWebhook(config, ctx);
  },
});

/** The delivery settings of a `delivery:` block. */
export function deliverySettings(d: WebhookConfig['delivery']): DeliverySettings {
  return {
    attempts: d.attempts,
    backoffMs: d.backoff_ms,
    maxBackoffMs: d.max_backoff_ms,
    timeoutMs: d.timeout_ms,
    concurrency: d.concurrency,
    ratePerS: d.rate_per_s,
  };
}

/**
 * The delivery loop of a store route, kept across reloads while its settings and target are unchanged, and
 * started once a snapshot using it is live (a failed build never delivers).
 */
export function dispatcherFor(
  ctx: CompileContext,
  shared: SharedStore,
  route: string,
  settings: DeliverySettings,
  target: string,
  metrics: WebhookMetrics,
  sender: Sender,
): Dispatcher {
  return ctx.carryOver(
    `webhook-dispatch:${JSON.stringify([route, settings, target])}`,
    () => new Dispatcher({ store: shared, route, metrics, log: ctx.throttledLog(10_000) }, settings, sender),
    (d) => d.close(),
    (d) => d.wake(),
  );
}

/** A signed-payload template must cover the body, and may name only the slots its headers fill. */
function checkPayload(h: NonNullable<WebhookConfig['hmac']>): void {
  const at = ['hmac', 'payload'];
  for (const m of h.payload.matchAll(/\{([A-Za-z_]+)\}/g))
    if (m[1] !== 'body' && m[1] !== 'timestamp' && m[1] !== 'id')
      throw new PolicyConfigError(
        `unknown slot {${m[1]}}: the payload may use {body}, {timestamp} and {id}`,
        at,
      );
  if (!h.payload.includes('{body}'))
    throw new PolicyConfigError('the signed payload must include {body}, or the body would go unchecked', at);
  if (h.payload.includes('{timestamp}') && h.timestamp_header === undefined)
    throw new PolicyConfigError('{timestamp} needs `timestamp_header`', at);
  if (h.payload.includes('{id}') && h.id_header === undefined)
    throw new PolicyConfigError('{id} needs `id_header`', at);
}

export function createWebhook(
  config: WebhookConfig,
  ctx: CompileContext,
  now: () => number = Date.now,
): Policy {
  if (config.scheme === 'hmac' && config.hmac === undefined)
    throw new PolicyConfigError('scheme hmac needs `hmac: { header: <signature header> }`', ['hmac']);
  if (config.scheme !== 'hmac' && config.hmac !== undefined)
    throw new PolicyConfigError(`\`hmac\` options apply to scheme hmac, not ${config.scheme}`, ['hmac']);
  if (config.hmac !== undefined) checkPayload(config.hmac);
  let verifier: Verifier;
  try {
    verifier = createVerifier(verifierConfigOf(config));
  } catch (err) {
    throw new PolicyConfigError(
      (err as Error).message,
      config.scheme === 'hmac' ? ['hmac', 'payload'] : ['secrets'],
    );
  }
  const idempotencyKey =
    config.idempotency.key !== undefined ? compileKeyTemplate(config.idempotency.key) : undefined;
  const orderKey =
    config.delivery.order_key !== undefined ? compileKeyTemplate(config.delivery.order_key) : undefined;
  const retentionMs = config.idempotency.retention_h * 3_600_000;
  const maxBody = config.max_body_bytes;
  const route = ctx.routeName;
  const d = config.delivery;
  const describe = (): string =>
    `${config.scheme}; ${d.attempts} attempts, ${d.concurrency} at once` +
    (d.rate_per_s !== undefined ? `, ${d.rate_per_s}/s` : '') +
    (d.order_key !== undefined ? `, in order by ${d.order_key}` : '');
  // `validate`, `routes` and a primary's check open no store and deliver nothing.
  if (!ctx.serving)
    return { onRequest: () => Promise.reject(problems.serviceUnavailable('not serving')), describe };

  const shared = sharedStore(ctx);
  const metrics = webhookMetrics(ctx, () => shared.depthRows);
  const own = ctx.upstream();
  const dispatcher = dispatcherFor(
    ctx,
    shared,
    route,
    deliverySettings(config.delivery),
    own.identity,
    metrics,
    (event, attempt, timeoutMs) => own.send(eventRequest(event, attempt, timeoutMs)),
  );
  for (const action of adminActions(shared)) ctx.admin(action);

  return {
    describe,
    async onRequest(ex: Exchange) {
      let body: Buffer;
      try {
        body = await readBody(ex, maxBody);
      } catch (err) {
        metrics.refused(route, 'too_large');
        ex.logField('webhook', 'too_large');
        throw err;
      }
      const verdict = verifier.verify({ header: (name) => ex.headers.get(name), body }, now());
      if (!verdict.ok) {
        metrics.refused(route, verdict.reason);
        ex.logField('webhook', 'rejected');
        ex.logField('webhook_reason', verdict.reason);
        throw signatureRefused();
      }
      let json: unknown;
      let parsed = false;
      const source: KeySource = {
        header: (name) => ex.headers.get(name),
        json() {
          if (!parsed) {
            parsed = true;
            try {
              json = JSON.parse(body.toString('utf8'));
            } catch {
              json = undefined;
            }
          }
          return json;
        },
      };
      const dedupeKey =
        idempotencyKey?.read(source) ?? verdict.deliveryId ?? ex.headers.get('idempotency-key');
      const order = orderKey?.read(source);
      let result;
      try {
        [result] = await storeEvents(shared, [
          {
            route,
            ...(dedupeKey !== undefined && dedupeKey !== ''
              ? { dedupeKey: dedupeKey.slice(0, 512), retentionMs }
              : {}),
            ...(order !== undefined ? { orderKey: order } : {}),
            method: ex.method,
            path: ex.query === '' ? ex.path : ex.path + '?' + ex.query,
            prefixLength: ex.prefixLength,
            headers: keptHeaders(ex),
            body,
          },
        ]);
      } catch (err) {
        metrics.refused(route, 'store_unavailable');
        ex.logField('webhook', 'store_unavailable');
        throw err;
      }
      metrics.accepted(route, result!.duplicate === true);
      if (result!.duplicate !== true) dispatcher.wake();
      return acknowledged(ex, result!);
    },
  };
}
