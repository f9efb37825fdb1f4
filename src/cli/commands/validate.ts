// `portico validate FILE`: the same load → validate → compile as serve, without listening. Exit 1 on errors.
import { ResourceRegistry } from '../../compiler/carry-over.js';
import { buildSnapshotFromFile } from '../../compiler/compile-gateway.js';
import { formatIssue, formatIssues } from '../../config/config-issue.js';
import { policyRegistry } from '../../policies/registry.js';
import type { Command } from '../main.js';
import { parseConfigArgs } from './config-arg.js';

export const runValidate: Command = {
  summary: 'Check a config file: every error with file:line:column, exit 1 if any',
  usage: [
    'Usage: portico validate FILE',
    '',
    'Loads, validates and compiles FILE exactly as `serve` would, without opening any socket.',
    'Prints every error (file:line:column key.path: message) and exits 1 when there is one.',
  ].join('\n'),
  async run(args) {
    const { file } = parseConfigArgs(args);
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
    const n = result.snapshot.routes.length;
    process.stdout.write(`${file}: valid (${n} route${n === 1 ? '' : 's'})\n`);
    await resources.release(result.snapshot.resources, false);
    return 0;
  },
};
