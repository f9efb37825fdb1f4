// Shared option parsing for commands that take a config file (positional or -c/--config).
import { parseArgs } from 'node:util';

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
