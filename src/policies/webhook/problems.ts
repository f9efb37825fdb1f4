// The problems the webhook and callbacks policies answer (listed in docs/errors.md).
import { Problem } from '../../problems/problem.js';

/** Any verification failure: the sender is not told which part failed (signature, timestamp, header). */
export function signatureRefused(): Problem {
  return new Problem({
    code: 'webhook-signature-invalid',
    status: 401,
    title: 'Webhook signature not accepted',
    detail: 'The request is not signed as this endpoint expects',
  });
}

/** The event could not be stored durably: the sender should retry (its own retries keep it). */
export function storeUnavailable(cause?: unknown): Problem {
  return new Problem({
    cause,
    code: 'webhook-store-unavailable',
    status: 503,
    title: 'Webhook store unavailable',
    detail: 'The event could not be stored; nothing was accepted, send it again',
    headers: { 'retry-after': '5' },
  });
}

/** A callbacks route called from outside the private networks (`internal_only`). */
export function callbackForbidden(): Problem {
  return new Problem({
    code: 'callback-forbidden',
    status: 403,
    title: 'Forbidden',
    detail: 'Callbacks are accepted from internal addresses only',
  });
}
