// `portico hash-password`: the `password_hash` of a consumer for HTTP Basic. The password is read from stdin
// or typed at a prompt that does not echo, so it never appears in the shell history or the process list.
import { parseArgs } from 'node:util';
import type { Command } from '../main.js';
import { hashPassword } from '../../policies/auth/passwords.js';

/** Most bytes read from stdin for a secret: anything longer is a mistake (a file piped by accident). */
const MAX_SECRET_BYTES = 64 * 1024;

export const runHashPassword: Command = {
  summary: 'Hash a password for a consumer (password_hash, HTTP Basic)',
  usage: [
    'Usage: portico hash-password [--bcrypt] [--cost N] < password.txt',
    '',
    'Reads the password from stdin (one trailing newline is removed) or, in a terminal, asks for it',
    'twice without echo. Prints a hash for `password_hash:` in a consumer:',
    '  scrypt$N=16384,r=8,p=1$<salt>$<hash>   (default; scrypt, about 30 ms to verify)',
    '  $2b$10$…                               (--bcrypt; for tools that expect bcrypt)',
    '',
    'Options:',
    '  --bcrypt   Make a bcrypt hash (passwords of at most 72 bytes)',
    '  --cost N   Work factor: log2(N) for scrypt (default 14), rounds for bcrypt (default 10)',
    '',
    'Example: printf %s "$PASSWORD" | portico hash-password',
  ].join('\n'),
  async run(args) {
    let values: { bcrypt?: boolean; cost?: string };
    try {
      ({ values } = parseArgs({
        args,
        options: { bcrypt: { type: 'boolean' }, cost: { type: 'string' } },
      }));
    } catch (err) {
      return usageError((err as Error).message);
    }
    const cost = values.cost === undefined ? undefined : Number(values.cost);
    if (cost !== undefined && !Number.isInteger(cost)) return usageError(`--cost must be an integer`);

    let password: string;
    try {
      password = process.stdin.isTTY ? await promptTwice() : await readStdinSecret();
    } catch (err) {
      if (err instanceof PromptCancelled) return 130;
      return usageError((err as Error).message);
    }
    if (password === '') return usageError('the password is empty');
    try {
      const hash = await hashPassword(password, { algorithm: values.bcrypt ? 'bcrypt' : 'scrypt', cost });
      process.stdout.write(hash + '\n');
    } catch (err) {
      if (err instanceof RangeError) return usageError(err.message);
      throw err;
    }
    return 0;
  },
};

function usageError(message: string): number {
  process.stderr.write(`portico hash-password: ${message}\n`);
  return 2;
}

/** All of stdin as UTF-8, without one trailing newline (what `echo` and most editors add). */
export async function readStdinSecret(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SECRET_BYTES) throw new Error(`stdin holds more than ${MAX_SECRET_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Ctrl-C or Ctrl-D at the prompt. */
class PromptCancelled extends Error {}

async function promptTwice(): Promise<string> {
  const first = await promptHidden('Password: ');
  const second = await promptHidden('Repeat password: ');
  if (first !== second) throw new Error('the passwords do not match');
  return first;
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Raw mode first: anything typed before the prompt appears must not be echoed either.
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (cancelled: boolean): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (cancelled) reject(new PromptCancelled('cancelled'));
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(false);
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(true);
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
