// A consumer's roles and scopes travel upstream in identity headers: these pin that the consumers file
// refuses one holding a control character or text beyond Latin-1 when it loads (naming the file and the
// entry), rather than letting every request of that consumer fail later.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { loadConsumersFile } from './consumers.js';

function load(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'portico-consumers-'));
  try {
    writeFileSync(join(dir, 'consumers.yaml'), yaml);
    return loadConsumersFile('consumers.yaml', dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('loadConsumersFile: values that become identity headers', () => {
  it('accepts printable roles and scopes, Latin-1 and spaces included', () => {
    const [c] = load('- id: app\n  roles: [admin, "support team", "équipe"]\n  scopes: ["orders:read"]\n');
    assert.deepEqual(c!.roles, ['admin', 'support team', 'équipe']);
  });
  for (const [why, line, at] of [
    ['a role with CR LF', '  roles: ["ok", "evil\\r\\nX-Evil: 1"]', '/0/roles/1'],
    ['a role with NUL', '  roles: ["evil\\0"]', '/0/roles/0'],
    ['a scope with a tab', '  scopes: ["read\\twrite"]', '/0/scopes/0'],
    ['a token scope with DEL', '  token_scopes: ["read\\x7f"]', '/0/token_scopes/0'],
    ['a role beyond Latin-1', '  roles: ["管理者"]', '/0/roles/0'],
  ] as const)
    it(`refuses ${why}`, () =>
      assert.throws(
        () => load(`- id: app\n${line}\n`),
        (e) => e instanceof PolicyConfigError && e.message.includes(`consumers.yaml is invalid at ${at}`),
      ));
});
