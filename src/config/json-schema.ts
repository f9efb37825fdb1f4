// The JSON Schema document for gateway.yaml, generated from the same TypeBox schema the validator uses.
// Keys that have a default are not "required" for an editor: the gateway fills them in. An editor sees the
// file before `${VAR}` interpolation, so every value a variable may stand for also accepts that form (the
// validator checks the interpolated value as strictly as ever).
import type { AnyPolicyDefinition } from '../pipeline/policy.js';
import { configSchema } from './schema.js';

type Node = { [k: string]: unknown };

function relaxDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relaxDefaults);
  if (typeof node !== 'object' || node === null) return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node as Node)) out[k] = relaxDefaults(v);
  const props = out.properties as Record<string, Node> | undefined;
  // The validator's "required unless" (a route's `upstream`, unless `callbacks`) as standard JSON Schema.
  const unless = out['x-required-unless'] as Record<string, string[]> | undefined;
  if (unless !== undefined) {
    delete out['x-required-unless'];
    out.allOf = Object.entries(unless).map(([key, others]) => ({
      anyOf: [key, ...others].map((k) => ({ properties: { [k]: true }, required: [k] })),
    }));
  }
  if (Array.isArray(out.required) && props) {
    const required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}

/** `${VAR}` or `${VAR:-default}`, as src/config/load-config.ts interpolates them. */
const VARIABLE = '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}';

/** Where the two forms live in the document (`#/$defs/...`). */
const INTERPOLATION_DEFS = {
  interpolated: {
    type: 'string',
    pattern: VARIABLE,
    description:
      'A value holding ${VAR} or ${VAR:-default}: replaced from the environment when the file loads, then checked.',
  },
  variable: {
    type: 'string',
    pattern: `^${VARIABLE}$`,
    description:
      "Exactly ${VAR} or ${VAR:-default}, unquoted: takes the variable's type (a number, true/false) when the file loads, then checked.",
  },
} as const;

/** Schema keywords that describe a value rather than constrain it: they stay on the outside of a wrap. */
const ANNOTATIONS = ['title', 'description', 'default', 'examples', 'deprecated'];

/** Whether a schema describes only scalar values (a string, number, boolean, or a choice of constants). */
function isScalar(node: Node): boolean {
  if (Array.isArray(node.anyOf)) return (node.anyOf as Node[]).every(isScalar);
  if (node.const !== undefined || Array.isArray(node.enum)) return true;
  return ['string', 'integer', 'number', 'boolean'].includes(node.type as string);
}

/** Whether a scalar schema could refuse a value holding `${...}` (an unconstrained string never does). */
function refusesVariables(node: Node): boolean {
  if (Array.isArray(node.anyOf)) return (node.anyOf as Node[]).every(refusesVariables);
  if (node.type !== 'string' || node.const !== undefined || node.enum !== undefined) return true;
  const shortest = '${A}'.length;
  return (
    node.pattern !== undefined ||
    node.format !== undefined ||
    node.maxLength !== undefined ||
    (typeof node.minLength === 'number' && node.minLength > shortest)
  );
}

/** Whether a scalar schema takes strings: then `${VAR}` may be part of the value, else it is the value. */
function takesStrings(node: Node): boolean {
  if (Array.isArray(node.anyOf)) return (node.anyOf as Node[]).some(takesStrings);
  return node.type === 'string' || typeof node.const === 'string';
}

/** Sub-schemas by keyword: a map of them, a list of them, or one. */
const MAPS = ['properties', 'patternProperties', '$defs'];
const LISTS = ['anyOf', 'allOf', 'oneOf', 'prefixItems'];
const SINGLE = ['items', 'additionalProperties', 'not'];

/**
 * Every scalar value that could refuse a `${...}` form accepts it as well: `anyOf: [original, form]`, with
 * the description and default outside. Keys are never interpolated, so names (property names, pattern
 * properties) are left alone.
 */
function acceptVariables(node: unknown): unknown {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return node;
  const n = node as Node;
  if (isScalar(n)) {
    if (!refusesVariables(n)) return n;
    const outer: Node = {};
    const inner: Node = {};
    for (const [k, v] of Object.entries(n)) (ANNOTATIONS.includes(k) ? outer : inner)[k] = v;
    const form = takesStrings(n) ? 'interpolated' : 'variable';
    return { ...outer, anyOf: [inner, { $ref: `#/$defs/${form}` }] };
  }
  const out: Node = {};
  for (const [k, v] of Object.entries(n)) {
    if (MAPS.includes(k) && typeof v === 'object' && v !== null)
      out[k] = Object.fromEntries(Object.entries(v as Node).map(([name, s]) => [name, acceptVariables(s)]));
    else if (LISTS.includes(k) && Array.isArray(v)) out[k] = v.map(acceptVariables);
    else if (SINGLE.includes(k)) out[k] = acceptVariables(v);
    else out[k] = v;
  }
  return out;
}

/** The JSON Schema of gateway.yaml with the policies of `registry`. */
export function gatewayJsonSchema(registry: readonly AnyPolicyDefinition[]): string {
  const relaxed = relaxDefaults(JSON.parse(JSON.stringify(configSchema(registry)))) as Node;
  const schema = acceptVariables(relaxed) as Node;
  return (
    JSON.stringify(
      {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        ...schema,
        $defs: { ...(schema.$defs as Node | undefined), ...INTERPOLATION_DEFS },
      },
      null,
      2,
    ) + '\n'
  );
}
