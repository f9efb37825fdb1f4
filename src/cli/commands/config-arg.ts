// Shared option parsing for commands that take a config file (positional or -c/--config).
import { parseArgs } from 'node:util';
import { ResourceRegistry } from '../../compiler/carry-over.js';
import { buildSnapshotFromFile } from '../../compiler/compile-gateway.js';
import type { GatewaySnapshot } from '../../compiler/snapshot.js';
import { formatIssue, formatIssues } from '../../config/config-issue.js';
import { policyRegistry } from '../../policies/registry.js';

export interface ConfigArgs {
  readonly file: string;
  readonly values: Record<string, string | boolean | undefined>;
}

export function parseConfigArgs(
  args: string[],
  extra: Record<string, { type: 'boolean' | 'string'; short?: string }> = {},
): ConfigArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, ...extra },
  });
  const file =
    (values.config as string | undefined) ?? positionals[0] ?? process.env.PORTICO_CONFIG ?? 'gateway.yaml';
  return { file, values: values as Record<string, string | boolean | undefined> };
}

/**
 * Compiles a config file exactly as `serve` would, without listening, hands the snapshot to `use`, then
 * closes what the build created. Prints every issue and returns 1 when the file is invalid.
 */
export async function withCompiledConfig(
  file: string,
  use: (snapshot: GatewaySnapshot) => void,
): Promise<number> {
  const resources = new ResourceRegistry();
  const result = buildSnapshotFromFile(file, {
    registry: policyRegistry,
    resources,
    env: process.env,
    accessLogger: undefined,
    eventLogger: undefined,
  });
  if (!result.ok) {
    process.stderr.write(formatIssues(result.issues) + '\n');
    return 1;
  }
  for (const i of result.issues) process.stderr.write(formatIssue(i) + '\n');
  try {
    use(result.snapshot);
  } finally {
    await resources.release(result.snapshot.resources, false);
  }
  return 0;
}
