// `portico validate FILE`: the same load → validate → compile as serve, without listening. Exit 1 on errors.
import type { Command } from '../main.js';
import { parseConfigArgs, withCompiledConfig } from './config-arg.js';

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
    return withCompiledConfig(file, (snapshot) => {
      const n = snapshot.routes.length;
      process.stdout.write(`${file}: valid (${n} route${n === 1 ? '' : 's'})\n`);
    });
  },
};
