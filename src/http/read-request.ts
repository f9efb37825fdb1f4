// Turns a node:http request into an Exchange: parses the target (origin- or absolute-form), normalizes the
// path, enforces URL and body limits, refuses ambiguous framing, strips hop-by-hop headers (including every
// header the client lists in Connection) and sets the forwarding headers according to trusted_proxies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { Exchange } from '../pipeline/exchange.js';
import { HeaderList } from '../pipeline/header-list.js';
import type { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import { isPathRefusal, normalizePath } from '../lib/normalize-path.js';
import { guardOf } from './request-line-guard.js';
import { hostOnly } from '../lib/host.js';
import { BodyTooLargeError } from '../pipeline/body.js';
import { connectionTokens, HOP_BY_HOP } from './hop-by-hop.js';
import { resolveClientIp, type TrustedProxies, unmapIPv4 } from './client-address.js';
import { isToken } from '../lib/http-token.js';

export interface IngressSettings {
  readonly maxUrlLength: number;
  readonly maxBodyBytes: number;
  readonly trusted: TrustedProxies;
  readonly forwardedHeader: boolean;
  readonly protocol: 'http' | 'https';
  /** Send X-Real-IP (the client address) upstream. */
  readonly realIpHeader: boolean;
}

/**
 * Names the intake manages (lowercase): a client header that folds onto one of them (`X_Real_IP`) is
 * dropped. X-Forwarded-* and hop-by-hop names are matched separately.
 */
const INTAKE_OWNED: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'forwarded',
  'expect',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-override-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

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
  let path: string;
  const canonical = normalizePath(rawPath);
  if (isPathRefusal(canonical)) {
    problem ??= problems.badRequest(`invalid path: ${canonical.refused}`);
    path = '/';
  } else path = canonical;
  if (query.includes('#')) problem ??= problems.badRequest('invalid request target: a fragment ("#")');

  // Framing the parser accepted but the gateway will not guess at (RFC 9112 6.1, 2.3).
  const major = req.httpVersionMajor;
  const minor = req.httpVersionMinor;
  if (major !== 1 || minor > 1) {
    if (major === 0) problem = problems.badRequest('the request line has no HTTP version');
    else problem = problems.httpVersionNotSupported(`${major}.${minor}`);
    close = true;
  }

  // Who sent it, before the headers: forwarding and client-address headers are believed from trusted
  // proxies only.
  const peer = unmapIPv4(req.socket.remoteAddress ?? '');
  const trusted = settings.trusted.isTrusted(peer);

  // Headers: one pass over the raw list.
  const raw = req.rawHeaders;
  const out: string[] = [];
  let hostCount = 0;
  let hostValue = '';
  let contentLength = -1;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let xfPort: string | undefined;
  let xfPrefix: string | undefined;
  let forwarded: string | undefined;
  let overrides: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (lower.includes('_')) {
      // X_Forwarded_For is X-Forwarded-For to CGI/WSGI/Rack backends: a name that folds onto one the
      // gateway manages is a spoofing attempt, never forwarded.
      const folded = lower.replaceAll('_', '-');
      if (INTAKE_OWNED.has(folded) || folded.startsWith('x-forwarded-') || HOP_BY_HOP.has(folded)) continue;
    }
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
        transferEncoding = transferEncoding === undefined ? value : transferEncoding + ',' + value;
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
      case 'x-forwarded-port':
        xfPort ??= value;
        continue;
      case 'x-forwarded-prefix':
        xfPrefix ??= value;
        continue;
      case 'x-forwarded-server':
        if (trusted) out.push(name, value);
        continue;
      case 'forwarded':
        forwarded = forwarded === undefined ? value : forwarded + ', ' + value;
        continue;
      case 'x-real-ip':
      case 'x-client-ip':
      case 'true-client-ip':
      case 'cf-connecting-ip':
      case 'fastly-client-ip':
      case 'x-cluster-client-ip':
        // Client-address headers: a CDN in trusted_proxies may set them; anyone else could claim any address.
        if (trusted && !(lower === 'x-real-ip' && settings.realIpHeader)) out.push(name, value);
        continue;
      case 'x-original-url':
      case 'x-rewrite-url':
      case 'x-override-url':
        // URL overrides make some frameworks (Symfony, IIS rewrite) serve another path than the one routed.
        continue;
      case 'x-http-method-override':
      case 'x-http-method':
      case 'x-method-override':
        // Kept aside: a route with `method_override: true` sends them on (see applyRouteIntake).
        (overrides ??= []).push(name, value);
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
  if (transferEncoding !== undefined) {
    if (major === 1 && minor === 0) {
      // RFC 9112 6.1: an HTTP/1.0 recipient cannot know where a chunked body ends for a 1.0 sender's peers.
      problem ??= problems.badRequest('Transfer-Encoding in an HTTP/1.0 request');
      close = true;
    } else if (transferEncoding.trim().toLowerCase() !== 'chunked') {
      problem ??= problems.notImplemented(
        `Transfer-Encoding "${transferEncoding.slice(0, 64)}": only "chunked" is supported`,
      );
      close = true;
    }
  }
  if (hostCount > 1) {
    problem ??= problems.badRequest('more than one Host header');
    close = true;
  } else if (hostCount === 0 && major === 1 && minor >= 1) {
    // RFC 9112 3.2: an HTTP/1.1 request without Host is refused (Node's own check would answer without a body).
    problem ??= problems.badRequest('missing Host header');
    close = true;
  } else if (!VALID_HOST.test(hostValue)) {
    problem ??= problems.badRequest('invalid Host header');
    close = true;
  }
  if (targetAuthority !== undefined) {
    // RFC 9112 3.2.2 lets the target's authority win over Host; a gateway that routes on one while a
    // backend reads the other is confused, so the two must agree (and the authority be a plain host[:port]).
    if (targetAuthority === '' || !VALID_HOST.test(targetAuthority)) {
      problem ??= problems.badRequest('invalid authority in the request target');
      close = true;
    } else if (hostCount === 1 && targetAuthority.toLowerCase() !== hostValue.toLowerCase()) {
      problem ??= problems.badRequest('the request target names another host than the Host header');
      close = true;
    }
  }
  if (contentLength > settings.maxBodyBytes) {
    problem ??= problems.payloadTooLarge(settings.maxBodyBytes);
    close = true;
  }

  const authority = targetAuthority ?? hostValue;
  const host = hostOnly(authority);

  // Forwarding headers: kept from trusted peers and extended, replaced for everyone else.
  const proto = settings.protocol;
  headers.append('X-Forwarded-For', trusted && xff !== undefined ? xff + ', ' + peer : peer);
  headers.append('X-Forwarded-Proto', trusted && xfProto !== undefined ? xfProto : proto);
  if (authority !== '')
    headers.append('X-Forwarded-Host', trusted && xfHost !== undefined ? xfHost : authority);
  headers.append(
    'X-Forwarded-Port',
    trusted && xfPort !== undefined ? xfPort : portOf(authority, req.socket.localPort, proto),
  );
  if (trusted && xfPrefix !== undefined) headers.append('X-Forwarded-Prefix', xfPrefix);
  if (settings.forwardedHeader) {
    const element = `for=${forwardedNode(peer)};host=${quoteIfNeeded(authority)};proto=${proto}`;
    headers.append('Forwarded', trusted && forwarded !== undefined ? forwarded + ', ' + element : element);
  } else if (trusted && forwarded !== undefined) {
    headers.append('Forwarded', forwarded);
  }
  const clientIp = resolveClientIp(peer, xff, settings.trusted);
  if (settings.realIpHeader) headers.append('X-Real-IP', clientIp);

  let requestBody: Readable | null = null;
  if (transferEncoding !== undefined) {
    // Past the limit the connection closes after the 413: the rest of the body is never read.
    const limit = new BodyLimit(settings.maxBodyBytes, () => {
      res.shouldKeepAlive = false;
      // Requests pipelined behind this body were framed by bytes never judged: none of them is processed.
      guardOf(req.socket)?.refuseRest();
    });
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
    clientIp,
    headers,
    authority,
    requestBody,
  });
  if (overrides !== undefined) ex.methodOverrides = overrides;
  return { ex, problem, close };
}

/** The port of an authority, or the listener's when the authority names none (X-Forwarded-Port). */
function portOf(authority: string, localPort: number | undefined, proto: 'http' | 'https'): string {
  const close = authority.lastIndexOf(']');
  const colon = authority.lastIndexOf(':');
  if (colon > close && colon < authority.length - 1) return authority.slice(colon + 1);
  if (localPort !== undefined) return String(localPort);
  return proto === 'https' ? '443' : '80';
}

/** RFC 7239 6: IPv6 node names are bracketed and quoted. */
function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

function quoteIfNeeded(v: string): string {
  return isToken(v) ? v : JSON.stringify(v);
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

function ignoreError(): void {}
