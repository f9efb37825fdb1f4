// Reading gateway.yaml is where a typo or a missing env var first shows up: these pin YAML error positions, ${VAR} interpolation (and that it can never inject structure) and the key-path → line:column locator.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Env, parseConfigText, TEMPLATE_NAMES } from './load-config.js';
import { TEMPLATE_SOURCES } from '../policies/transform/template/compile-template.js';

function load(text: string, env: Env = {}) {
  return parseConfigText(text, 'gateway.yaml', env);
}

/** [line, column, message] of every issue. */
function positions(text: string, env: Env = {}): [number, number, string][] {
  return load(text, env).issues.issues.map((i) => [i.line, i.column, i.message]);
}

describe('parseConfigText: YAML errors', () => {
  const cases: readonly (readonly [
    name: string,
    text: string,
    line: number,
    column: number,
    message: RegExp,
  ])[] = [
    ['bad indentation', 'routes:\n  - name: a\n     path: /a\n', 2, 11, /Nested mappings/],
    ['unclosed flow sequence', 'a: [1, 2\nb: 3\n', 2, 1, /Flow sequence/],
    ['tab indentation', 'a:\n\tb: 1\n', 2, 1, /Tabs are not allowed/],
    ['duplicate key at the top', 'routes: []\nversion: 1\nroutes: []\n', 3, 1, /Map keys must be unique/],
    ['duplicate key in a route', 'routes:\n  - name: a\n    name: b\n', 3, 5, /Map keys must be unique/],
    ['unknown alias', 'a: 1\nb:\n  c: *nope\n', 3, 6, /unknown alias \*nope/],
    ['alias before its anchor', 'a: *x\nb: &x 1\n', 1, 4, /unknown alias \*x/],
  ];
  for (const [name, text, line, column, message] of cases) {
    it(`${name} is an error at ${line}:${column}, and there is no value`, () => {
      const source = load(text);
      const first = source.issues.issues[0];
      assert.ok(first, 'an issue');
      assert.equal(first.severity, 'error');
      assert.deepEqual([first.line, first.column], [line, column]);
      assert.match(first.message, /^YAML: /);
      assert.match(first.message, message);
      assert.equal(source.value, undefined);
    });
  }

  it('refuses an alias bomb instead of expanding it', () => {
    const x10 = (ref: string) => `[${Array.from({ length: 10 }, () => ref).join(', ')}]`;
    const text = [
      `a: &a ${x10('"x"')}`,
      `b: &b ${x10('*a')}`,
      `c: &c ${x10('*b')}`,
      `d: &d ${x10('*c')}`,
      `e: ${x10('*d')}`,
    ].join('\n');
    const source = load(text);
    assert.equal(source.value, undefined);
    assert.match(source.issues.issues[0]?.message ?? '', /alias/i);
  });

  it('resolves aliases to anchors written before them', () => {
    const source = load('a: &shared { x: 1 }\nb: *shared\n');
    assert.deepEqual(source.issues.issues, []);
    assert.deepEqual(source.value, { a: { x: 1 }, b: { x: 1 } });
  });
});

describe('parseConfigText: ${VAR} interpolation', () => {
  const cases: readonly (readonly [name: string, yaml: string, env: Env, expected: unknown])[] = [
    ['a set variable', 'a: ${HOST}', { HOST: 'orders.internal' }, 'orders.internal'],
    ['inside a longer value', 'a: http://${HOST}:8080/x', { HOST: 'orders' }, 'http://orders:8080/x'],
    ['several in one value', 'a: ${A}-${B}', { A: '1', B: '2' }, '1-2'],
    ['a default when unset', 'a: ${NOPE:-fallback}', {}, 'fallback'],
    ['a default when empty', 'a: ${EMPTY:-fallback}', { EMPTY: '' }, 'fallback'],
    ['an empty default', 'a: x${NOPE:-}y', {}, 'xy'],
    ['the variable over its default', 'a: ${SET:-fallback}', { SET: 'value' }, 'value'],
    ['an unquoted whole value holding a number becomes a number', 'a: ${MAX}', { MAX: '1024' }, 1024],
    ['a default number as well', 'a: ${NOPE:-5000}', {}, 5000],
    ['an unquoted whole value holding true becomes a boolean', 'a: ${FLAG}', { FLAG: 'true' }, true],
    ['a quoted whole value stays a string', 'a: "${MAX}"', { MAX: '1024' }, '1024'],
    ['a single-quoted one too', "a: '${MAX}'", { MAX: '1024' }, '1024'],
    ['a number inside a longer value stays a string', 'a: ${MAX}0', { MAX: '1' }, '10'],
    ['$${X} is a literal ${X}', 'a: $${X}', { X: 'never' }, '${X}'],
    ['a template source stays for the policy', 'a: "id ${trace_id}"', { trace_id: 'env' }, 'id ${trace_id}'],
    ['a whole template source too, unquoted', 'a: ${route}', { route: 'env' }, '${route}'],
    [
      'dotted template sources never match',
      'a: ${consumer.id}-${header.X-A}',
      {},
      '${consumer.id}-${header.X-A}',
    ],
    ['beside an environment variable', 'a: ${HOST}/${path}', { HOST: 'h' }, 'h/${path}'],
    ['$${X} next to a real variable', 'a: $${X}/${Y}', { Y: 'y' }, '${X}/y'],
    ['a value with ": " stays a string', 'a: ${V}', { V: 'evil: true' }, 'evil: true'],
    ['a value with newlines and "- " stays a string', 'a: ${V}', { V: 'x\n- y\nz: 1' }, 'x\n- y\nz: 1'],
    ['a flow-looking value stays a string', 'a: ${V}', { V: '[1, 2]' }, '[1, 2]'],
    ['a mapping-looking value stays a string', 'a: ${V}', { V: '{ admin: true }' }, '{ admin: true }'],
    ['a comment-only value stays a string', 'a: ${V}', { V: '# hi' }, '# hi'],
    ['an anchor-looking value stays a string', 'a: ${V}', { V: '*x' }, '*x'],
  ];
  for (const [name, yaml, env, expected] of cases) {
    it(name, () => {
      const source = load(yaml + '\n', env);
      assert.deepEqual(source.issues.issues, []);
      assert.deepEqual(source.value, { a: expected });
    });
  }

  it('never interpolates keys', () => {
    assert.deepEqual(load('${K}: 1\n', { K: 'x' }).value, { '${K}': 1 });
  });

  it('reports an unset variable without default by name, with its line, column and key path', () => {
    const text =
      'gateway:\n  listen: ":8080"\nroutes:\n  - name: a\n    upstream: http://${UPSTREAM_HOST}:80\n';
    const source = load(text);
    assert.equal(source.value, undefined);
    assert.equal(source.issues.issues.length, 1);
    const issue = source.issues.issues[0]!;
    assert.deepEqual([issue.line, issue.column, issue.path], [5, 15, ['routes', 0, 'upstream']]);
    assert.match(issue.message, /environment variable UPSTREAM_HOST is not set/);
    assert.match(issue.message, /\$\{UPSTREAM_HOST:-default\}/);
  });

  it('reports every unset variable at once', () => {
    const text = 'a: ${ONE}\nb:\n  - x\n  - ${TWO}\nc: ${SET}\n';
    assert.deepEqual(
      load(text, { SET: 'ok' }).issues.issues.map((i) => [i.line, i.column, i.path]),
      [
        [1, 4, ['a']],
        [4, 5, ['b', 1]],
      ],
    );
  });

  it('refuses an empty variable without default, saying it is empty (not that it is unset)', () => {
    const [issue] = positions('a: ${EMPTY}\n', { EMPTY: '' });
    assert.match(issue?.[2] ?? '', /^environment variable EMPTY is empty \(write \$\{EMPTY:-default\}/);
    assert.match(positions('a: ${UNSET}\n')[0]?.[2] ?? '', /^environment variable UNSET is not set/);
  });
});

describe('parseConfigText: locate', () => {
  const text = [
    'gateway:', // 1
    '  listen: ":8080"', // 2
    'routes:', // 3
    '  - name: a', // 4
    '    upstream: http://a:1', // 5
    '    match:', // 6
    '      path: /a', // 7
  ].join('\n');
  const source = load(text);
  const cases: readonly (readonly [
    path: readonly (string | number)[],
    at: 'key' | 'value',
    line: number,
    column: number,
  ])[] = [
    [['gateway', 'listen'], 'value', 2, 11],
    [['gateway', 'listen'], 'key', 2, 3],
    [['routes', 0, 'upstream'], 'value', 5, 15],
    [['routes', 0, 'upstream'], 'key', 5, 5],
    [['routes', 0, 'match', 'path'], 'value', 7, 13],
    [['routes', 0], 'value', 4, 5],
    [['routes', 0, 'missing'], 'key', 4, 5],
    [['routes', 3], 'value', 4, 3],
    [[], 'value', 1, 1],
  ];
  for (const [path, at, line, column] of cases) {
    it(`${JSON.stringify(path)} (${at}) is at ${line}:${column}`, () => {
      assert.deepEqual(source.locate(path, at), { line, column });
    });
  }
});

describe('parseConfigText: template names', () => {
  it('leaves exactly the undotted sources of policy templates alone', () => {
    const undotted = TEMPLATE_SOURCES.split(', ').filter((s) => !s.includes('.'));
    assert.deepEqual([...TEMPLATE_NAMES].sort(), undotted.sort());
  });
});
