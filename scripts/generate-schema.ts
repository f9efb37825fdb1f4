// Writes schema/gateway.schema.json from the config schema (the same one the validator uses), for editors
// through `# yaml-language-server: $schema=...`. `npm run schema` after changing a schema; a test fails when
// the committed file is stale.
import { writeFileSync } from 'node:fs';
import { gatewayJsonSchema } from '../src/config/json-schema.js';
import { policyRegistry } from '../src/policies/registry.js';

const out = new URL('../schema/gateway.schema.json', import.meta.url);
writeFileSync(out, gatewayJsonSchema(policyRegistry));
process.stdout.write(`wrote ${out.pathname}\n`);
