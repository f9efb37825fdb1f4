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

/**
 * A header name as many backends read it: lower-case, with `_` read as `-` (CGI/WSGI/Rack turn both into
 * `HTTP_X_FOO`; nginx with `underscores_in_headers` passes `X_Foo`). Two names that fold alike are the same
 * header to such a backend, so a protected name is matched on its folded form.
 */
export function foldHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}
