// The JSON Schema document for gateway.yaml, generated from the same TypeBox schema the validator uses.
// Keys that have a default are not "required" for an editor: the gateway fills them in.
import { configSchema } from '../compiler/compile-gateway.js';
import { policyRegistry } from '../policies/registry.js';

type Node = { [k: string]: unknown };

function relaxDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relaxDefaults);
  if (typeof node !== 'object' || node === null) return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node as Node)) out[k] = relaxDefaults(v);
  const props = out.properties as Record<string, Node> | undefined;
  if (Array.isArray(out.required) && props) {
    const required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}

export function gatewayJsonSchema(): string {
  const schema = relaxDefaults(JSON.parse(JSON.stringify(configSchema(policyRegistry)))) as Node;
  return (
    JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema }, null, 2) + '\n'
  );
}
