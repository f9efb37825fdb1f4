// Properties of the path the gateway judges and forwards, over generated hostile paths (fast-check): the
// route chosen for a request is the route its forwarded path would get, canonicalization is idempotent, and
// no forwarded path climbs out of its route's prefix — not even for a backend that decodes every escape,
// reads "\" as "/" and drops ";" parameters before resolving dot segments.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isPathRefusal, normalizePath, type PathEscapes } from '../lib/normalize-path.js';
import { routePath, type ReroutableRequest } from './route-path.js';
import { Router, type RouteSpec } from './router.js';

interface TestRoute {
  readonly name: string;
  readonly prefix: string;
  readonly pathEscapes: PathEscapes;
}

const ROUTES: readonly TestRoute[] = [
  { name: 'catch-all', prefix: '/', pathEscapes: 'reject' },
  { name: 'admin', prefix: '/admin', pathEscapes: 'reject' },
  { name: 'api', prefix: '/api', pathEscapes: 'reject' },
  { name: 'api-internal', prefix: '/api/internal', pathEscapes: 'reject' },
  { name: 'keep', prefix: '/keep', pathEscapes: 'keep' },
  { name: 'decode', prefix: '/decode', pathEscapes: 'decode' },
  { name: 'decode-private', prefix: '/decode/private', pathEscapes: 'decode' },
];

const router = new Router<TestRoute>(
  ROUTES.map((r): RouteSpec<TestRoute> => ({
    value: r,
    name: r.name,
    kind: 'prefix',
    path: r.prefix,
    priority: 0,
    methods: undefined,
    hosts: undefined,
    headers: [],
    query: [],
  })),
);

type Decision =
  | { readonly kind: 'routed'; readonly route: TestRoute; readonly forwarded: string }
  | { readonly kind: 'refused' | 'not-found' };

/** What the server does with a request target's path: the same steps, in the same order. */
function judge(rawPath: string): Decision {
  const canonical = normalizePath(rawPath);
  if (isPathRefusal(canonical)) return { kind: 'refused' };
  const req: ReroutableRequest = {
    method: 'GET',
    host: 'gateway.test',
    path: canonical,
    query: '',
    header: () => undefined,
  };
  const m = routePath(req, router);
  if (isPathRefusal(m)) return { kind: 'refused' };
  if (m.kind !== 'found') return { kind: 'not-found' };
  return { kind: 'routed', route: m.value, forwarded: req.path };
}

/**
 * The most permissive backend reading: every escape decoded (repeatedly, as double-decoding stacks do),
 * "\" read as "/", ";" parameters dropped from each segment, then dot segments resolved.
 */
function backendReading(path: string): string {
  let p = path;
  for (let i = 0; i < 3 && /%[0-9A-Fa-f]{2}/.test(p); i++) {
    try {
      p = decodeURIComponent(p.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'));
    } catch {
      p = unescape(p);
    }
  }
  const out: string[] = [];
  for (const raw of p.replaceAll('\\', '/').split('/')) {
    const seg = raw.split(';')[0]!;
    if (seg === '..') out.pop();
    else if (seg !== '.' && seg !== '') out.push(seg);
  }
  return '/' + out.join('/');
}

const underPrefix = (path: string, prefix: string): boolean =>
  prefix === '/' || path === prefix || path.startsWith(prefix + '/');

/** Segments an attacker would try, plus arbitrary printable text. */
const segment = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'admin',
      'api',
      'internal',
      'keep',
      'decode',
      'private',
      'x',
      '.',
      '..',
      '%2e',
      '%2E%2e',
      '.%2e',
      '..;',
      '.;x',
      '..;jsessionid=1',
      '%2e%2e;',
      '..%3b',
      '...',
      'a;b=1',
      '%2f',
      '%2F..',
      '..%2F',
      '..%2f..%2fadmin',
      '%5c',
      '..%5C',
      '\\..',
      '..\\',
      '%252e%252e',
      '%25',
      '%41',
      '%7e',
      '%00',
      '%',
      '%zz',
      '#',
      '',
      '~',
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9.;%\\~_-]{0,6}$/) },
);
const separator = fc.constantFrom('/', '/', '/', '//', '%2F', '%2f', '%5C', '\\', '/./', '/../');
const hostilePath = fc
  .tuple(fc.array(fc.tuple(segment, separator), { maxLength: 8 }), segment)
  .map(([parts, last]) => '/' + parts.map(([s, sep]) => s + sep).join('') + last);

const RUNS = 20_000;

describe('path properties (generated hostile paths)', () => {
  it('canonicalization is idempotent and leaves no dot segment, "//" or raw "\\"', () => {
    fc.assert(
      fc.property(hostilePath, (raw) => {
        const once = normalizePath(raw);
        if (isPathRefusal(once)) return;
        assert.equal(normalizePath(once), once, `not idempotent for ${raw}`);
        assert.ok(!once.includes('\\'), `raw backslash in ${once}`);
        assert.ok(!once.includes('//'), `"//" in ${once}`);
        assert.ok(!/\/\.\.?(\/|$)/.test(once), `dot segment in ${once}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('the route chosen for a request is the route its forwarded path gets, and forwarding it again changes nothing', () => {
    fc.assert(
      fc.property(hostilePath, (raw) => {
        const first = judge(raw);
        if (first.kind !== 'routed') return;
        const again = judge(first.forwarded);
        assert.equal(again.kind, 'routed', `${raw} → ${first.forwarded} is not routed again`);
        if (again.kind !== 'routed') return;
        assert.equal(again.route.name, first.route.name, `${raw} → ${first.forwarded}`);
        assert.equal(again.forwarded, first.forwarded);
      }),
      { numRuns: RUNS },
    );
  });

  it('no forwarded path climbs above its route prefix, even as a decoding backend reads it', () => {
    fc.assert(
      fc.property(hostilePath, (raw) => {
        const d = judge(raw);
        if (d.kind !== 'routed') return;
        assert.ok(underPrefix(d.forwarded, d.route.prefix), `${raw} → ${d.forwarded} (${d.route.name})`);
        // `keep` hands escaped separators to the backend as data: that is its documented contract.
        if (d.route.pathEscapes === 'keep') return;
        const seen = backendReading(d.forwarded);
        assert.ok(
          underPrefix(seen, d.route.prefix),
          `${raw} → ${d.forwarded}, which a decoding backend reads as ${seen}, outside ${d.route.prefix}`,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('a backend that decodes everything and drops ";" parameters routes the forwarded path to the same route', () => {
    fc.assert(
      fc.property(hostilePath, (raw) => {
        const d = judge(raw);
        if (d.kind !== 'routed' || d.route.pathEscapes === 'keep') return;
        const seen = judge(backendReading(d.forwarded));
        if (seen.kind !== 'routed') return;
        assert.equal(
          seen.route.name,
          d.route.name,
          `${raw} → ${d.forwarded}, read as ${backendReading(d.forwarded)}`,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('finds the known bypasses when they are not guarded (the generator reaches them)', () => {
    // A guard against a generator too weak to matter: these must be among what it produces and refuses.
    for (const raw of [
      '/api/..%2fadmin',
      '/api/..;/admin',
      '/api/..\\admin',
      '/decode/x%2F..%2F..%2Fadmin',
      '/admin;x/secret',
      '/api;v=1/internal',
    ])
      assert.equal(judge(raw).kind, 'refused', raw);
    let refusedSeparators = 0;
    fc.assert(
      fc.property(hostilePath, (raw) => {
        if (/%2f|%5c|\\/i.test(raw) && judge(raw).kind === 'refused') refusedSeparators++;
      }),
      { numRuns: 2_000 },
    );
    assert.ok(refusedSeparators > 100, `only ${refusedSeparators} separator attacks generated`);
  });
});
