// Path rewrite: a regular expression matched against the request path and a replacement with capture
// references. Compiled and checked once at load: the pattern, every `$n` / `$<name>` reference, and that
// the result can only be a path (no query, fragment or whitespace).
import { PolicyConfigError } from '../../pipeline/policy.js';

type ConfigPath = readonly (string | number)[];

export interface PathRewrite {
  readonly pattern: RegExp;
  readonly replace: string;
}

const REFERENCE = /\$(\d{1,2}|<([^>]*)>|[$&`'])/g;
// eslint-disable-next-line no-control-regex -- control characters are exactly what a path may not hold
const NOT_IN_PATH = /[?#\s\u0000-\u001f\u007f]/;

export function compilePathRewrite(
  config: { readonly pattern: string; readonly replace: string } | undefined,
  at: ConfigPath,
): PathRewrite | undefined {
  if (config === undefined) return undefined;
  let pattern: RegExp;
  try {
    pattern = new RegExp(config.pattern);
  } catch (err) {
    throw new PolicyConfigError(`invalid regular expression: ${(err as Error).message}`, [...at, 'pattern']);
  }
  // Every group the pattern has, found by matching an empty alternative: its exec result lists them all.
  const probe = new RegExp(`(?:${config.pattern})|`).exec('')!;
  const groups = probe.length - 1;
  const names = new Set(Object.keys(probe.groups ?? {}));
  for (const m of config.replace.matchAll(REFERENCE)) {
    const ref = m[1]!;
    if (m[2] !== undefined) {
      if (!names.has(m[2]))
        throw new PolicyConfigError(`the pattern has no group named "${m[2]}"`, [...at, 'replace']);
    } else if (/^\d/.test(ref)) {
      const n = Number(ref);
      if (n === 0 || n > groups)
        throw new PolicyConfigError(
          `$${ref}: the pattern has ${groups} capture group${groups === 1 ? '' : 's'}`,
          [...at, 'replace'],
        );
    } else if (ref !== '$') {
      throw new PolicyConfigError(`$${ref} is not supported; use $1 or $<name>`, [...at, 'replace']);
    }
  }
  if (NOT_IN_PATH.test(config.replace.replace(REFERENCE, '')))
    throw new PolicyConfigError('the replacement must be a path: no ?, # or whitespace', [...at, 'replace']);
  return { pattern, replace: config.replace };
}

/** The rewritten path, or undefined when the pattern does not match. */
export function rewritePath(r: PathRewrite, path: string): string | undefined {
  if (!r.pattern.test(path)) return undefined;
  const out = path.replace(r.pattern, r.replace);
  return out.startsWith('/') ? out : '/' + out;
}
