// `portico hash-key` and `portico hash-password` as a child process: what they print must be exactly what the
// gateway accepts (the SHA-256 of the key, a password hash verifyPassword matches), and secrets can come in
// on stdin so they stay out of the shell history.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { CHILD_START_MS, CLI_SUITE_TIMEOUT_MS, REPO_ROOT, runCli } from '../fixtures/ops-child.js';
import { verifyPassword } from '../../src/policies/auth/passwords.js';

const sha256 = (s: string) => 'sha256:' + createHash('sha256').update(s, 'utf8').digest('hex');
const KEY_HASH = /^sha256:[0-9a-f]{64}$/;

/** Runs `portico ARGS` with `input` on its stdin (a pipe, not a terminal). */
function runWithStdin(
  args: readonly string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_START_MS);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('portico hash-key', { concurrency: 4, timeout: CLI_SUITE_TIMEOUT_MS }, () => {
  it('hash-key KEY prints sha256:<hex> of the key and nothing else', async () => {
    const key = 'pk_an-existing-key';
    const r = await runCli(['hash-key', key]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, sha256(key) + '\n');
    assert.equal(r.stderr, '');
  });

  it('without KEY, makes a new key and prints it and its hash, labelled', async () => {
    const r = await runCli(['hash-key']);
    assert.equal(r.code, 0, r.stderr);
    const m = /^key: {2}(pk_[A-Za-z0-9_-]{43})\nhash: (sha256:[0-9a-f]{64})\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[2], sha256(m[1]!));
    assert.match(r.stderr, /give the key to the client/i);
    const again = await runCli(['hash-key']);
    assert.notEqual(again.stdout, r.stdout, 'every run makes a new key');
  });

  it('--stdin reads the key from stdin, without its trailing newline', async () => {
    for (const input of ['pk_from-stdin\n', 'pk_from-stdin\r\n', 'pk_from-stdin']) {
      const r = await runWithStdin(['hash-key', '--stdin'], input);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, sha256('pk_from-stdin') + '\n', JSON.stringify(input));
      assert.match(r.stdout.trimEnd(), KEY_HASH);
    }
  });

  const usage: readonly (readonly [string[], string, RegExp])[] = [
    [['hash-key', '--stdin', 'k'], '', /not both/],
    [['hash-key', 'a', 'b'], '', /at most one/],
    [['hash-key', '--stdin'], '\n', /empty/],
    [['hash-key', '--frobnicate'], '', /frobnicate/],
  ];
  for (const [args, input, message] of usage) {
    it(`${args.join(' ')} → exit 2 with a message`, async () => {
      const r = await runWithStdin(args, input);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
    });
  }

  it('--help prints the usage', async () => {
    const r = await runCli(['hash-key', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: portico hash-key/);
  });
});

describe('portico hash-password', { concurrency: 4, timeout: CLI_SUITE_TIMEOUT_MS }, () => {
  it('reads the password from stdin and prints a scrypt hash that verifies', async () => {
    const r = await runWithStdin(['hash-password'], 'correct horse battery\n');
    assert.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trimEnd();
    assert.match(r.stdout, /^scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+\n$/);
    assert.equal(await verifyPassword('correct horse battery', hash), true);
    assert.equal(
      await verifyPassword('correct horse battery\n', hash),
      false,
      'the newline is not part of it',
    );
  });

  it('--bcrypt prints a bcrypt hash that verifies; --cost sets its rounds', async () => {
    const r = await runWithStdin(['hash-password', '--bcrypt', '--cost', '6'], 'pässwörd');
    assert.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trimEnd();
    assert.match(hash, /^\$2b\$06\$[./A-Za-z0-9]{53}$/);
    assert.equal(await verifyPassword('pässwörd', hash), true);
  });

  it('--cost sets scrypt N = 2^cost', async () => {
    const r = await runWithStdin(['hash-password', '--cost', '12'], 'pw');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^scrypt\$N=4096,r=8,p=1\$/);
    assert.equal(await verifyPassword('pw', r.stdout.trimEnd()), true);
  });

  const refused: readonly (readonly [string[], string, RegExp])[] = [
    [['hash-password'], '', /empty/],
    [['hash-password'], '\n', /empty/],
    [['hash-password', '--bcrypt'], 'x'.repeat(73), /72 bytes/],
    [['hash-password', '--cost', 'lots'], 'pw', /integer/],
    [['hash-password', '--cost', '40'], 'pw', /cost/],
    [['hash-password', '--bcrypt', '--cost', '2'], 'pw', /cost/],
  ];
  for (const [args, input, message] of refused) {
    it(`${args.join(' ')} with ${JSON.stringify(input.slice(0, 8))} → exit 2 with a message`, async () => {
      const r = await runWithStdin(args, input);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
    });
  }

  it('both commands are listed in portico --help', async () => {
    const r = await runCli(['--help']);
    assert.match(r.stdout, /^ {2}hash-key +\S/m);
    assert.match(r.stdout, /^ {2}hash-password +\S/m);
  });
});
