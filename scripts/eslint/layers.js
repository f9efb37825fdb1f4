// The dependency rules of the architecture (docs/architecture.md), as one local ESLint rule: `portico/layers`.
// This file is the single place that holds the layer table; eslint.config.js registers the plugin, and
// test/architecture/layers.test.ts plants one violation per rule to prove lint fails on it.
//
// What is checked: every import of a file under src/ by a non-test file under src/ —
//   import … from '…' (type-only too), export … from '…', import('…') with a literal, import('…') types.
// Relative specifiers are resolved against the importing file; bare specifiers (packages, node:) are ignored.
import { dirname, isAbsolute, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file lives in <root>/scripts/eslint/. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The layers of src/, top to bottom (layer n is LAYERS[n - 1]). A file may import only from its own layer or
 * from layers below it; type-only imports count too.
 */
export const LAYERS = Object.freeze([
  'cli',
  'process',
  'admin',
  'runtime',
  'compiler',
  'policies',
  'observability',
  'proxy',
  'config',
  'http',
  'pipeline',
  'problems',
  'router',
  'lib',
]);

/** Files directly in src/ that anyone may import; they import nothing of src/ themselves. */
export const LEAVES = Object.freeze(['version.ts']);

/** What a policy folder src/policies/<name>/ may import, besides its own folder and the leaves. */
export const POLICY_FOLDER_MAY_IMPORT = Object.freeze(['pipeline', 'problems', 'lib']);

/** Layers that never import anything under src/policies/ (they receive the registry as a parameter). */
export const NEVER_IMPORT_POLICIES = Object.freeze(['config', 'compiler']);

/** Test files and test support under src/, which the rules do not apply to (tests may import anything). */
export function isTestFile(repoPath) {
  const base = posix.basename(repoPath);
  return /\.test\.[cm]?tsx?$/.test(base) || /^testing\.[cm]?tsx?$/.test(base);
}

const TS_EXTENSION = { '.js': '.ts', '.mjs': '.mts', '.cjs': '.cts', '.jsx': '.tsx' };

function toPosix(p) {
  return sep === '/' ? p : p.split(sep).join('/');
}

/**
 * Where a repository path (posix, relative to the root; `.js` already mapped to `.ts`) sits in the
 * architecture: null when outside src/; otherwise { path, layer, index, policy, rest, leaf, unknown }.
 *  - layer: the folder under src/ ('policies', …) or null for a file directly in src/;
 *  - index: 1-based layer number, or 0 when the folder is not in LAYERS;
 *  - policy: for src/policies/<name>/…, the name; rest: the path inside that folder ('index.ts', …);
 *  - leaf: a file of LEAVES; unknown: neither a layer nor a leaf.
 */
export function classify(path) {
  if (!path.startsWith('src/')) return null;
  const parts = path.slice('src/'.length).split('/');
  if (parts.length === 1) {
    const leaf = LEAVES.includes(parts[0]);
    return { path, layer: null, index: 0, policy: null, rest: null, leaf, unknown: !leaf };
  }
  const layer = parts[0];
  const index = LAYERS.indexOf(layer) + 1;
  const inPolicyFolder = layer === 'policies' && parts.length > 2;
  return {
    path,
    layer,
    index,
    policy: inPolicyFolder ? parts[1] : null,
    rest: inPolicyFolder ? parts.slice(2).join('/') : null,
    leaf: false,
    unknown: index === 0,
  };
}

/** The repository path a relative specifier names, from the importing file's repository path. */
export function resolveSpecifier(importerPath, specifier) {
  const joined = posix.normalize(posix.join(posix.dirname(importerPath), specifier));
  const ext = posix.extname(joined);
  return TS_EXTENSION[ext] ? joined.slice(0, -ext.length) + TS_EXTENSION[ext] : joined;
}

function where(target) {
  if (target.leaf || target.unknown) return target.path;
  if (target.policy) return `policies/${target.policy}/`;
  if (target.layer === 'policies') return target.path.slice('src/'.length);
  return `${target.layer}/`;
}

function layerName(c) {
  return `${c.layer}/ (layer ${c.index})`;
}

/**
 * The broken rule for importing `target` from `importer` (both from classify), as [messageId, data], or
 * null when the import is allowed.
 */
export function check(importer, target) {
  const data = { from: importer.layer ? `${importer.layer}/` : importer.path, to: where(target) };
  if (target.unknown) return ['unknownTarget', data];
  if (importer.leaf) return ['leaf', data];
  if (importer.unknown) return ['unknownImporter', data];

  // Policy folders: only pipeline/, problems/, lib/, the leaves and their own folder.
  if (importer.policy) {
    data.from = `src/policies/${importer.policy}/`;
    if (target.policy === importer.policy) return null;
    if (target.layer === 'policies') {
      if (target.policy) return ['policyToPolicy', data];
      if (target.path === 'src/policies/registry.ts') return ['policyToRegistry', data];
      return ['policyOnly', data];
    }
    if (target.leaf || POLICY_FOLDER_MAY_IMPORT.includes(target.layer)) return null;
    return ['policyOnly', data];
  }
  // src/policies/registry.ts (and any other file directly in policies/) reaches policies through index.ts.
  if (importer.layer === 'policies' && target.policy && target.rest !== 'index.ts') {
    return ['registryIndexOnly', { ...data, from: importer.path }];
  }
  if (NEVER_IMPORT_POLICIES.includes(importer.layer) && target.layer === 'policies') {
    return ['neverPolicies', data];
  }
  if (importer.layer === 'lib' && target.layer !== 'lib') return ['lib', data];
  if (target.leaf) return null;
  if (target.layer === 'cli' && importer.layer !== 'cli') return ['cli', data];
  if (target.layer === 'admin' && !['cli', 'process', 'admin'].includes(importer.layer)) {
    return ['admin', data];
  }
  if (target.index < importer.index) {
    return ['upward', { ...data, from: layerName(importer), to: layerName(target) }];
  }
  return null;
}

const SEE = 'the layer table is in scripts/eslint/layers.js (docs/architecture.md)';

const messages = {
  upward: `{{from}} may not import {{to}}: '{{specifier}}'{{typeOnly}}. Imports run down the layers; ${SEE}.`,
  policyOnly: `{{from}} may import only ${POLICY_FOLDER_MAY_IMPORT.map((l) => `${l}/`).join(', ')}, ${LEAVES.join(', ')} and its own folder: '{{specifier}}' is {{to}}{{typeOnly}}.`,
  policyToPolicy: `{{from}} may not import another policy folder: '{{specifier}}' is {{to}}{{typeOnly}}. Share code through lib/ or pipeline/.`,
  policyToRegistry: `{{from}} may not import src/policies/registry.ts ('{{specifier}}'{{typeOnly}}): the registry imports the policies, never the reverse.`,
  registryIndexOnly: `{{from}} reaches a policy folder only through its index.ts: '{{specifier}}' is {{to}}{{typeOnly}}.`,
  neverPolicies: `{{from}} never imports src/policies/ (it receives the registry as a parameter): '{{specifier}}' is {{to}}{{typeOnly}}.`,
  cli: `nothing imports cli/ except cli/ itself: '{{specifier}}' from {{from}}{{typeOnly}}.`,
  admin: `only cli/ and process/ import admin/: '{{specifier}}' from {{from}}{{typeOnly}}.`,
  lib: `lib/ imports nothing of src/ outside lib/: '{{specifier}}' is {{to}}{{typeOnly}}.`,
  leaf: `{{from}} is a leaf that anyone may import, so it imports nothing of src/: '{{specifier}}'{{typeOnly}}.`,
  unknownTarget: `'{{specifier}}' is {{to}}, which is in no layer: add its folder to LAYERS in scripts/eslint/layers.js (and docs/architecture.md).`,
  unknownImporter: `{{from}} is in no layer: add its folder to LAYERS in scripts/eslint/layers.js (and docs/architecture.md).`,
};

function repoPathOf(filename, cwd) {
  for (const root of [REPO_ROOT, cwd]) {
    if (!root) continue;
    const rel = relative(root, filename);
    if (rel && !rel.startsWith('..') && !isAbsolute(rel)) {
      const path = toPosix(rel);
      if (path.startsWith('src/')) return path;
    }
  }
  return null;
}

function literalSource(node) {
  if (!node) return null;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0].value.cooked;
  if (node.type === 'TSLiteralType') return literalSource(node.literal);
  return null;
}

const layers = {
  meta: {
    type: 'problem',
    docs: {
      description:
        'Enforce the dependency rules between the folders of src/ (layers, policy isolation, cli/admin at the top).',
    },
    schema: [],
    messages,
  },
  create(context) {
    const filename = context.physicalFilename ?? context.filename;
    const importerPath = repoPathOf(filename, context.cwd);
    if (importerPath === null || isTestFile(importerPath)) return {};
    const importer = classify(importerPath);

    function inspect(node, sourceNode, typeOnly) {
      const specifier = literalSource(sourceNode);
      if (specifier === null || !(specifier.startsWith('./') || specifier.startsWith('../'))) return;
      const target = classify(resolveSpecifier(importerPath, specifier));
      if (target === null) return;
      const broken = check(importer, target);
      if (broken === null) return;
      const [messageId, data] = broken;
      context.report({
        node: sourceNode,
        messageId,
        data: { ...data, specifier, typeOnly: typeOnly ? ' (type-only imports count too)' : '' },
      });
    }

    return {
      ImportDeclaration(node) {
        const typeOnly =
          node.importKind === 'type' ||
          (node.specifiers.length > 0 && node.specifiers.every((s) => s.importKind === 'type'));
        inspect(node, node.source, typeOnly);
      },
      ExportNamedDeclaration(node) {
        if (node.source) inspect(node, node.source, node.exportKind === 'type');
      },
      ExportAllDeclaration(node) {
        inspect(node, node.source, node.exportKind === 'type');
      },
      ImportExpression(node) {
        inspect(node, node.source, false);
      },
      TSImportType(node) {
        inspect(node, node.source ?? node.argument, true);
      },
      TSExternalModuleReference(node) {
        inspect(node, node.expression, false);
      },
    };
  },
};

const plugin = {
  meta: { name: 'portico' },
  rules: { layers },
};

export default plugin;
