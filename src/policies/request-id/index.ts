// Request identity and trace context: every request gets a trace id (the configured tracing header, e.g.
// X-Trace-Id) and a W3C traceparent (a valid incoming one is continued with a new span id, anything else is
// replaced). Both are forwarded upstream and echoed to the client.
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { newSpanId, newTraceId } from '../../pipeline/trace-ids.js';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

export const schema = Type.Object(
  {
    header: Type.Optional(
      Type.String({
        pattern: HEADER_NAME_PATTERN,
        'x-expected': 'a header name',
        description: 'Header carrying the trace id (default: gateway.tracing_header).',
      }),
    ),
    echo: Type.Boolean({ default: true, description: 'Return the trace id and traceparent to the client.' }),
  },
  { additionalProperties: false },
);

/** A client-chosen trace id is kept only when it is short and plain. */
const VALID_ID = /^[A-Za-z0-9._:/+=-]{1,128}$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
const HEX32 = /^[0-9a-f]{32}$/;

export interface TraceParent {
  readonly traceId: string;
  readonly parentId: string;
  readonly flags: string;
}

/** Lowercase hex digits only (W3C Trace Context ids and flags). */
function isLowerHex(v: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Parses a traceparent header; undefined when invalid (W3C Trace Context 3.2.2–3.2.4). Scanned by hand: it
 * runs on every request, and a regular expression with captures allocates a match and five strings.
 */
export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  let v = value;
  if (v.length !== 55 || v.charCodeAt(0) <= 0x20 || v.charCodeAt(54) <= 0x20) v = v.trim();
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 characters.
  if (v.length < 55) return undefined;
  if (v.charCodeAt(2) !== 0x2d || v.charCodeAt(35) !== 0x2d || v.charCodeAt(52) !== 0x2d) return undefined;
  if (!isLowerHex(v, 0, 2) || !isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52) || !isLowerHex(v, 53, 55))
    return undefined;
  const version = v.slice(0, 2);
  if (version === 'ff') return undefined;
  if (v.length > 55) {
    // Version 00 has exactly these fields; a later version may append "-" and more (3.2.4).
    if (version === '00' || v.charCodeAt(55) !== 0x2d || /\s/.test(v)) return undefined;
  }
  const traceId = v.slice(3, 35);
  const parentId = v.slice(36, 52);
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags: v.slice(53, 55) };
}

export const requestId = definePolicy({
  name: 'request_id',
  phase: 'receive',
  summary: 'Trace id and W3C traceparent: continued from the client when valid, generated otherwise.',
  schema,
  implicitConfig: () => ({ echo: true }),
  create(config, ctx) {
    const header = config.header ?? ctx.gateway.tracingHeader;
    const lower = header.toLowerCase();
    const echo = config.echo;
    const sink = ctx.gateway.tracer;
    return {
      onRequest(ex: Exchange): void {
        const headers = ex.headers;
        const incoming = headers.get('traceparent');
        const parent = parseTraceparent(incoming);
        const given = headers.get(lower);
        const clientId = given !== undefined && VALID_ID.test(given) ? given : undefined;
        let w3c: string;
        if (parent) {
          w3c = parent.traceId;
          ex.traceFlags = parent.flags;
        } else {
          w3c =
            clientId !== undefined && HEX32.test(clientId) && clientId !== ZERO_TRACE
              ? clientId
              : newTraceId();
          headers.delete('tracestate');
        }
        ex.w3cTraceId = w3c;
        ex.spanId = newSpanId();
        ex.traceId = clientId ?? w3c;
        if (sink === undefined) {
          ex.traceparent = `00-${w3c}-${ex.spanId}-${ex.traceFlags}`;
        } else {
          const sampled =
            parent !== undefined && sink.parentBased
              ? (parseInt(parent.flags, 16) & 1) === 1
              : sink.sampleNew(w3c);
          ex.traceFlags = withSampledFlag(parent?.flags ?? '00', sampled);
          if (sampled) {
            // The upstream's parent is the gateway's client span of the call, itself a child of the server span.
            ex.traceSampled = true;
            if (parent) ex.parentSpanId = parent.parentId;
            ex.upstreamSpanId = newSpanId();
            ex.traceparent = `00-${w3c}-${ex.upstreamSpanId}-${ex.traceFlags}`;
          } else {
            ex.traceparent = `00-${w3c}-${ex.spanId}-${ex.traceFlags}`;
          }
        }
        // Append when the client sent none (no scan); replace otherwise.
        if (given === undefined) headers.append(header, ex.traceId);
        else headers.set(header, ex.traceId);
        if (incoming === undefined) headers.append('traceparent', ex.traceparent);
        else headers.set('traceparent', ex.traceparent);
      },
      onResponse: echo
        ? (ex: Exchange, res: GatewayResponse): void => {
            res.headers[lower] = ex.traceId;
            // The client is told the gateway's own (server) span, not the upstream call's.
            if (ex.upstreamSpanId !== '')
              res.headers['traceparent'] = `00-${ex.w3cTraceId}-${ex.spanId}-${ex.traceFlags}`;
            else if (ex.traceparent !== '') res.headers['traceparent'] = ex.traceparent;
          }
        : undefined,
      onComplete:
        sink === undefined
          ? undefined
          : (ex: Exchange): void => {
              if (ex.traceSampled) sink.record(ex);
            },
    };
  },
});

/** Trace flags with the sampled bit (W3C Trace Context 3.2.2.5) set or cleared, other bits kept. */
export function withSampledFlag(flags: string, sampled: boolean): string {
  if (flags === '00' || flags === '01') return sampled ? '01' : '00';
  const bits = (parseInt(flags, 16) & 0xfe) | (sampled ? 1 : 0);
  return bits < 16 ? '0' + bits.toString(16) : bits.toString(16);
}
