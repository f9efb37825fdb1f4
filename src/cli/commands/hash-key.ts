// `portico hash-key`: the `api_keys` entry of a consumer. Makes a new key (shown once, for the client) and
// its hash (for the config), or hashes a key the operator already has.
import { parseArgs } from 'node:util';
import type { Command } from '../main.js';
import { generateApiKey, hashApiKey } from '../../policies/auth/passwords.js';
import { readStdinSecret } from './hash-password.js';

export const runHashKey: Command = {
  summary: 'Make an API key and its hash for api_keys (or hash an existing key)',
  usage: [
    'Usage: portico hash-key [KEY | --stdin]',
    '',
    'Without KEY: makes a new random key and prints both lines:',
    '  key:  pk_…         give this to the client; it is not stored anywhere and not shown again',
    "  hash: sha256:…     put this in the consumer's api_keys",
    'With KEY, or the key on stdin (--stdin, one trailing newline removed): prints only its hash.',
    '',
    'Options:',
    '  --stdin   Read the key from stdin, so it stays out of the shell history',
  ].join('\n'),
  async run(args) {
    let parsed: { values: { stdin?: boolean }; positionals: string[] };
    try {
      parsed = parseArgs({ args, allowPositionals: true, options: { stdin: { type: 'boolean' } } });
    } catch (err) {
      return usageError((err as Error).message);
    }
    const { values, positionals } = parsed;
    if (positionals.length > 1) return usageError('give at most one KEY');
    if (values.stdin && positionals.length > 0) return usageError('give KEY or --stdin, not both');

    let key = positionals[0];
    if (values.stdin) {
      try {
        key = await readStdinSecret();
      } catch (err) {
        return usageError((err as Error).message);
      }
    }
    if (key !== undefined) {
      if (key === '') return usageError('the key is empty');
      process.stdout.write(hashApiKey(key) + '\n');
      return 0;
    }
    const generated = generateApiKey();
    process.stdout.write(`key:  ${generated}\nhash: ${hashApiKey(generated)}\n`);
    process.stderr.write(
      "Give the key to the client (it is not shown again); put the hash in the consumer's api_keys.\n",
    );
    return 0;
  },
};

function usageError(message: string): number {
  process.stderr.write(`portico hash-key: ${message}\n`);
  return 2;
}
