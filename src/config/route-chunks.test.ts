// The route items of a config parsed one by one must be exactly the whole document's parse (value, issues,
// every key path's line:column), and an item whose text did not change comes back as the very same object.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NEVER_DUE, runSteps } from '../lib/steps.js';
import type { ConfigPath } from './config-issue.js';
import { type Env, type LoadedSource, parseConfigText } from './load-config.js';
import { parseConfigSteps, RouteItemMemo } from './route-chunks.js';

function parse(text: string, memo = new RouteItemMemo(), env: Env = {}): LoadedSource {
  return runSteps(parseConfigSteps(text, 'gateway.yaml', env, memo, NEVER_DUE));
}

function routesOf(source: LoadedSource): unknown[] {
  return (source.value as { routes: unknown[] }).routes;
}

/** Every key path of a parsed value, containers included. */
function pathsOf(value: unknown, at: ConfigPath = []): ConfigPath[] {
  const out: ConfigPath[] = [at];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...at, i])));
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...at, k]));
  return out;
}

/** The parse in items says what the parse in one piece says: value, issues, and where every key is. */
function assertSameAsWhole(text: string, env: Env = {}): void {
  const whole = parseConfigText(text, 'gateway.yaml', env);
  const items = parse(text, new RouteItemMemo(), env);
  assert.deepEqual(items.value, whole.value);
  assert.deepEqual(items.issues.issues, whole.issues.issues);
  for (const path of [...pathsOf(whole.value), ['routes', 99, 'name'], ['nowhere']])
    for (const at of ['key', 'value'] as const)
      assert.deepEqual(items.locate(path, at), whole.locate(path, at), `${at} of ${path.join('.')}`);
}

const TYPICAL = [
  '# the gateway',
  'gateway:',
  '  listen: "127.0.0.1:0"',
  'upstreams:',
  '  svc: { targets: [{ url: "http://127.0.0.1:9" }] }',
  'routes:   # every route',
  '',
  '  # the first',
  '  - name: a',
  '    path: /a',
  '    upstream: svc',
  '    headers:',
  '      request: { set: { X-A: "1" } }',
  '',
  '# a comment at the margin, inside the list',
  '  - name: b',
  '    path_prefix: /b',
  '    upstream: "${UPSTREAM:-http://127.0.0.1:9}"',
  '    match:',
  '      methods:',
  '        - GET',
  '        - POST',
  '    transform:',
  '      request:',
  '        body: |',
  '          {"a": 1,',
  '           "b": 2}',
  '  -',
  '    name: c',
  "    path: '/c'",
  '    upstream: svc',
  'consumers:',
  '  - id: x',
  '    api_keys: ["k"]',
  '',
].join('\n');

describe('route items parsed alone', () => {
  const shapes: Record<string, string> = {
    'a typical config': TYPICAL,
    'items at the margin': 'routes:\n- name: a\n  path: /a\n- name: b\n  path: /b\nversion: 1\n',
    'CRLF line ends': TYPICAL.replaceAll('\n', '\r\n'),
    'routes last, no final newline': 'version: 1\nroutes:\n  - name: a\n    path: /a',
    'a document end marker after the list': 'routes:\n  - name: a\n...\n',
    'aliases (parsed whole)': 'defaults: &d { timeout_ms: 5 }\nroutes:\n  - name: a\n    <<: *d\n',
    'a list in flow style (parsed whole)': 'routes: [{ name: a }, { name: b }]\n',
    'a tab (parsed whole)': 'routes:\n  - name: a\n\tpath: /a\n',
    'bad indentation in an item': 'routes:\n  - name: a\n     path: /a\n  - name: b\n',
    'a duplicate key in an item': 'routes:\n  - name: a\n    name: b\n',
    'two routes keys': 'routes:\n  - name: a\nversion: 1\nroutes:\n  - name: b\n',
    'an item less indented than the first': 'routes:\n  - name: a\n - name: b\n',
    'a key under the list': 'routes:\n  - name: a\n  path: /a\n',
    'no list under the key': 'routes:\nversion: 1\n',
    'a quoted string across lines': 'routes:\n  - name: a\n    path: "/a\n      /b"\n  - name: b\n',
    'a routes line inside a string': 'x: "abc\nroutes:\n  - name: a\n  "\n',
    'an unset variable': 'routes:\n  - name: a\n    upstream: ${NOPE}\n',
    'a multi-line flow mapping': 'routes:\n  - { name: a,\n      path: /a }\n  - name: b\n',
    'an alias-like star on a comment line': 'routes:\n  # * a note\n  - name: a\n    path: /a/*\n',
    'an anchor used within one item': 'routes:\n  - name: a\n    path: &p /a\n    x: *p\n',
  };
  for (const [name, text] of Object.entries(shapes))
    it(`${name}: the same value, issues and positions as the whole document`, () =>
      assertSameAsWhole(text, { UPSTREAM: 'http://127.0.0.1:7' }));

  it('random configs (indentation, styles, comments, scalars, mistakes): always as the whole document', () => {
    let seed = 17;
    const pick = <T>(xs: readonly T[]): T => xs[(seed = (seed * 48271) % 2147483647) % xs.length]!;
    const values = [
      '/a',
      '"/q x"',
      "'/s'",
      '/a/*',
      '&p /anchored',
      '{ x: 1 }',
      '[GET, POST]',
      '|\n        block\n        text',
      '>-\n        folded',
      '"multi\n        line"',
      '${VAR}',
      '${NOPE:-dflt}',
    ];
    for (let n = 0; n < 300; n++) {
      const indent = pick(['', '  ', '    ']);
      const lines = [
        pick(['', '# head', 'version: 1', 'gateway: { listen: ":8080" }']),
        pick(['routes:', 'routes:  # r']),
      ];
      const count = 1 + Math.floor(pick([0, 1, 2, 3, 4, 5, 6, 7]));
      for (let i = 0; i < count; i++) {
        lines.push(pick(['', `${indent}# route ${i}`, '# margin']));
        if (pick([true, false])) lines.push(`${indent}- { name: r${i}, path: /r${i} }`);
        else {
          lines.push(`${indent}- name: r${i}`, `${indent}  path: ${pick(values)}`);
          if (pick([true, false]))
            lines.push(`${indent}  match:`, `${indent}    methods:`, `${indent}      - GET`);
          if (pick([false, false, false, true]))
            lines.push(
              pick([`${indent} bad: 1`, `${indent}\tx: 1`, `${indent}  name: dup`, `${indent}  y: *nope`]),
            );
        }
      }
      lines.push(pick(['', 'upstreams: {}', '...', 'consumers:\n  - id: c']));
      assertSameAsWhole(lines.join(pick(['\n', '\r\n'])), { VAR: 'from-env' });
    }
  });

  it('an unchanged item comes back as the very same object; an edited one is new', () => {
    const memo = new RouteItemMemo();
    const first = routesOf(parse(TYPICAL, memo));
    const again = routesOf(parse(TYPICAL, memo));
    assert.equal(again.length, 3);
    again.forEach((r, i) => assert.equal(r, first[i], `route ${i}`));
    const edited = routesOf(parse(TYPICAL.replace('path: /a', 'path: /a2'), memo));
    assert.notEqual(edited[0], first[0]);
    assert.equal((edited[0] as { path: string }).path, '/a2');
    assert.equal(edited[1], first[1]);
    assert.equal(edited[2], first[2]);
  });

  it('an item moved by lines inserted above is still the same object, and is located where it is now', () => {
    const memo = new RouteItemMemo();
    const first = routesOf(parse(TYPICAL, memo));
    const text = TYPICAL.replace('routes:   # every route\n', 'routes:\n  - name: z\n    path: /z\n\n');
    const moved = parse(text, memo);
    const routes = routesOf(moved);
    assert.deepEqual(routes.slice(1), first);
    routes.slice(1).forEach((r, i) => assert.equal(r, first[i]));
    assert.deepEqual(
      moved.locate(['routes', 3, 'path']),
      parseConfigText(text, 'g', {}).locate(['routes', 3, 'path']),
    );
  });

  it('an item naming an environment variable is new when the variable changed', () => {
    const memo = new RouteItemMemo();
    const first = routesOf(parse(TYPICAL, memo, { UPSTREAM: 'http://127.0.0.1:7' }));
    const same = routesOf(parse(TYPICAL, memo, { UPSTREAM: 'http://127.0.0.1:7' }));
    const changed = routesOf(parse(TYPICAL, memo, { UPSTREAM: 'http://127.0.0.1:8' }));
    assert.equal(same[1], first[1]);
    assert.notEqual(changed[1], first[1]);
    assert.equal((changed[1] as { upstream: string }).upstream, 'http://127.0.0.1:8');
    assert.equal(changed[0], first[0]);
  });

  it('a config parsed whole (aliases) still gives unchanged routes back as the same objects', () => {
    const memo = new RouteItemMemo();
    const text = (path: string) =>
      `defaults: &d { timeout_ms: 5 }\nroutes:\n  - name: a\n    path: ${path}\n  - name: b\n    path: /b\n    x: *d\n`;
    const first = routesOf(parse(text('/a'), memo));
    const second = routesOf(parse(text('/a2'), memo));
    assert.notEqual(second[0], first[0]);
    assert.equal(second[1], first[1]);
  });

  it('yields between items when the slice is due', () => {
    const text = [
      'routes:',
      ...Array.from({ length: 50 }, (_, i) => `  - { name: r${i}, path: /r${i} }`),
    ].join('\n');
    const steps = parseConfigSteps(text, 'gateway.yaml', {}, new RouteItemMemo(), () => true);
    let yields = 0;
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) yields++;
    assert.ok(yields >= 50, `${yields} yields`);
    assert.equal(routesOf(r.value).length, 50);
  });
});
