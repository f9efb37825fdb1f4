// The catalog of gateway-made errors: one factory per kind, each with a stable code and status.
import { Problem } from './problem.js';

export const problems = {
  routeNotFound(path: string): Problem {
    return new Problem({
      code: 'route-not-found',
      status: 404,
      title: 'No route matches this request',
      detail: `No route is configured for ${truncate(path)}`,
    });
  },
  methodNotAllowed(method: string, allow: readonly string[]): Problem {
    return new Problem({
      code: 'method-not-allowed',
      status: 405,
      title: 'Method not allowed',
      detail: `${truncate(method)} is not allowed here; allowed: ${allow.join(', ')}`,
      headers: { allow: allow.join(', ') },
    });
  },
  /**
   * Missing or invalid credentials (401). `challenge` is the WWW-Authenticate value (RFC 6750 / 7617);
   * `detail` says what was wrong without echoing the credential.
   */
  unauthenticated(detail: string, challenge: string): Problem {
    return new Problem({
      code: 'unauthenticated',
      status: 401,
      title: 'Authentication required',
      detail,
      headers: { 'www-authenticate': challenge },
    });
  },
  /** Authenticated, but not allowed here (403). */
  forbidden(detail: string): Problem {
    return new Problem({ code: 'forbidden', status: 403, title: 'Forbidden', detail });
  },
  /** The identity provider or auth service cannot be reached: not the client's fault (503). */
  authUnavailable(detail: string, cause?: unknown): Problem {
    return new Problem({
      code: 'auth-unavailable',
      status: 503,
      title: 'Authentication unavailable',
      detail,
      headers: { 'retry-after': '5' },
      cause,
    });
  },
  badRequest(detail: string): Problem {
    return new Problem({ code: 'bad-request', status: 400, title: 'Bad request', detail });
  },
  notImplemented(detail: string): Problem {
    return new Problem({ code: 'not-implemented', status: 501, title: 'Not implemented', detail });
  },
  httpVersionNotSupported(version?: string): Problem {
    const asked = version === undefined ? 'This HTTP version' : `HTTP/${version}`;
    return new Problem({
      code: 'http-version-not-supported',
      status: 505,
      title: 'HTTP version not supported',
      detail: `${asked} is not spoken on this connection; use HTTP/1.1`,
    });
  },
  requestTimeout(detail: string): Problem {
    return new Problem({ code: 'request-timeout', status: 408, title: 'Request timeout', detail });
  },
  payloadTooLarge(limit: number): Problem {
    return new Problem({
      code: 'payload-too-large',
      status: 413,
      title: 'Request body too large',
      detail: `The request body exceeds the limit of ${limit} bytes`,
    });
  },
  /** The request body is not in a media type (or content coding) the route can read (415). */
  unsupportedMediaType(detail: string): Problem {
    return new Problem({
      code: 'unsupported-media-type',
      status: 415,
      title: 'Unsupported media type',
      detail,
    });
  },
  uriTooLong(limit: number): Problem {
    return new Problem({
      code: 'uri-too-long',
      status: 414,
      title: 'URI too long',
      detail: `The request target exceeds the limit of ${limit} bytes`,
    });
  },
  headersTooLarge(limit: number): Problem {
    return new Problem({
      code: 'request-header-fields-too-large',
      status: 431,
      title: 'Request header fields too large',
      detail: `The request headers exceed the limit of ${limit} bytes`,
    });
  },
  badGateway(detail: string, cause?: unknown): Problem {
    return new Problem({ code: 'bad-gateway', status: 502, title: 'Bad gateway', detail, cause });
  },
  upstreamUnavailable(detail: string, cause?: unknown): Problem {
    return new Problem({
      code: 'upstream-unavailable',
      status: 502,
      title: 'Upstream unavailable',
      detail,
      cause,
    });
  },
  upstreamTimeout(detail: string, cause?: unknown): Problem {
    return new Problem({ code: 'upstream-timeout', status: 504, title: 'Upstream timeout', detail, cause });
  },
  circuitOpen(retryAfterMs: number): Problem {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new Problem({
      code: 'circuit-open',
      status: 503,
      title: 'Upstream circuit open',
      detail: `The upstream is failing; requests are refused for ${seconds} s to let it recover`,
      headers: { 'retry-after': String(seconds) },
    });
  },
  serviceUnavailable(detail: string): Problem {
    return new Problem({
      code: 'service-unavailable',
      status: 503,
      title: 'Service unavailable',
      detail,
      headers: { 'retry-after': '1' },
    });
  },
  internalError(cause?: unknown): Problem {
    return new Problem({
      code: 'internal-error',
      status: 500,
      title: 'Internal gateway error',
      detail: 'The gateway failed to handle this request; quote the trace id when reporting it',
      cause,
    });
  },
} as const;

function truncate(s: string): string {
  return s.length > 200 ? s.slice(0, 200) + '…' : s;
}
