// `auth.consumers_file` through the one build path (real files in a temp dir): the file is read once per
// load, however many routes use auth, and its problems are reported once each at their line:column in that
// file, with the messages `consumers:` gets; its content is part of the config hash; and a file changed
// while the config compiled is never taken for "unchanged" afterwards.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { formatIssue } from '../config/config-issue.js';
import { definePolicy, type AnyPolicyDefinition } from '../pipeline/policy.js';
import { policyRegistry } from '../policies/registry.js';
import { ResourceRegistry } from './carry-over.js';
import { type BuildResult, buildSnapshotFromFile } from './compile-gateway.js';
import { configHash, digestInputs } from './config-inputs.js';

const dir = mkdtempSync(join(tmpdir(), 'portico-consumers-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
writeFileSync(join(dir, 'token.pem'), KEY);

/** Writes gateway.yaml (and the other files) into a fresh sub-directory and builds it. */
async function build(
  files: Record<string, string>,
  registry: readonly AnyPolicyDefinition[] = policyRegistry,
): Promise<{ result: BuildResult; dir: string }> {
  const sub = mkdtempSync(join(dir, 'case-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(sub, name), text);
  const resources = new ResourceRegistry();
  const result = buildSnapshotFromFile(join(sub, 'gateway.yaml'), {
    registry,
    resources,
    env: {},
    accessLogger: undefined,
    eventLogger: undefined,
  });
  if (result.ok) await resources.release(result.snapshot.resources, false);
  return { result, dir: sub };
}

/** Every issue as validate prints it, with the temp directory cut off. */
function printed(r: { result: BuildResult; dir: string }): string[] {
  return r.result.issues.map((i) => formatIssue(i).replaceAll(r.dir + '/', ''));
}

const ROUTES = ['basic', 'basic', 'api_key', '[basic, api_key]', 'basic']
  .map((auth, i) => `  - { name: r${i}, path: /r${i}, upstream: "http://127.0.0.1:1", auth: ${auth} }`)
  .join('\n');

const GATEWAY = `auth:
  consumers_file: consumers.yaml
  token_endpoint:
    issuer: https://gateway.test
    keys: [{ kid: k1, private_key_file: ${join(dir, 'token.pem')} }]
routes:
${ROUTES}
`;

describe('auth.consumers_file: issues', () => {
  it('reports each problem once, at its line:column in the consumers file, with did-you-mean', async () => {
    const r = await build({
      'gateway.yaml': GATEWAY,
      'consumers.yaml': [
        '- id: good', // 1
        '  roles: [x]', // 2
        '- id: bad one', // 3
        '  rolez: [y]', // 4
        '  api_keys: [nope]', // 5
      ].join('\n'),
    });
    assert.equal(r.result.ok, false);
    assert.deepEqual(printed(r), [
      'consumers.yaml:3:7 [1].id: expected an id of letters, digits, _ . -, got "bad one"',
      'consumers.yaml:4:3 [1].rolez: unknown key "rolez" — did you mean "roles"?',
      'consumers.yaml:5:14 [1].api_keys[0]: expected a key hash "sha256:<64 hex digits>" (portico hash-key prints one), got "nope"',
    ]);
  });

  it('gives the same messages as `consumers:` in gateway.yaml', async () => {
    const entry = ['- id: app', '  rolez: [y]', '  password_hash: "scrypt$N=16384,r=8,p=1$abc"'];
    const inline = await build({
      'gateway.yaml': `consumers:\n${entry.map((l) => '  ' + l).join('\n')}\nroutes:\n${ROUTES}\n`,
    });
    const file = await build({
      'gateway.yaml': `auth: { consumers_file: consumers.yaml }\nroutes:\n${ROUTES}\n`,
      'consumers.yaml': entry.join('\n') + '\n',
    });
    const message = (lines: string[]) =>
      lines.map((l) => l.replace(/^\S+ (consumers)?\[0\]\.(\S+): /, '$2: '));
    assert.deepEqual(message(printed(inline)), ['rolez: unknown key "rolez" — did you mean "roles"?']);
    assert.deepEqual(message(printed(file)), message(printed(inline)));
  });

  it('reports a password hash that can never match at its line, in either file, once', async () => {
    const r = await build({
      'gateway.yaml': [
        'consumers:', // 1
        '  - id: inline', // 2
        "    password_hash: 'scrypt$N=16384,r=8,p=1$…'", // 3
        'auth: { consumers_file: consumers.yaml }', // 4
        'routes:',
        ROUTES,
      ].join('\n'),
      'consumers.yaml': ['- id: fromfile', '  password_hash: "$2b$31$' + 'a'.repeat(53) + '"'].join('\n'),
    });
    assert.deepEqual(printed(r), [
      'gateway.yaml:3:20 consumers[0].password_hash: a password hash that can never match: not a scrypt hash (scrypt$N=<n>,r=<r>,p=<p>$<salt>$<key>, base64url); portico hash-password prints one',
      'consumers.yaml:2:18 [0].password_hash: a password hash that can never match: bcrypt cost 31 is outside 4–16; portico hash-password prints one',
    ]);
  });

  it('reports an id in both files once, at the file entry', async () => {
    const r = await build({
      'gateway.yaml': `consumers: [{ id: same }]\nauth: { consumers_file: consumers.yaml }\nroutes:\n${ROUTES}\n`,
      'consumers.yaml': '- id: other\n- id: same\n',
    });
    assert.deepEqual(printed(r), [
      'consumers.yaml:2:7 [1].id: consumer "same" is declared twice (also consumers[0])',
    ]);
  });

  it('refuses roles and scopes that could not be identity headers, at their place in the file', async () => {
    for (const [line, at] of [
      ['  roles: ["ok", "evil\\r\\nX-Evil: 1"]', 'consumers.yaml:2:17 [0].roles[1]'],
      ['  roles: ["evil\\0"]', 'consumers.yaml:2:11 [0].roles[0]'],
      ['  scopes: ["read\\twrite"]', 'consumers.yaml:2:12 [0].scopes[0]'],
      ['  token_scopes: ["read\\x7f"]', 'consumers.yaml:2:18 [0].token_scopes[0]'],
      ['  roles: ["管理者"]', 'consumers.yaml:2:11 [0].roles[0]'],
    ] as const) {
      const r = await build({
        'gateway.yaml': `auth: { consumers_file: consumers.yaml }\nroutes:\n${ROUTES}\n`,
        'consumers.yaml': `- id: app\n${line}\n`,
      });
      const issues = printed(r);
      assert.equal(issues.length, 1, issues.join('\n'));
      assert.ok(issues[0]!.startsWith(at + ': expected a '), issues[0]);
      assert.match(issues[0]!, /without control characters/);
    }
  });

  it('an unreadable file is reported where gateway.yaml names it; a YAML error where it is', async () => {
    const missing = await build({
      'gateway.yaml': `auth:\n  consumers_file: nowhere.yaml\nroutes:\n${ROUTES}\n`,
    });
    assert.deepEqual(printed(missing), [
      'gateway.yaml:2:19 auth.consumers_file: cannot read nowhere.yaml: ENOENT',
    ]);
    assert.ok(
      !missing.result.ok && missing.result.inputs?.[0]?.endsWith('nowhere.yaml'),
      'watched until it exists',
    );
    const broken = await build({
      'gateway.yaml': `auth: { consumers_file: consumers.yaml }\nroutes:\n${ROUTES}\n`,
      'consumers.yaml': '- id: a\n  roles: [x\n',
    });
    assert.equal(printed(broken).length, 1);
    assert.match(printed(broken)[0]!, /^consumers\.yaml:\d+:\d+ \(root\): YAML: /);
  });

  it('an empty file has no consumers; its consumers are known to auth_required', async () => {
    const empty = await build({
      'gateway.yaml': `auth: { consumers_file: consumers.yaml }\nroutes:\n${ROUTES}\n`,
      'consumers.yaml': '# nobody yet\n',
    });
    assert.deepEqual(printed(empty), []);
    const required = await build({
      'gateway.yaml': `auth: { consumers_file: consumers.yaml }\nroutes:\n  - { name: r, path: /r, upstream: "http://127.0.0.1:1", auth_required: true }\n`,
      'consumers.yaml': `- id: app\n  api_keys: ["sha256:${'a'.repeat(64)}"]\n`,
    });
    assert.deepEqual(printed(required), []);
    assert.ok(required.result.ok && required.result.snapshot.routes[0]!.policyNames.includes('auth'));
  });
});

describe('auth.consumers_file: the config hash', () => {
  const gateway = `auth: { consumers_file: consumers.yaml }\nroutes:\n${ROUTES}\n`;
  const consumers = (id: string) => `- id: ${id}\n  api_keys: ["sha256:${'a'.repeat(64)}"]\n`;

  it('covers the file: same gateway.yaml, other consumers → another hash; no inputs → the text hash', async () => {
    const one = await build({ 'gateway.yaml': gateway, 'consumers.yaml': consumers('one') });
    const two = await build({ 'gateway.yaml': gateway, 'consumers.yaml': consumers('two') });
    assert.ok(one.result.ok && two.result.ok);
    assert.notEqual(one.result.snapshot.hash, two.result.snapshot.hash);
    assert.equal(one.result.snapshot.hash, configHash(gateway, one.result.snapshot.inputsDigest));
    assert.deepEqual(one.result.snapshot.inputs, [join(one.dir, 'consumers.yaml')]);
    const plain = `routes:\n  - { name: r, path: /r, upstream: "http://127.0.0.1:1" }\n`;
    const none = await build({ 'gateway.yaml': plain });
    assert.ok(none.result.ok);
    assert.equal(none.result.snapshot.hash, createHash('sha256').update(plain).digest('hex'));
  });

  it('is taken from the content the build read, so a change during the build is seen afterwards', async () => {
    // A section whose check reads its file, then the file changes before the build finishes (as an editor
    // saving while a reload compiles): the snapshot must not record the new content as what it serves.
    let path = '';
    const probe = definePolicy({
      name: 'probe',
      phase: 'receive',
      summary: 'test',
      schema: Type.Object({}),
      create: () => ({}),
      sections: { probe: Type.Object({ file: Type.String() }, { default: { file: 'probe.yaml' } }) },
      checkSections(ctx) {
        const section = ctx.section('probe') as { file: string };
        const loaded = ctx.loadFile(section.file, ['probe', 'file'], Type.Array(Type.String()));
        assert.deepEqual(loaded?.value, ['read']);
        path = join(ctx.baseDir, section.file);
        writeFileSync(path, '- written after\n');
        return undefined;
      },
    }) as unknown as AnyPolicyDefinition;
    const r = await build({ 'gateway.yaml': 'routes: []\n', 'probe.yaml': '- read\n' }, [
      ...policyRegistry,
      probe,
    ]);
    assert.ok(r.result.ok, printed(r).join('\n'));
    const snap = r.result.snapshot;
    assert.deepEqual(snap.inputs, [path]);
    assert.notEqual(digestInputs(snap.inputs), snap.inputsDigest, 'the file differs from what was served');
    assert.notEqual(
      configHash('routes: []\n', digestInputs(snap.inputs)),
      snap.hash,
      'a reload is not "unchanged"',
    );
  });
});
