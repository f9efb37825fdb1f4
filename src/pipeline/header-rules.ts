// Header names the gateway manages itself: a policy that edits headers (headers, transform) refuses them at
// load time, because changing them would break message framing, connection handling or routing.

/** Request headers a policy may not edit (lowercase). */
export const PROTECTED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);

/** Response headers a policy may not edit (lowercase). */
export const PROTECTED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'trailer',
]);
