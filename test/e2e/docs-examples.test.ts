// Every fenced `yaml` block of README.md and docs/*.md goes through what `portico validate` runs
// (withCompiledConfig: load → validate → compile, the same deps, nothing listening) and must pass — or, when
// the doc marks it invalid, fail. One test case per block, named by file:line of its opening fence.
//
// A block is a complete gateway.yaml unless the last non-blank line before its fence is a marker:
//
//   <!-- docs-test: route -->        the keys of one route: placed under `routes:`, with `name`, a path and
//                                    `upstream` added when it has none
//   <!-- docs-test: config -->       top-level sections of gateway.yaml: a route is added when it has no
//                                    `routes:`
//   <!-- docs-test: invalid -->      must fail validation (combines: `<!-- docs-test: route invalid -->`)
//   <!-- docs-test: not-portico -->  another tool's YAML (prometheus.yml, …): not checked
//
// (prettier keeps the comment and puts a blank line between it and the fence; GitHub does not render it.)
// A fragment may name things a complete file defines elsewhere — a named upstream, a JWT or forward-auth
// config: those, and only for fragments, get stubs. Files examples refer to (consumers.yaml, a key file)
// and the ${VARS} they use are provided below; a new one fails with validate's own message until added.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isMap, parseDocument, type Document } from 'yaml';
import { withCompiledConfig } from '../../src/cli/commands/config-arg.js';
import { REPO_ROOT, runCli } from '../fixtures/ops-child.js';

/** Values of the environment variables the examples use. */
const EXAMPLE_ENV: Record<string, string> = {
  JWT_SECRET: 'docs-example-secret-of-at-least-32-characters',
  REDIS_PASSWORD: 'docs-example-password',
  OTEL_TOKEN: 'docs-example-token',
  STRIPE_WEBHOOK_SECRET: 'whsec_docsexample',
  GITHUB_WEBHOOK_SECRET: 'docs-example-github-secret',
  PARTNER_SECRET: 'docs-example-partner-secret',
  ACME_WEBHOOK_SECRET: 'whsec_ZG9jcy1leGFtcGxlLWFjbWU=',
  GLOBEX_NEW_SECRET: 'whsec_ZG9jcy1leGFtcGxlLW5ldw==',
  GLOBEX_OLD_SECRET: 'whsec_ZG9jcy1leGFtcGxlLW9sZA==',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

/** Files the examples refer to, relative to the config file. */
const EXAMPLE_FILES: Record<string, string> = {
  'consumers.yaml': ['- id: docs-example', `  api_keys: ['sha256:${'0'.repeat(64)}']`, ''].join('\n'),
  'keys/token-2026-11.pem': generateKeyPairSync('ed25519')
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString(),
};

type Kind = 'complete' | 'config' | 'route' | 'not-portico';

interface Block {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly text: string;
  readonly kind: Kind;
  readonly invalid: boolean;
}

const MARKER = /^\s*<!--\s*docs-test:(.*?)-->\s*$/;
const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/;

function parseMarker(words: string, where: string): Pick<Block, 'kind' | 'invalid'> {
  const list = words.split(/[\s,]+/).filter((w) => w !== '');
  let kind: Kind = 'complete';
  let invalid = false;
  for (const w of list) {
    if (w === 'invalid') invalid = true;
    else if ((w === 'config' || w === 'route' || w === 'not-portico') && kind === 'complete') kind = w;
    else
      throw new Error(
        `${where}: docs-test marker "${words.trim()}": expected config | route | not-portico, and/or invalid`,
      );
  }
  if (list.length === 0) throw new Error(`${where}: empty docs-test marker`);
  if (kind === 'not-portico' && invalid)
    throw new Error(`${where}: not-portico blocks are not checked, so not invalid`);
  return { kind, invalid };
}

/** The yaml blocks of one markdown text, with their markers; throws on a marker that marks no yaml block. */
function extractBlocks(file: string, markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let pendingMarker: { words: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const marker = MARKER.exec(line);
    if (marker) {
      if (pendingMarker)
        throw new Error(`${file}:${pendingMarker.line}: docs-test marker before no yaml block`);
      pendingMarker = { words: marker[1]!, line: i + 1 };
      continue;
    }
    const open = FENCE_OPEN.exec(line);
    if (open === null) {
      if (line.trim() !== '' && pendingMarker)
        throw new Error(`${file}:${pendingMarker.line}: docs-test marker before no yaml block`);
      continue;
    }
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim().startsWith(fence[0]!.repeat(fence.length)) && l.trim().replace(/[`~]/g, '') === '') break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
    }
    const isYaml = lang === 'yaml' || lang === 'yml';
    if (pendingMarker && !isYaml)
      throw new Error(`${file}:${pendingMarker.line}: docs-test marker before a ${lang || 'plain'} block`);
    if (isYaml) {
      const where = `${file}:${i + 1}`;
      const marked = pendingMarker ? parseMarker(pendingMarker.words, where) : undefined;
      blocks.push({
        file,
        line: i + 1,
        text: body.join('\n') + '\n',
        kind: marked?.kind ?? 'complete',
        invalid: marked?.invalid ?? false,
      });
    }
    pendingMarker = undefined;
    i = j;
  }
  if (pendingMarker) throw new Error(`${file}:${pendingMarker.line}: docs-test marker before no yaml block`);
  return blocks;
}

const STUB_ROUTE = {
  name: 'docs-example',
  path: '/docs-example',
  upstream: 'http://docs-example.internal:8080',
};
const STUB_SECRET = 'docs-example-stub-secret-0123456789abcdef';
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** The auth method references of a route's (or defaults') `auth:` value. */
function authRefs(auth: unknown): string[] {
  if (typeof auth === 'string') return [auth];
  if (Array.isArray(auth)) return auth.filter((a): a is string => typeof a === 'string');
  if (auth !== null && typeof auth === 'object') return authRefs((auth as { methods?: unknown }).methods);
  return [];
}

/** Adds what a fragment refers to but does not define: named upstreams, JWT and forward-auth configs. */
function addStubs(doc: Document): void {
  const value = (doc.toJS() ?? {}) as {
    routes?: { upstream?: unknown; auth?: unknown }[];
    defaults?: { auth?: unknown };
    upstreams?: Record<string, unknown>;
    auth?: { jwt?: Record<string, unknown>; forward_auth?: Record<string, unknown> };
  };
  const routes = Array.isArray(value.routes) ? value.routes : [];
  for (const r of routes) {
    const up = r?.upstream;
    if (typeof up === 'string' && up !== '' && !URL_LIKE.test(up) && value.upstreams?.[up] === undefined)
      doc.setIn(['upstreams', up], doc.createNode({ targets: [{ url: `http://${up}.internal:8080` }] }));
  }
  for (const ref of [...routes.flatMap((r) => authRefs(r?.auth)), ...authRefs(value.defaults?.auth)]) {
    if (ref === 'jwt' || ref.startsWith('jwt:')) {
      const name = ref === 'jwt' ? 'default' : ref.slice(4);
      if (value.auth?.jwt?.[name] === undefined && !doc.hasIn(['auth', 'jwt', name]))
        doc.setIn(['auth', 'jwt', name], doc.createNode({ secret: STUB_SECRET }));
    } else if (ref.startsWith('forward_auth:')) {
      const name = ref.slice('forward_auth:'.length);
      if (value.auth?.forward_auth?.[name] === undefined && !doc.hasIn(['auth', 'forward_auth', name]))
        doc.setIn(['auth', 'forward_auth', name], doc.createNode({ url: 'http://auth.internal:9000/check' }));
    }
  }
}

/** The gateway.yaml a block stands for: the block itself, or the fragment completed as described above. */
function configText(block: Pick<Block, 'text' | 'kind'>): string {
  if (block.kind === 'complete' || block.kind === 'not-portico') return block.text;
  const fragment = parseDocument(block.text);
  // A fragment that is not a mapping (or not YAML at all) is checked as written: validate says what is wrong.
  if (fragment.errors.length > 0 || !isMap(fragment.contents)) return block.text;
  let doc: Document;
  if (block.kind === 'route') {
    if (!fragment.has('name')) fragment.set('name', STUB_ROUTE.name);
    if (!fragment.has('path') && !fragment.has('path_prefix') && !fragment.has('match'))
      fragment.set('path', STUB_ROUTE.path);
    if (!fragment.has('upstream')) fragment.set('upstream', STUB_ROUTE.upstream);
    doc = parseDocument('routes: []\n');
    doc.addIn(['routes'], fragment.contents);
  } else {
    doc = fragment;
    if (!doc.has('routes')) doc.set('routes', doc.createNode([STUB_ROUTE]));
  }
  addStubs(doc);
  return doc.toString({ lineWidth: 0 });
}

/** Runs what `portico validate FILE` runs and returns its exit code and what it printed on stderr. */
async function validate(file: string): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await withCompiledConfig(file, () => undefined);
    return { code, stderr };
  } finally {
    process.stderr.write = write;
  }
}

function numbered(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l, i) => `${String(i + 1).padStart(4)} | ${l}`)
    .join('\n');
}

function docFiles(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/** Every yaml block of the docs; problems with the markers themselves. */
function collect(): { blocks: Block[]; problems: string[] } {
  const problems: string[] = [];
  const blocks: Block[] = [];
  for (const file of docFiles()) {
    try {
      blocks.push(...extractBlocks(file, readFileSync(join(REPO_ROOT, file), 'utf8')));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { blocks, problems };
}

const KIND_LABEL: Record<Kind, string> = {
  complete: '',
  config: ' (config fragment)',
  route: ' (route fragment)',
  'not-portico': ' (not a Portico config)',
};

// withCompiledConfig reads process.env, as the CLI does: the examples' variables, and no override from the
// shell running the tests.
for (const k of ['GATEWAY_LOG_LEVEL', 'GATEWAY_TRACE_HEADER', 'GATEWAY_ACCESS_LOG_FIELDS'])
  delete process.env[k];
Object.assign(process.env, EXAMPLE_ENV);

const work = mkdtempSync(join(tmpdir(), 'portico-docs-'));
after(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

/** A fresh directory holding the example files and `gateway.yaml` with `text`; returns the config path. */
function writeConfig(text: string): string {
  const dir = join(work, String(++counter));
  for (const [name, content] of Object.entries(EXAMPLE_FILES)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, text);
  return file;
}

const { blocks, problems } = collect();

describe('docs: yaml examples pass `portico validate`', () => {
  it('every docs-test marker marks a yaml block', () => {
    assert.deepEqual(problems, []);
    assert.ok(blocks.length > 0, 'no yaml blocks found');
  });

  for (const block of blocks) {
    const name = `${block.file}:${block.line}${KIND_LABEL[block.kind]}${block.invalid ? ' must fail' : ''}`;
    const opts = block.kind === 'not-portico' ? { skip: 'not a Portico config' } : {};
    it(name, opts, async () => {
      const text = configText(block);
      const r = await validate(writeConfig(text));
      const shown = `validated as gateway.yaml:\n${numbered(text)}\n${r.stderr}`;
      if (block.invalid) assert.equal(r.code, 1, `expected validate to refuse it\n${shown}`);
      else {
        const hint =
          block.kind === 'complete'
            ? '\n(part of a config? put <!-- docs-test: route --> or <!-- docs-test: config --> before the fence)'
            : '';
        assert.equal(r.code, 0, `validate refused it${hint}\n${shown}`);
        assert.doesNotMatch(r.stderr, /warning/, `validate warned\n${shown}`);
      }
    });
  }
});

describe('docs-test markers', () => {
  const md = [
    'A route fragment:',
    '',
    '<!-- docs-test: route -->',
    '',
    '```yaml',
    'timeout_ms: 100',
    '```',
    '',
    '- in a list',
    '',
    '  <!-- docs-test: config invalid -->',
    '',
    '  ```yaml',
    '  gateway: { listen: nowhere }',
    '  ```',
    '',
    '```yaml',
    'routes: []',
    '```',
    '',
    '```sh',
    'echo not yaml',
    '```',
  ].join('\n');

  it('the marker on the last non-blank line before a fence applies to that block only', () => {
    const found = extractBlocks('x.md', md).map(({ line, kind, invalid, text }) => ({
      line,
      kind,
      invalid,
      text,
    }));
    assert.deepEqual(found, [
      { line: 5, kind: 'route', invalid: false, text: 'timeout_ms: 100\n' },
      { line: 13, kind: 'config', invalid: true, text: 'gateway: { listen: nowhere }\n' },
      { line: 17, kind: 'complete', invalid: false, text: 'routes: []\n' },
    ]);
  });

  it('a marker before something other than a yaml block, or with an unknown word, is an error', () => {
    assert.throws(
      () => extractBlocks('x.md', '<!-- docs-test: route -->\n\n```sh\nls\n```\n'),
      /x\.md:1: .*sh block/,
    );
    assert.throws(
      () => extractBlocks('x.md', '<!-- docs-test: route -->\n\ntext\n'),
      /x\.md:1: .*no yaml block/,
    );
    assert.throws(
      () => extractBlocks('x.md', '<!-- docs-test: rout -->\n```yaml\na: 1\n```\n'),
      /expected config/,
    );
  });

  it('a route fragment gets name, path and upstream only where it has none; named references get stubs', () => {
    const wrapped = parseDocument(
      configText({
        kind: 'route',
        text: 'upstream: orders\nauth: [jwt, forward_auth:sso]\nmatch: { path: /x }\n',
      }),
    ).toJS() as Record<string, unknown>;
    assert.deepEqual(wrapped, {
      routes: [
        {
          upstream: 'orders',
          auth: ['jwt', 'forward_auth:sso'],
          match: { path: '/x' },
          name: 'docs-example',
        },
      ],
      upstreams: { orders: { targets: [{ url: 'http://orders.internal:8080' }] } },
      auth: {
        jwt: { default: { secret: STUB_SECRET } },
        forward_auth: { sso: { url: 'http://auth.internal:9000/check' } },
      },
    });
  });

  it('a config fragment gets a route when it has none; a complete block is left as written', () => {
    const wrapped = parseDocument(
      configText({ kind: 'config', text: 'gateway: { log_level: warn }\n' }),
    ).toJS();
    assert.deepEqual(wrapped, { gateway: { log_level: 'warn' }, routes: [STUB_ROUTE] });
    assert.equal(configText({ kind: 'complete', text: 'gateway: {}\n' }), 'gateway: {}\n');
  });

  it('validate here agrees with the `portico validate` command', { timeout: 60_000 }, async () => {
    const good = writeConfig(configText({ kind: 'route', text: 'timeout_ms: 100\n' }));
    const bad = writeConfig(configText({ kind: 'route', text: 'timeout_ms: -1\n' }));
    assert.equal((await validate(good)).code, 0);
    assert.equal((await validate(bad)).code, 1);
    const [cliGood, cliBad] = await Promise.all([
      runCli(['validate', good], { env: EXAMPLE_ENV }),
      runCli(['validate', bad], { env: EXAMPLE_ENV }),
    ]);
    assert.equal(cliGood.code, 0, cliGood.stderr);
    assert.equal(cliBad.code, 1, cliBad.stderr);
  });
});
