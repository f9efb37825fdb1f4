// One token issuer per config, shared by the token endpoint, the JWKS endpoint and every route that
// accepts partner tokens, and kept across reloads while its config and consumers stay the same.
import type { CompileContext } from '../../pipeline/policy.js';
import { problems } from '../../problems/catalog.js';
import { consumerDirectory } from './consumers.js';
import type { AuthSection, Consumer } from './schema.js';
import { createTokenIssuer, type TokenIssuer } from './token-issuer.js';
import { checkSigningKeys } from './token-keys.js';

/**
 * The token issuer for this config, shared by the token endpoint, the JWKS endpoint and every route that
 * accepts partner tokens (one per distinct token_endpoint + consumers). Its keys are checked at load; the
 * issuer is ready within a tick, and requests arriving before wait for it.
 */
export function tokenIssuer(ctx: CompileContext): TokenIssuer {
  const section = ctx.section('auth') as AuthSection;
  const te = section.token_endpoint!;
  // Those of the consumers file included: a changed file gets an issuer that knows the new set.
  const consumers = (ctx.section('consumers') ?? []) as Consumer[];
  return ctx.carryOver(
    `auth:token-issuer:${JSON.stringify(te)}:${JSON.stringify(consumers)}:${ctx.baseDir}`,
    () => {
      checkSigningKeys(te, ctx.baseDir);
      const directory = consumerDirectory(ctx);
      const ready = createTokenIssuer(te, directory, { baseDir: ctx.baseDir });
      let issuer: TokenIssuer | undefined;
      ready.then(
        (i) => (issuer = i),
        (err: unknown) =>
          ctx.log.error({ event: 'token_issuer_failed', err }, 'the partner token issuer could not start'),
      );
      const unavailable = () => problems.authUnavailable('The token issuer is not ready');
      return {
        handleToken: (ex) =>
          issuer
            ? issuer.handleToken(ex)
            : ready.then(
                (i) => i.handleToken(ex),
                () => Promise.reject(unavailable()),
              ),
        handleJwks(ex) {
          if (issuer) return issuer.handleJwks(ex);
          throw unavailable();
        },
        verify: (token) =>
          issuer
            ? issuer.verify(token)
            : ready.then(
                (i) => i.verify(token),
                () => Promise.reject(unavailable()),
              ),
      } satisfies TokenIssuer;
    },
  );
}
