// Turns a node:http request into an Exchange: parses the target (origin- or absolute-form), normalizes the
// path, enforces URL and body limits, refuses ambiguous framing, strips hop-by-hop headers (including every
// header the client lists in Connection) and sets the forwarding headers according to trusted_proxies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { Exchange } from '../pipeline/exchange.js';
import { HeaderList } from '../pipeline/header-list.js';
import type { Problem } from './problem.js';
import { problems } from './problems.js';
import { normalizePath } from '../router/normalize-path.js';
import { connectionTokens, HOP_BY_HOP } from '../proxy/hop-by-hop.js';
import { resolveClientIp, type TrustedProxies, unmapIPv4 } from '../proxy/client-address.js';

export interface IngressSettings {
  readonly maxUrlLength: number;
  readonly maxBodyBytes: number;
  readonly trusted: TrustedProxies;
  readonly forwardedHeader: boolean;
  readonly protocol: 'http' | 'https';
}

export interface IngressResult {
  readonly ex: Exchange;
  /** Set when the request must be refused before routing. */
  readonly problem: Problem | undefined;
  /** The connection must close after the response (ambiguous framing, oversized body). */
  readonly close: boolean;
}

const VALID_HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(:[0-9]*)?$/;

export function readRequest(
  req: IncomingMessage,
  res: ServerResponse,
  settings: IngressSettings,
  startedAt: number,
): IngressResult {
  const url = req.url ?? '/';
  const method = req.method ?? 'GET';
  let problem: Problem | undefined;
  let close = false;

  // Request target (RFC 9112 3.2): origin-form, or absolute-form whose authority replaces Host.
  let target = url;
  let targetAuthority: string | undefined;
  if (url.length > settings.maxUrlLength) {
    problem = problems.uriTooLong(settings.maxUrlLength);
    target = '/';
  } else if (url.charCodeAt(0) !== 47) {
    const abs = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url);
    if (abs) {
      targetAuthority = abs[1]!;
      target = abs[2] === '' || abs[2]!.charCodeAt(0) === 63 ? '/' + abs[2]! : abs[2]!;
    } else {
      problem = problems.badRequest(
        url === '*' ? 'asterisk-form requests are not supported' : 'invalid request target',
      );
      target = '/';
    }
  }
  if (method === 'CONNECT' && problem === undefined) {
    problem = problems.methodNotAllowed('CONNECT', [
      'DELETE',
      'GET',
      'HEAD',
      'OPTIONS',
      'PATCH',
      'POST',
      'PUT',
    ]);
  }
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  let path = normalizePath(rawPath);
  if (path === null) {
    problem ??= problems.badRequest(
      'invalid path: bad percent-encoding, an encoded NUL, or not starting with "/"',
    );
    path = '/';
  }

  // Headers: one pass over the raw list.
  const raw = req.rawHeaders;
  const out: string[] = [];
  let hostCount = 0;
  let hostValue = '';
  let contentLength = -1;
  let chunked = false;
  let connection: string | undefined;
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let forwarded: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        hostCount++;
        hostValue = value;
        continue;
      case 'content-length':
        contentLength = Number(value);
        out.push(name, value);
        continue;
      case 'transfer-encoding':
        chunked = true;
        continue;
      case 'connection':
        connection = connection === undefined ? value : connection + ',' + value;
        continue;
      case 'expect':
        continue;
      case 'x-forwarded-for':
        xff = xff === undefined ? value : xff + ', ' + value;
        continue;
      case 'x-forwarded-proto':
        xfProto ??= value;
        continue;
      case 'x-forwarded-host':
        xfHost ??= value;
        continue;
      case 'forwarded':
        forwarded = forwarded === undefined ? value : forwarded + ', ' + value;
        continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    out.push(name, value);
  }
  const headers = new HeaderList(out);
  if (connection !== undefined) {
    // Only client-sent headers are removed here; the gateway's own headers are set afterwards.
    for (const token of connectionTokens(connection)) headers.delete(token);
  }
  if (hostCount > 1) {
    problem ??= problems.badRequest('more than one Host header');
    close = true;
  } else if (hostCount === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
    // RFC 9112 3.2: an HTTP/1.1 request without Host is refused (Node's own check would answer without a body).
    problem ??= problems.badRequest('missing Host header');
    close = true;
  } else if (!VALID_HOST.test(hostValue)) {
    problem ??= problems.badRequest('invalid Host header');
    close = true;
  }
  if (contentLength > settings.maxBodyBytes) {
    problem ??= problems.payloadTooLarge(settings.maxBodyBytes);
    close = true;
  }

  const authority = targetAuthority ?? hostValue;
  const host = hostOnly(authority);

  // Forwarding headers: kept from trusted peers and extended, replaced for everyone else.
  const peer = unmapIPv4(req.socket.remoteAddress ?? '');
  const trusted = settings.trusted.isTrusted(peer);
  const proto = settings.protocol;
  headers.append('X-Forwarded-For', trusted && xff !== undefined ? xff + ', ' + peer : peer);
  headers.append('X-Forwarded-Proto', trusted && xfProto !== undefined ? xfProto : proto);
  if (authority !== '')
    headers.append('X-Forwarded-Host', trusted && xfHost !== undefined ? xfHost : authority);
  if (settings.forwardedHeader) {
    const element = `for=${forwardedNode(peer)};host=${quoteIfNeeded(authority)};proto=${proto}`;
    headers.append('Forwarded', trusted && forwarded !== undefined ? forwarded + ', ' + element : element);
  } else if (trusted && forwarded !== undefined) {
    headers.append('Forwarded', forwarded);
  }

  let requestBody: Readable | null = null;
  if (chunked) {
    // Past the limit the connection closes after the 413: the rest of the body is never read.
    const limit = new BodyLimit(settings.maxBodyBytes, () => (res.shouldKeepAlive = false));
    requestBody = pipeline(req, limit, ignoreError);
  } else if (contentLength > 0) requestBody = req;

  const ex = new Exchange({
    req,
    res,
    startedAt,
    method,
    path,
    query,
    host,
    protocol: proto,
    clientIp: resolveClientIp(peer, xff, settings.trusted),
    headers,
    authority,
    requestBody,
  });
  return { ex, problem, close };
}

/** Lowercase host without port; IPv6 literals keep their brackets. */
function hostOnly(authority: string): string {
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const end = authority.indexOf(']');
    return (end === -1 ? authority : authority.slice(0, end + 1)).toLowerCase();
  }
  const colon = authority.indexOf(':');
  return (colon === -1 ? authority : authority.slice(0, colon)).toLowerCase();
}

/** RFC 7239 6: IPv6 node names are bracketed and quoted. */
function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

function quoteIfNeeded(v: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v) ? v : JSON.stringify(v);
}

/** Counts a chunked request body and fails it once it passes the limit. */
class BodyLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly onExceeded: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.onExceeded();
      cb(new BodyTooLargeError(this.limit));
    } else cb(null, chunk);
  }
}

/** The request body passed gateway.limits.max_body_bytes while streaming. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

function ignoreError(): void {}
