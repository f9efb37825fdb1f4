// Identity headers belong to the gateway: on every route, whether or not it authenticates, whatever a client
// sent as X-Authenticated-*, X-Consumer-* (or the configured names) is removed before anything else runs, so
// an upstream that trusts these headers can only ever see the ones the auth policy set. Names are compared
// folded (foldHeaderName: case, and `_` read as `-`), because many backends read `X_Authenticated_User` as
// `X-Authenticated-User` (CGI/WSGI/Rack, nginx with underscores_in_headers).
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { foldHeaderName } from '../../pipeline/header-rules.js';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

export const schema = Type.Object(
  {
    strip: Type.Optional(
      Type.Array(Type.String({ pattern: HEADER_NAME_PATTERN, 'x-expected': 'a header name' }), {
        description: 'More client headers removed on this route, besides the protected ones.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Identity headers are removed on every route; a route may name more headers to remove (strip), never fewer.',
    'x-expected':
      'a mapping such as { strip: [X-Internal-User] } (identity headers are removed on every route and cannot be turned off)',
  },
);

interface IdentityHeadersSection {
  readonly identity_headers?: {
    readonly user: string;
    readonly roles: string;
    readonly scopes: string;
    readonly tier: string;
    readonly consumer: string;
    readonly strip: readonly string[];
  };
}

const OWNED_PREFIXES = ['x-authenticated-', 'x-consumer-'] as const;

/**
 * Whether a client header name is the gateway's, given the folded configured names: its folded form is
 * X-Authenticated-*, X-Consumer-* or one of `names`.
 */
export function ownedIdentityHeader(name: string, names: ReadonlySet<string>): boolean {
  const folded = foldHeaderName(name);
  return folded.startsWith(OWNED_PREFIXES[0]) || folded.startsWith(OWNED_PREFIXES[1]) || names.has(folded);
}

/**
 * The first characters (char codes below 128) a header name needs to fold into one of `names` or the owned
 * prefixes: a name starting with anything else cannot be the gateway's, so most requests (no header starts
 * with x, X or a configured name's first letter) are let through after one char-code look per header.
 */
export function identityFirstChars(names: Iterable<string>): Uint8Array {
  const table = new Uint8Array(128);
  const add = (c: string) => {
    const code = c.charCodeAt(0);
    if (code < 128) table[code] = 1;
  };
  for (const folded of ['x', ...names]) {
    const first = folded.charAt(0);
    add(first);
    add(first.toUpperCase());
    // `_` folds to `-`: a configured name starting with either may be sent starting with the other.
    if (first === '-') add('_');
  }
  return table;
}

export const identity = definePolicy({
  name: 'identity_headers',
  phase: 'receive',
  summary:
    'Removes client-sent identity headers (X-Authenticated-*, X-Consumer-*, configured names; case and _/- folded) on every route.',
  schema,
  implicitConfig: () => ({}),
  mandatory:
    'identity headers are removed on every route, so an upstream can trust them; a route may add names with `strip`',
  create(config, ctx) {
    const section = (ctx.section('auth') ?? {}) as IdentityHeadersSection;
    const h = section.identity_headers;
    const names: ReadonlySet<string> = new Set(
      [
        ...(h ? [h.user, h.roles, h.scopes, h.tier, h.consumer, ...h.strip] : []),
        ...(config.strip ?? []),
      ].map(foldHeaderName),
    );
    const firstChars = identityFirstChars(names);
    const owned = (lowerName: string): boolean => ownedIdentityHeader(lowerName, names);
    return {
      onRequest(ex: Exchange): void {
        const raw = ex.headers.raw;
        let any = false;
        for (let i = 0; i < raw.length; i += 2) {
          if (firstChars[raw[i]!.charCodeAt(0)] === 1) {
            any = true;
            break;
          }
        }
        if (any) ex.headers.deleteWhere(owned);
      },
    };
  },
});
