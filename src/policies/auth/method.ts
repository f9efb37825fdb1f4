// What every configured way in (JWT, API key, Basic, partner token, forward-auth) offers the auth facade,
// and the small helpers the methods share: reading an Authorization scheme, quoting challenge parameters.
import { createStateKey, type Exchange } from '../../pipeline/exchange.js';
import type { Identity, IdentityField } from '../../pipeline/identity.js';

export type Awaitable<T> = T | Promise<T>;

/** Headers of a forward-auth answer to put on the upstream request once authentication succeeded. */
export const COPY_UPSTREAM = createStateKey<readonly (readonly [string, string])[]>('auth.forward-copy');

/** One configured way in: finds its credential on the request, and turns it into an identity. */
export interface Method {
  readonly ref: string;
  /** The credential this method reads, or undefined when the request carries none for it. */
  credential(ex: Exchange): string | undefined;
  authenticate(ex: Exchange, credential: string): Awaitable<Identity>;
  /** The WWW-Authenticate challenge naming this method. */
  readonly challenge: string;
  /**
   * Why an identity this method produced is refused when one of its values cannot become a header (a
   * JwtError naming the claim, a Problem); without it, "Invalid credentials" with the method's challenge.
   */
  refuse?(identity: Identity, field: IdentityField): unknown;
}

export const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
export const BASIC = /^Basic +([A-Za-z0-9+/]+=*) *$/i;

/** The credential of an Authorization header in the scheme `re` matches, or undefined. */
export function scheme(ex: Exchange, re: RegExp): string | undefined {
  const value = ex.headers.get('authorization');
  if (value === undefined) return undefined;
  return re.exec(value)?.[1];
}

/** error_description values are quoted-strings: keep them plain. */
export const quote = (v: string) => v.replace(/["\\\r\n]/g, '');
