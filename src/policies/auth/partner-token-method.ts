// The `partner_token` method: bearer tokens the gateway's own token endpoint issued, accepted only on the
// routes they were issued for.
import { PolicyConfigError, type CompileContext } from '../../pipeline/policy.js';
import type { Identity } from '../../pipeline/identity.js';
import { problems } from '../../problems/catalog.js';
import { Problem } from '../../problems/problem.js';
import { BEARER, quote, scheme, type Method } from './method.js';
import type { AuthSection } from './schema.js';
import { tokenIssuer } from './shared-token-issuer.js';
import { TokenRejected, type PartnerToken } from './token-issuer.js';

/** `realm` is quoted already. */
export function partnerTokenMethod(
  ref: string,
  section: AuthSection,
  realm: string,
  ctx: CompileContext,
): Method {
  const te = section.token_endpoint;
  if (te === undefined)
    throw new PolicyConfigError('auth method "partner_token" needs auth.token_endpoint in the config', []);
  const issuer = tokenIssuer(ctx);
  const route = ctx.routeName;
  const challenge = `Bearer realm="${realm}"`;
  const invalid = (description: string) =>
    problems.unauthenticated(
      `Invalid token: ${description}`,
      `${challenge}, error="invalid_token", error_description="${quote(description)}"`,
    );
  const check = (token: PartnerToken): Identity => {
    // The gateway accepts its own tokens only on the routes they were issued for.
    if (!token.routes.includes(route))
      throw new Problem({
        code: 'forbidden',
        status: 403,
        title: 'Forbidden',
        detail: 'This token is not valid for this route',
        headers: { 'www-authenticate': `${challenge}, error="insufficient_scope"` },
      });
    return token.identity;
  };
  return {
    ref,
    challenge,
    // A bearer token is this method's when the gateway issued it (its unverified `iss` is ours); other
    // bearer tokens are left to the route's jwt methods.
    credential(ex) {
      const token = scheme(ex, BEARER);
      return token !== undefined && unverifiedIssuer(token) === te.issuer ? token : undefined;
    },
    authenticate(_ex, token) {
      try {
        const verified = issuer.verify(token);
        if (verified instanceof Promise)
          return verified.then(check, (err: unknown) => {
            throw err instanceof TokenRejected ? invalid(err.description) : err;
          });
        return check(verified);
      } catch (err) {
        throw err instanceof TokenRejected ? invalid(err.description) : err;
      }
    },
    refuse: () => invalid('token identity is not accepted'),
  };
}

/** The `iss` claim of a JWT, read without verifying (only to pick the method that will verify it). */
function unverifiedIssuer(token: string): string | undefined {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first < 0 || second < 0 || second - first > 8192) return undefined;
  try {
    const payload = JSON.parse(
      Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'),
    ) as unknown;
    const iss = (payload as { iss?: unknown } | null)?.iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
