#!/usr/bin/env node
// The `portico` command line: serve, validate, routes, demo. Each command has --help.
import { runServe } from './commands/serve.js';
import { runValidate } from './commands/validate.js';
import { runRoutes } from './commands/routes.js';
import { runDemo } from './commands/demo.js';
import { runHashKey } from './commands/hash-key.js';
import { runHashPassword } from './commands/hash-password.js';
import { porticoVersion as version } from '../version.js';

export interface Command {
  readonly summary: string;
  readonly usage: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  serve: runServe,
  validate: runValidate,
  routes: runRoutes,
  demo: runDemo,
  'hash-key': runHashKey,
  'hash-password': runHashPassword,
};

function mainHelp(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    'Portico — an API gateway configured by one reviewed YAML file.',
    '',
    'Usage: portico <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     Show help (also: portico <command> --help)',
    '  -v, --version  Print the version',
    '',
    'Docs: README.md and docs/ in the repository.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const target = first === 'help' ? rest[0] : undefined;
    const cmd = target !== undefined ? commands[target] : undefined;
    process.stdout.write((cmd ? cmd.usage : mainHelp()) + '\n');
    return first === undefined ? 1 : 0;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(`portico ${version()}\n`);
    return 0;
  }
  const cmd = commands[first];
  if (!cmd) {
    process.stderr.write(`portico: unknown command "${first}"\n\n${mainHelp()}\n`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(cmd.usage + '\n');
    return 0;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`portico: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
