// What the webhook and callbacks policies share on the way in: the body read whole under a limit, the
// headers kept for delivery, the event stored before the sender hears 2xx, and the answers.
import type { Exchange } from '../../pipeline/exchange.js';
import { readStream } from '../../pipeline/body.js';
import { gatewayResponse, type GatewayResponse } from '../../pipeline/gateway-response.js';
import { problems } from '../../problems/catalog.js';
import type { AcceptResult, NewEvent } from './store/event-store.js';
import type { SharedStore } from './section.js';
import { storeUnavailable } from './problems.js';

/** Headers the gateway sets on each delivery (a sender's own are dropped) and those the upstream call sets. */
const NOT_KEPT = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'x-portico-event-id',
  'x-portico-attempt',
]);

/** The request body as received, at most `max` bytes (413 beyond, before reading it when declared). */
export async function readBody(ex: Exchange, max: number): Promise<Buffer> {
  const body = ex.requestBody;
  if (body === null) return Buffer.alloc(0);
  if (body instanceof Uint8Array) {
    if (body.byteLength > max) throw problems.payloadTooLarge(max);
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
  const declared = Number(ex.headers.get('content-length') ?? NaN);
  if (declared > max) throw problems.payloadTooLarge(max);
  return readStream(body, max, (limit) => problems.payloadTooLarge(limit));
}

/** The request's headers as the upstream would get them, as name/value pairs, minus the gateway's own. */
export function keptHeaders(ex: Exchange): Array<[string, string]> {
  const raw = ex.headers.raw;
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (!NOT_KEPT.has(raw[i]!.toLowerCase())) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** Stores the events in order; a storage failure (StoreWriteError, store unreachable) becomes the 503. */
export async function storeEvents(shared: SharedStore, events: readonly NewEvent[]): Promise<AcceptResult[]> {
  try {
    const store = await shared.get();
    const out: AcceptResult[] = [];
    // Sequential: the second event of a request is stored only if the first was (a retry repeats both,
    // and the dedupe key makes the repeat of a stored one a duplicate).
    for (const e of events) out.push(await store.accept(e));
    return out;
  } catch (err) {
    throw storeUnavailable(err);
  }
}

/** 202 for a new event, 200 for a duplicate: both tell the sender to stop sending it. */
export function acknowledged(ex: Exchange, result: AcceptResult): GatewayResponse {
  const duplicate = result.duplicate === true;
  ex.logField('webhook', duplicate ? 'duplicate' : 'accepted');
  ex.logField('webhook_event', result.id);
  return gatewayResponse(
    duplicate ? 200 : 202,
    { 'content-type': 'application/json', 'cache-control': 'no-store' },
    JSON.stringify({ id: result.id, status: duplicate ? 'duplicate' : 'accepted' }),
  );
}
