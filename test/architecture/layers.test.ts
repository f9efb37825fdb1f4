// The dependency rules of the architecture are enforced by `npm run check` (eslint .): each rule of
// scripts/eslint/layers.js is shown to fail lint on a planted violation, and the allowed imports to pass.
// Planted files are linted from memory (lintText) at paths under src/; nothing is written to disk.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import { LAYERS, REPO_ROOT } from '../../scripts/eslint/layers.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const eslint = new ESLint({ cwd: repoRoot });
const RULE = 'portico/layers';

async function lint(file: string, code: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, file) });
  assert.ok(result, `no lint result for ${file}`);
  const fatal = result.messages.filter((m) => m.fatal === true);
  assert.deepEqual(fatal, [], `${file} must parse`);
  return result.messages;
}

async function layerErrors(file: string, code: string): Promise<Linter.LintMessage[]> {
  return (await lint(file, code)).filter((m) => m.ruleId === RULE);
}

async function assertViolation(file: string, code: string, message: RegExp): Promise<void> {
  const errors = await layerErrors(file, code);
  assert.equal(errors.length, 1, `${file}: expected one ${RULE} error, got ${JSON.stringify(errors)}`);
  assert.equal(errors[0]?.severity, 2, 'an error, not a warning');
  assert.match(errors[0]?.message ?? '', message);
}

async function assertAllowed(file: string, code: string): Promise<void> {
  const errors = await layerErrors(file, code);
  assert.deepEqual(
    errors.map((m) => m.message),
    [],
    `${file}: expected no ${RULE} error`,
  );
}

describe('architecture: the layer rule (portico/layers)', () => {
  it('resolves paths against the same repository root as this test', () => {
    assert.equal(REPO_ROOT, repoRoot);
  });

  it('places every folder of src/ in the layer table', () => {
    const folders = readdirSync(join(repoRoot, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    assert.deepEqual(
      folders.filter((f) => !LAYERS.includes(f)),
      [],
    );
  });

  describe('planted violations fail lint', () => {
    const violations: [name: string, file: string, code: string, message: RegExp][] = [
      [
        'a policy importing another policy folder',
        'src/policies/cache/planted.ts',
        "import { auth } from '../auth/index.js';\nexport const x = auth;\n",
        /src\/policies\/cache\/ may not import another policy folder: '\.\.\/auth\/index\.js' is policies\/auth\//,
      ],
      [
        'a policy importing observability/',
        'src/policies/cache/planted.ts',
        "import { createLogger } from '../../observability/logger.js';\nexport const x = createLogger;\n",
        /src\/policies\/cache\/ may import only pipeline\/, problems\/, lib\/, version\.ts and its own folder: '\.\.\/\.\.\/observability\/logger\.js' is observability\//,
      ],
      [
        'a policy importing proxy/ from a subfolder',
        'src/policies/rate-limit/store/planted.ts',
        "import { forward } from '../../../proxy/forward.js';\nexport const x = forward;\n",
        /src\/policies\/rate-limit\/ may import only .* is proxy\//,
      ],
      [
        'a policy importing config/',
        'src/policies/auth/planted.ts',
        "import { schema } from '../../config/schema.js';\nexport const x = schema;\n",
        /may import only .* is config\//,
      ],
      [
        'a policy importing http/',
        'src/policies/transform/planted.ts',
        "import { startServer } from '../../http/server.js';\nexport const x = startServer;\n",
        /may import only .* is http\//,
      ],
      [
        'a policy importing router/',
        'src/policies/require/planted.ts',
        "import { Router } from '../../router/router.js';\nexport const x = Router;\n",
        /may import only .* is router\//,
      ],
      [
        'a policy importing src/policies/registry.ts',
        'src/policies/fallback/planted.ts',
        "import { policyRegistry } from '../registry.js';\nexport const x = policyRegistry;\n",
        /src\/policies\/fallback\/ may not import src\/policies\/registry\.ts/,
      ],
      [
        'registry.ts reaching past a policy folder index.ts',
        'src/policies/registry.ts',
        "import { memoryStore } from './cache/store/memory.js';\nexport const x = memoryStore;\n",
        /src\/policies\/registry\.ts reaches a policy folder only through its index\.ts: '\.\/cache\/store\/memory\.js'/,
      ],
      [
        'config/ importing policies/',
        'src/config/planted.ts',
        "import { policyRegistry } from '../policies/registry.js';\nexport const x = policyRegistry;\n",
        /config\/ never imports src\/policies\/ \(it receives the registry as a parameter\)/,
      ],
      [
        'compiler/ importing the internals of a policy',
        'src/compiler/planted.ts',
        "import { memoryStore } from '../policies/cache/store/memory.js';\nexport const x = memoryStore;\n",
        /compiler\/ never imports src\/policies\/ .* is policies\/cache\//,
      ],
      [
        'compiler/ importing the registry',
        'src/compiler/planted.ts',
        "import { policyRegistry } from '../policies/registry.js';\nexport const x = policyRegistry;\n",
        /compiler\/ never imports src\/policies\//,
      ],
      [
        'pipeline/ importing http/ (upward)',
        'src/pipeline/planted.ts',
        "import { startServer } from '../http/server.js';\nexport const x = startServer;\n",
        /pipeline\/ \(layer 11\) may not import http\/ \(layer 10\): '\.\.\/http\/server\.js'\. Imports run down the layers/,
      ],
      [
        'lib/ importing pipeline/',
        'src/lib/planted.ts',
        "import { Exchange } from '../pipeline/exchange.js';\nexport const x = Exchange;\n",
        /lib\/ imports nothing of src\/ outside lib\/: '\.\.\/pipeline\/exchange\.js' is pipeline\//,
      ],
      [
        'lib/ importing version.ts (lib imports nothing of src/ outside lib)',
        'src/lib/planted.ts',
        "import { porticoVersion } from '../version.js';\nexport const x = porticoVersion;\n",
        /lib\/ imports nothing of src\/ outside lib\/: '\.\.\/version\.js' is src\/version\.ts/,
      ],
      [
        'http/ importing runtime/ (upward)',
        'src/http/planted.ts',
        "import { startGateway } from '../runtime/gateway.js';\nexport const x = startGateway;\n",
        /http\/ \(layer 10\) may not import runtime\/ \(layer 4\)/,
      ],
      [
        'runtime/ importing cli/',
        'src/runtime/planted.ts',
        "import { main } from '../cli/main.js';\nexport const x = main;\n",
        /nothing imports cli\/ except cli\/ itself: '\.\.\/cli\/main\.js' from runtime\//,
      ],
      [
        'admin/ importing cli/',
        'src/admin/planted.ts',
        "import '../cli/commands/serve.js';\n",
        /nothing imports cli\/ except cli\/ itself/,
      ],
      [
        'runtime/ importing admin/',
        'src/runtime/planted.ts',
        "import { startAdmin } from '../admin/admin-server.js';\nexport const x = startAdmin;\n",
        /only cli\/ and process\/ import admin\/: '\.\.\/admin\/admin-server\.js' from runtime\//,
      ],
      [
        'a type-only upward import',
        'src/router/planted.ts',
        "import type { Exchange } from '../pipeline/exchange.js';\nexport type X = Exchange;\n",
        /router\/ \(layer 13\) may not import pipeline\/ \(layer 11\): '\.\.\/pipeline\/exchange\.js' \(type-only imports count too\)/,
      ],
      [
        'an inline type-only upward import',
        'src/problems/planted.ts',
        "import { type Exchange } from '../pipeline/exchange.js';\nexport type X = Exchange;\n",
        /problems\/ \(layer 12\) may not import pipeline\/ \(layer 11\)/,
      ],
      [
        'an import() type going upward',
        'src/pipeline/planted.ts',
        "export type G = typeof import('../runtime/gateway.js');\n",
        /pipeline\/ \(layer 11\) may not import runtime\/ \(layer 4\): '\.\.\/runtime\/gateway\.js' \(type-only/,
      ],
      [
        'a dynamic import going upward',
        'src/proxy/planted.ts',
        "export async function load(): Promise<unknown> {\n  return import('../runtime/gateway.js');\n}\n",
        /proxy\/ \(layer 8\) may not import runtime\/ \(layer 4\)/,
      ],
      [
        'a dynamic import of another policy folder',
        'src/policies/headers/planted.ts',
        'export const load = (): Promise<unknown> => import(`../cache/index.js`);\n',
        /src\/policies\/headers\/ may not import another policy folder/,
      ],
      [
        'an export … from going upward',
        'src/problems/planted.ts',
        "export { runPipeline } from '../pipeline/run-pipeline.js';\n",
        /problems\/ \(layer 12\) may not import pipeline\/ \(layer 11\)/,
      ],
      [
        'an export * from going upward',
        'src/router/planted.ts',
        "export * from '../http/server.js';\n",
        /router\/ \(layer 13\) may not import http\/ \(layer 10\)/,
      ],
      [
        'an export type … from going upward',
        'src/observability/planted.ts',
        "export type { Gateway } from '../runtime/gateway.js';\n",
        /observability\/ \(layer 7\) may not import runtime\/ \(layer 4\).*type-only/,
      ],
      [
        'a side-effect import going upward',
        'src/config/planted.ts',
        "import '../compiler/compile-gateway.js';\n",
        /config\/ \(layer 9\) may not import compiler\/ \(layer 5\)/,
      ],
      [
        'an import of a folder that is in no layer',
        'src/http/planted.ts',
        "import { x } from '../stores/memory.js';\nexport const y = x;\n",
        /'\.\.\/stores\/memory\.js' is src\/stores\/memory\.ts, which is in no layer/,
      ],
      [
        'a file in a folder that is in no layer',
        'src/stores/planted.ts',
        "import { x } from '../lib/host.js';\nexport const y = x;\n",
        /stores\/ is in no layer/,
      ],
      [
        'version.ts importing src/',
        'src/version.ts',
        "import { x } from './lib/host.js';\nexport const y = x;\n",
        /src\/version\.ts is a leaf/,
      ],
    ];
    for (const [name, file, code, message] of violations) {
      it(name, () => assertViolation(file, code, message));
    }

    it('every layer may not import the layer above it', async () => {
      for (let i = 1; i < LAYERS.length; i++) {
        const [above, layer] = [LAYERS[i - 1], LAYERS[i]];
        const errors = await layerErrors(
          `src/${layer}/planted.ts`,
          `import { x } from '../${above}/planted.js';\nexport const y = x;\n`,
        );
        assert.equal(errors.length, 1, `${layer}/ importing ${above}/ must fail lint`);
      }
    });
  });

  describe('allowed imports pass', () => {
    const allowed: [name: string, file: string, code: string][] = [
      [
        'a policy importing its own folder',
        'src/policies/cache/planted.ts',
        "import { a } from './semantics/index.js';\nimport { b } from './store/memory.js';\nexport const x = [a, b];\n",
      ],
      [
        'a policy subfolder importing the rest of its folder',
        'src/policies/cache/semantics/planted.ts',
        "import { a } from '../store/memory.js';\nimport { b } from '../index.js';\nexport const x = [a, b];\n",
      ],
      [
        'a policy importing pipeline/, problems/, lib/ and version.ts',
        'src/policies/auth/jwt/planted.ts',
        [
          "import type { Exchange } from '../../../pipeline/exchange.js';",
          "import { problem } from '../../../problems/problem.js';",
          "import { host } from '../../../lib/host.js';",
          "import { porticoVersion } from '../../../version.js';",
          'export const x: [Exchange | null, unknown, unknown, unknown] = [null, problem, host, porticoVersion];',
          '',
        ].join('\n'),
      ],
      [
        "registry.ts importing each policy's index.ts and pipeline/",
        'src/policies/registry.ts',
        [
          "import type { AnyPolicyDefinition } from '../pipeline/policy.js';",
          "import { auth } from './auth/index.js';",
          "import { cache } from './cache/index.js';",
          'export const registry: readonly AnyPolicyDefinition[] = [auth, cache];',
          '',
        ].join('\n'),
      ],
      [
        'compiler/ importing config/ and the layers below',
        'src/compiler/planted.ts',
        "import { schema } from '../config/schema.js';\nimport { Router } from '../router/router.js';\nexport const x = [schema, Router];\n",
      ],
      [
        'cli/ importing admin/, runtime/ and the registry',
        'src/cli/commands/planted.ts',
        "import { a } from '../../admin/admin-server.js';\nimport { b } from '../../runtime/gateway.js';\nimport { c } from '../../policies/registry.js';\nexport const x = [a, b, c];\n",
      ],
      [
        'admin/ importing runtime/',
        'src/admin/planted.ts',
        "import { a } from '../runtime/gateway.js';\nexport const x = a;\n",
      ],
      [
        'anyone importing version.ts',
        'src/pipeline/planted.ts',
        "import { porticoVersion } from '../version.js';\nexport const x = porticoVersion;\n",
      ],
      [
        'lib/ importing lib/ and packages',
        'src/lib/planted.ts',
        "import { request } from 'undici';\nimport { readFileSync } from 'node:fs';\nimport { host } from './host.js';\nexport const x = [request, readFileSync, host];\n",
      ],
      [
        'a test file importing anything',
        'src/policies/cache/planted.test.ts',
        [
          "import { auth } from '../auth/index.js';",
          "import { policyRegistry } from '../registry.js';",
          "import { main } from '../../cli/main.js';",
          "import { startAdmin } from '../../admin/admin-server.js';",
          "import { startGateway } from '../../runtime/gateway.js';",
          'export const x = [auth, policyRegistry, main, startAdmin, startGateway];',
          '',
        ].join('\n'),
      ],
      [
        'test support (testing.ts) importing anything',
        'src/pipeline/testing.ts',
        "import { startServer } from '../http/server.js';\nimport { main } from '../cli/main.js';\nexport const x = [startServer, main];\n",
      ],
      [
        'a file outside src/ importing src/',
        'test/architecture/planted.ts',
        "import { main } from '../../src/cli/main.js';\nimport { auth } from '../../src/policies/auth/index.js';\nexport const x = [main, auth];\n",
      ],
    ];
    for (const [name, file, code] of allowed) {
      it(name, () => assertAllowed(file, code));
    }

    it('every layer may import its own layer', async () => {
      for (const layer of LAYERS) {
        await assertAllowed(
          `src/${layer}/planted.ts`,
          `import { x } from './other.js';\nexport const y = x;\n`,
        );
      }
    });
  });
});

describe('architecture: file size (max-lines 400)', () => {
  const lines = (n: number): string =>
    Array.from({ length: n }, (_, i) => `export const v${i} = ${i};`).join('\n') + '\n';
  const maxLines = async (file: string, code: string): Promise<Linter.LintMessage[]> =>
    (await lint(file, code)).filter((m) => m.ruleId === 'max-lines');

  it('fails a 401-line file under src/', async () => {
    const errors = await maxLines('src/lib/planted.ts', lines(401));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.severity, 2);
    assert.match(errors[0]?.message ?? '', /too many lines \(401\)\. Maximum allowed is 400/);
  });

  it('counts blank lines and comments', async () => {
    const code = lines(200) + '\n'.repeat(100) + '// a comment\n'.repeat(101);
    assert.equal((await maxLines('src/pipeline/planted.ts', code)).length, 1);
  });

  it('passes a 400-line file under src/', async () => {
    assert.deepEqual(await maxLines('src/lib/planted.ts', lines(400)), []);
  });

  it('does not apply to *.test.ts or testing.ts', async () => {
    assert.deepEqual(await maxLines('src/lib/planted.test.ts', lines(401)), []);
    assert.deepEqual(await maxLines('src/pipeline/testing.ts', lines(401)), []);
  });
});
