// Per-request state: the request as the gateway understood it, the upstream-bound headers, timings, trace
// ids, and typed slots that policies share. Lives for one request; policy instances never hold it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { newTraceId } from './trace-ids.js';
import type { Readable } from 'node:stream';
import type { HeaderList } from './header-list.js';
import type { GatewayResponse } from './gateway-response.js';

/** A typed slot in the Exchange, created once at module load by the policy that owns the data. */
export interface StateKey<T> {
  readonly name: string;
  /** Phantom member carrying the type; never set. */
  readonly _type?: T;
}

export function createStateKey<T>(name: string): StateKey<T> {
  return { name };
}

export interface ExchangeInit {
  req: IncomingMessage;
  res: ServerResponse;
  startedAt: number;
  method: string;
  path: string;
  query: string;
  host: string;
  protocol: 'http' | 'https';
  clientIp: string;
  headers: HeaderList;
  authority: string;
  requestBody: Readable | null;
}

export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  readonly method: string;
  /** Normalized path (RFC 3986 6.2.2); this is what is matched and what goes upstream. */
  path: string;
  /** Raw query string without the "?", "" when there is none. */
  query: string;
  /** Request host, lowercase, without port. */
  readonly host: string;
  readonly protocol: 'http' | 'https';
  /** Client address after trusted-proxy resolution. */
  readonly clientIp: string;
  /** Request headers as they will be sent upstream (hop-by-hop already removed). */
  readonly headers: HeaderList;
  /** The Host the client sent (with port), as written. */
  readonly authority: string;
  /**
   * The request body to send upstream, or null when the request has none: the client's stream, or the whole
   * body once a policy has read and rewritten it.
   */
  requestBody: Readable | Uint8Array | null;
  /**
   * The path to send upstream, when a policy rewrote it (transform `path`): replaces the route's path
   * mapping (strip_prefix); the upstream's base path is still prepended. Undefined: the request path.
   */
  upstreamPath: string | undefined = undefined;
  /**
   * Client-sent method-override headers (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override) as a flat
   * name/value list, held back by the intake; only a route with `method_override: true` sends them on.
   */
  methodOverrides: readonly string[] | undefined = undefined;
  /** Length of the path prefix the route matched (for strip_prefix). */
  prefixLength = 0;
  /** Path parameters captured by the route (`/users/:id`). */
  params: Readonly<Record<string, string>> = EMPTY_PARAMS;
  /** Name of the matched route ("" before routing). */
  routeName = '';
  /** Id of the authenticated consumer ("" when anonymous). Set by authentication. */
  consumerId = '';

  /** Status sent to the client (0 until sent). */
  status = 0;
  /** Status the upstream answered (0 when it was not asked or did not answer). */
  upstreamStatus = 0;
  /** Time from sending upstream to its response headers, ms (-1 when not asked). */
  upstreamLatencyMs = -1;
  /** performance.now() when the upstream request was sent, and when its response ended or failed (-1: not yet). */
  upstreamSentAt = -1;
  upstreamEndedAt = -1;
  /** Named reason of a gateway-made response. */
  problem: string | undefined = undefined;
  /**
   * Why the route's fallback answered in the upstream's place (`circuit-open`, `upstream-failed`), as in
   * X-Portico-Fallback; undefined when it did not.
   */
  fallback: string | undefined = undefined;
  /** The client connection (held here because undici clears req.socket once it has read the request body). */
  readonly socket: Socket;
  /** Socket byte counters when the request started (access log bytes_sent / bytes_received). */
  readonly socketWrittenAtStart: number;
  readonly socketReadAtStart: number;
  /** Which upstream target served the request. */
  upstreamTarget = '';
  /**
   * Access-log members policies added (`logField`), rendered: `,"version":"2"` and so on, appended to the
   * request's access line after the configured fields.
   */
  logFields = '';
  /**
   * Where a policy sent this request instead of the route's upstream (`CompileContext.upstream(...).forward`);
   * undefined: the route's own.
   */
  forwardTo: ((ex: Exchange) => Promise<GatewayResponse>) | undefined = undefined;

  /** The upstream call in progress; cancelled when the client goes away before the response is complete. */
  upstreamCall: { cancel(): void } | undefined = undefined;
  /** The listener's state: once it is draining, the response closes its connection. */
  lifecycle: { readonly draining: boolean } = NOT_DRAINING;
  /** Called once when the exchange is over, after the completion hooks (the server releases the snapshot). */
  onClose: (() => void) | undefined = undefined;

  private traceIdValue: string | undefined = undefined;
  /** W3C trace-id (32 hex) of the trace this request belongs to ("" until the request-id policy ran). */
  w3cTraceId = '';
  /** The traceparent sent upstream ("" until the request-id policy ran). */
  traceparent = '';
  /** The gateway's own span id (W3C parent-id sent upstream). */
  spanId = '';
  /** W3C trace flags, two hex digits. */
  traceFlags = '01';
  /** The span id of the client's traceparent ("" when the gateway started the trace). */
  parentSpanId = '';
  /** Span id of the recorded upstream call ("" unless the request is sampled for export). */
  upstreamSpanId = '';
  /** The request is sampled: its spans are exported when it completes. */
  traceSampled = false;
  private state: Map<StateKey<unknown>, unknown> | undefined = undefined;

  constructor(init: ExchangeInit) {
    this.req = init.req;
    this.res = init.res;
    this.startedAt = init.startedAt;
    this.method = init.method;
    this.path = init.path;
    this.query = init.query;
    this.host = init.host;
    this.protocol = init.protocol;
    this.clientIp = init.clientIp;
    this.headers = init.headers;
    this.authority = init.authority;
    this.requestBody = init.requestBody;
    const socket = init.req.socket;
    this.socket = socket;
    this.socketWrittenAtStart = socket.bytesWritten;
    this.socketReadAtStart = socket.bytesRead;
  }

  /** The trace id: continued from the client when valid, generated otherwise. Always available. */
  get traceId(): string {
    if (this.traceIdValue === undefined) this.traceIdValue = newTraceId();
    return this.traceIdValue;
  }

  set traceId(id: string) {
    this.traceIdValue = id;
  }

  /** A request header as the upstream will see it (router header matching). */
  /**
   * Adds a member to this request's access-log line (a policy's own field: `version`, `split`). `name` is a
   * fixed identifier chosen by the policy; strings are written as JSON strings (in ASCII).
   */
  logField(name: string, value: string | number | boolean): void {
    this.logFields += ',"' + name + '":' + (typeof value === 'string' ? asciiJson(value) : String(value));
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  get<T>(key: StateKey<T>): T | undefined {
    return this.state?.get(key) as T | undefined;
  }

  set<T>(key: StateKey<T>, value: T): void {
    (this.state ??= new Map()).set(key, value);
  }
}

const EMPTY_PARAMS: Readonly<Record<string, string>> = Object.freeze({});
const NOT_DRAINING = Object.freeze({ draining: false });

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;
const NON_ASCII = /[\u007f-\uffff]/g;
/** A JSON string literal in pure ASCII (access lines are copied byte for byte); plain values skip JSON. */
function asciiJson(v: string): string {
  if (!NEEDS_ESCAPE.test(v)) return '"' + v + '"';
  return JSON.stringify(v).replace(NON_ASCII, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}
