// Templates put request values into upstream headers and JSON: these pin every source, fallbacks, escapes,
// compile errors with their positions, the constant fast path, and that no value can inject a header line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { validateHeaderValue } from 'node:http';
import { Exchange } from '../../../pipeline/exchange.js';
import { HeaderList } from '../../../pipeline/header-list.js';
import { IDENTITY, type Identity } from '../../../pipeline/identity.js';
import { compileTemplate, TEMPLATE_SOURCES, TemplateError, type TemplateTarget } from './compile-template.js';

interface Request {
  readonly method?: string;
  readonly path?: string;
  readonly query?: string;
  readonly headers?: string[];
  readonly params?: Record<string, string>;
  readonly route?: string;
  readonly clientIp?: string;
  readonly consumer?: { readonly id: string; readonly tier?: string };
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** An Exchange with no socket behind it, as routing and authentication would have left it. */
function exchange(r: Request = {}): Exchange {
  const ex = new Exchange({
    req: { socket: { bytesWritten: 0, bytesRead: 0 } } as unknown as IncomingMessage,
    res: {} as unknown as ServerResponse,
    startedAt: 0,
    method: r.method ?? 'GET',
    path: r.path ?? '/',
    query: r.query ?? '',
    host: 'gateway.test',
    protocol: 'http',
    clientIp: r.clientIp ?? '127.0.0.1',
    headers: new HeaderList(r.headers ?? []),
    authority: 'gateway.test',
    requestBody: null,
  });
  ex.traceId = TRACE;
  if (r.params) ex.params = r.params;
  if (r.route !== undefined) ex.routeName = r.route;
  if (r.consumer) {
    const identity: Identity = {
      id: r.consumer.id,
      method: 'api_key',
      configName: 'default',
      tier: r.consumer.tier,
      roles: [],
      scopes: [],
      metadata: {},
    };
    ex.set(IDENTITY, identity);
    ex.consumerId = identity.id;
  }
  return ex;
}

function render(template: string, r: Request = {}, target: TemplateTarget = 'header'): string {
  return compileTemplate(template, { target }).render(exchange(r));
}

/** The octets a header-target string puts on the wire, read back as UTF-8. */
const wireUtf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');

type Case = readonly [name: string, template: string, request: Request, expected: string];

function table(cases: readonly Case[], target: TemplateTarget = 'header'): void {
  for (const [name, template, request, expected] of cases) {
    it(`${name}: ${JSON.stringify(template)}`, () =>
      assert.equal(render(template, request, target), expected));
  }
}

describe('compileTemplate: sources', () => {
  table([
    ['consumer id', '${consumer.id}', { consumer: { id: 'alice' } }, 'alice'],
    ['consumer tier', '${consumer.tier}', { consumer: { id: 'alice', tier: 'gold' } }, 'gold'],
    ['header, any case in the template', '${header.X-Foo}', { headers: ['x-foo', 'bar'] }, 'bar'],
    ['header, any case in the request', '${header.x-foo}', { headers: ['X-FOO', 'bar'] }, 'bar'],
    ['query parameter', '${query.page}', { query: 'size=10&page=2' }, '2'],
    ['route parameter', '${path.id}', { params: { id: '42' } }, '42'],
    ['request path', '${path}', { path: '/orders/42' }, '/orders/42'],
    ['method', '${method}', { method: 'PATCH' }, 'PATCH'],
    ['route name', '${route}', { route: 'orders-v2' }, 'orders-v2'],
    ['client address', '${client_ip}', { clientIp: '203.0.113.7' }, '203.0.113.7'],
    ['trace id', '${trace_id}', {}, TRACE],
    [
      'several, with text around them',
      '${method} ${path}?page=${query.page} by ${consumer.id}.',
      { method: 'GET', path: '/o', query: 'page=3', consumer: { id: 'bob' } },
      'GET /o?page=3 by bob.',
    ],
    ['the same source twice', '${query.a}-${query.a}', { query: 'a=1' }, '1-1'],
    ['adjacent expressions', '${method}${route}', { method: 'PUT', route: 'r' }, 'PUTr'],
  ]);

  it('renders the trace id the exchange has, generating it when none was set', () => {
    const ex = exchange();
    assert.equal(compileTemplate('${trace_id}').render(ex), ex.traceId);
    const fresh = new Exchange({ ...exchangeInit(), headers: new HeaderList() });
    const id = compileTemplate('${trace_id}').render(fresh);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(id, fresh.traceId, 'the generated id is kept for the rest of the request');
  });

  it('reads values when rendering, not when compiling', () => {
    const template = compileTemplate('${path} ${route}');
    const ex = exchange({ path: '/a' });
    assert.equal(template.render(ex), '/a ');
    ex.path = '/b';
    ex.routeName = 'later';
    assert.equal(template.render(ex), '/b later');
  });
});

function exchangeInit() {
  return {
    req: { socket: { bytesWritten: 0, bytesRead: 0 } } as unknown as IncomingMessage,
    res: {} as unknown as ServerResponse,
    startedAt: 0,
    method: 'GET',
    path: '/',
    query: '',
    host: 'h',
    protocol: 'http' as const,
    clientIp: '127.0.0.1',
    authority: 'h',
    requestBody: null,
  };
}

describe('compileTemplate: missing values and fallbacks', () => {
  table([
    ['absent header', '${header.x-foo}', {}, ''],
    ['absent query parameter', '${query.page}', { query: 'size=1' }, ''],
    ['no query at all', '${query.page}', {}, ''],
    ['anonymous consumer', '${consumer.id}', {}, ''],
    ['anonymous consumer tier', '${consumer.tier}', {}, ''],
    ['consumer without a tier', '${consumer.tier}', { consumer: { id: 'a' } }, ''],
    ['route parameter the route lacks', '${path.id}', { params: { other: '1' } }, ''],
    ['route before routing', '${route}', {}, ''],
    ['inherited names are not parameters', '${path.constructor}${path.__proto__}', {}, ''],
    ['inherited query names neither', '${query.constructor}${query.toString}', { query: 'a=1' }, ''],
    ['fallback for an absent header', '${header.x-foo:-none}', {}, 'none'],
    ['fallback for an empty header', '${header.x-foo:-none}', { headers: ['X-Foo', ''] }, 'none'],
    ['no fallback for a present header', '${header.x-foo:-none}', { headers: ['X-Foo', 'v'] }, 'v'],
    ['fallback for `?page=`', '${query.page:-1}', { query: 'page=' }, '1'],
    ['fallback for `?page`', '${query.page:-1}', { query: 'page' }, '1'],
    ['"0" is a value', '${query.page:-1}', { query: 'page=0' }, '0'],
    ['fallback for an anonymous consumer', '${consumer.id:-anonymous}', {}, 'anonymous'],
    ['fallback for a missing tier', '${consumer.tier:-free}', { consumer: { id: 'a' } }, 'free'],
    ['fallback for a route parameter', '${path.id:-none}', {}, 'none'],
    ['an empty fallback', 'a${header.x:-}b', {}, 'ab'],
    ['a fallback with spaces and colons', '${header.x:-a b: c}', {}, 'a b: c'],
    ['only the first ":-" separates', '${header.x:-a:-b}', {}, 'a:-b'],
    ['"$" in a fallback', '${header.x:-$5}', {}, '$5'],
    ['fallbacks among text', '[${query.a:-1}|${query.b:-2}]', { query: 'b=x' }, '[1|x]'],
  ]);
});

describe('compileTemplate: escapes and plain text', () => {
  const constants: readonly (readonly [template: string, output: string])[] = [
    ['', ''],
    ['plain text', 'plain text'],
    ['$${consumer.id}', '${consumer.id}'],
    ['a $${b} c $${d}', 'a ${b} c ${d}'],
    ['$$${x}', '$${x}'],
    ['costs $5', 'costs $5'],
    ['$', '$'],
    ['$$', '$$'],
    ['$ {x}', '$ {x}'],
    ['{x} and }', '{x} and }'],
    ['trailing $', 'trailing $'],
  ];
  for (const [template, output] of constants) {
    it(`${JSON.stringify(template)} is the constant ${JSON.stringify(output)}`, () => {
      const compiled = compileTemplate(template);
      assert.equal(compiled.constant, output);
      assert.deepEqual(compiled.uses, []);
      assert.equal(compiled.source, template);
      assert.equal(compiled.render(exchange({ consumer: { id: 'x' } })), output);
    });
  }

  table([
    ['an escape next to an expression', '$${x}=${consumer.id}', { consumer: { id: 'al' } }, '${x}=al'],
    ['a "$" that is not an escape, before an expression', '$5 ${method}$', { method: 'GET' }, '$5 GET$'],
    ['a "}" after an expression', '${method}}', { method: 'GET' }, 'GET}'],
  ]);

  it('has no constant when it reads the request', () => {
    for (const t of ['${method}', 'a${method}', '$${x}${method}']) {
      assert.equal(compileTemplate(t).constant, undefined, t);
    }
  });

  it('lists each source once, normalized, in order of first use', () => {
    const t = compileTemplate(
      '${header.X-Foo} ${header.x-foo:-d} ${query.page} ${path.id} ${path} ${consumer.id} ${consumer.tier} ' +
        '${method} ${route} ${client_ip} ${trace_id} ${query.Page}',
    );
    assert.deepEqual(t.uses, [
      'header.x-foo',
      'query.page',
      'path.id',
      'path',
      'consumer.id',
      'consumer.tier',
      'method',
      'route',
      'client_ip',
      'trace_id',
      'query.Page',
    ]);
  });
});

describe('compileTemplate: repeated headers', () => {
  table([
    [
      'lines joined with ", "',
      '${header.x-a}',
      { headers: ['X-A', '1', 'x-a', '2', 'X-B', 'no', 'X-A', '3'] },
      '1, 2, 3',
    ],
    [
      'Cookie lines joined with "; "',
      '${header.cookie}',
      { headers: ['Cookie', 'a=1', 'cookie', 'b=2'] },
      'a=1; b=2',
    ],
    ['an empty line kept in place', '${header.x-a}', { headers: ['X-A', '', 'X-A', '2'] }, ', 2'],
    ['a longer name with the same prefix is another header', '${header.x-a}', { headers: ['X-AB', '1'] }, ''],
  ]);
});

describe('compileTemplate: query values', () => {
  table([
    ['the first of several values', '${query.tag}', { query: 'tag=a&tag=b' }, 'a'],
    ['names are case-sensitive', '${query.page}', { query: 'Page=1&PAGE=2' }, ''],
    ['an encoded name', '${query.page}', { query: 'p%61ge=3' }, '3'],
    ['a name with "+" matches its encoding', '${query.a+b}', { query: 'a+b=space&a%2Bb=plus' }, 'plus'],
    ['empty pairs are skipped', '${query.page}', { query: '&&page=2&' }, '2'],
    ['"=" inside a value', '${query.token}', { query: 'token=a=b==' }, 'a=b=='],
    ['"+" is a space', '${query.q}', { query: 'q=a+b' }, 'a b'],
    ['"%2B" is a plus', '${query.q}', { query: 'q=a%2Bb' }, 'a+b'],
    ['"%20" is a space', '${query.q}', { query: 'q=a%20b' }, 'a b'],
    ['a malformed escape is kept', '${query.q}', { query: 'q=100%zz' }, '100%zz'],
    ['";" does not separate', '${query.a}', { query: 'a=1;b=2' }, '1;b=2'],
  ]);
});

describe('compileTemplate: Unicode', () => {
  it('sends non-ASCII text in a header as its UTF-8 octets', () => {
    const cases: readonly (readonly [string, Request, string])[] = [
      ['${query.q}', { query: 'q=caf%C3%A9' }, 'café'],
      ['${query.q}', { query: 'q=%E6%97%A5%E6%9C%AC' }, '日本'],
      ['${query.q}', { query: 'q=%F0%9F%9A%80' }, '🚀'],
      ['${consumer.id}', { consumer: { id: 'José' } }, 'José'],
      ['${path.name}', { params: { name: 'Zürich' } }, 'Zürich'],
      ['Grüße, ${method}', { method: 'GET' }, 'Grüße, GET'],
      ['${header.x:-日本}', {}, '日本'],
    ];
    for (const [template, request, text] of cases) {
      const out = render(template, request);
      assert.doesNotThrow(() => validateHeaderValue('x-test', out), template);
      assert.equal(wireUtf8(out), text, template);
      assert.equal(render(template, request, 'text'), text, `${template} as text`);
    }
  });

  it('keeps request header octets as sent, and decodes them for text when they are UTF-8', () => {
    const utf8 = Buffer.from('café', 'utf8').toString('latin1');
    assert.equal(render('${header.x-name}', { headers: ['X-Name', utf8] }), utf8);
    assert.equal(render('${header.x-name}', { headers: ['X-Name', utf8] }, 'text'), 'café');
    // Not UTF-8 (latin1 é alone): kept as the octets it is.
    assert.equal(render('${header.x-name}', { headers: ['X-Name', 'caf\xe9'] }), 'caf\xe9');
    assert.equal(render('${header.x-name}', { headers: ['X-Name', 'caf\xe9'] }, 'text'), 'caf\xe9');
  });

  it('replaces invalid UTF-8 in a query value with U+FFFD, as URLSearchParams does', () => {
    assert.equal(render('${query.q}', { query: 'q=%E6%97x' }, 'text'), '\ufffdx');
    assert.equal(render('${query.q}', { query: 'q=%FF' }, 'text'), '\ufffd');
  });
});

describe('compileTemplate: header injection', () => {
  const hostile: readonly (readonly [name: string, template: string, request: Request, expected: string])[] =
    [
      [
        'CRLF in a header value',
        'v=${header.x-in}',
        { headers: ['X-In', 'a\r\nX-Evil: 1'] },
        'v=a  X-Evil: 1',
      ],
      ['encoded CRLF in a query value', '${query.q}', { query: 'q=a%0D%0AX-Evil:%201' }, 'a  X-Evil: 1'],
      ['a bare LF', '${query.q}', { query: 'q=a%0Ab' }, 'a b'],
      ['a bare CR', '${query.q}', { query: 'q=a%0Db' }, 'a b'],
      ['NUL', '${query.q}', { query: 'q=a%00b' }, 'a b'],
      ['other controls and DEL', '${query.q}', { query: 'q=%01%1B%7F' }, '   '],
      [
        'a line break in a consumer id',
        '${consumer.id}',
        { consumer: { id: 'bob\nX-Admin: 1' } },
        'bob X-Admin: 1',
      ],
      ['a line break in a route parameter', '${path.id}', { params: { id: '1\r\n2' } }, '1  2'],
      ['a line break with non-ASCII text', '${query.q}', { query: 'q=%C3%A9%0A' }, '\xc3\xa9 '],
      ['HTAB is allowed', '${query.q}', { query: 'q=a%09b' }, 'a\tb'],
    ];
  for (const [name, template, request, expected] of hostile) {
    it(name, () => {
      const out = render(template, request);
      assert.equal(out, expected);
      assert.doesNotThrow(() => validateHeaderValue('x-test', out));
    });
  }

  it('keeps line breaks for text, where the JSON encoder escapes them', () => {
    assert.equal(render('${query.q}', { query: 'q=a%0D%0Ab' }, 'text'), 'a\r\nb');
    assert.equal(compileTemplate('line\none', { target: 'text' }).constant, 'line\none');
  });
});

describe('compileTemplate: errors', () => {
  const cases: readonly (readonly [template: string, position: number, message: RegExp])[] = [
    ['${', 0, /"\$\{" is not closed/],
    ['abc ${header.x', 4, /not closed/],
    ['${method} ${', 10, /not closed/],
    ['${}', 2, /empty expression/],
    ['${:-x}', 2, /empty expression/],
    ['${foo}', 2, /unknown source "foo"/],
    ['${Header.x}', 2, /unknown source "Header"/],
    ['x ${ header.x}', 4, /unknown source " header"/],
    ['${consumerid}', 2, /unknown source "consumerid"/],
    ['${header}', 8, /"header" needs a name/],
    ['${header.}', 9, /needs a header name after the dot/],
    ['${query}', 7, /"query" needs a name/],
    ['${query.:-1}', 8, /needs a parameter name after the dot/],
    ['${path.}', 7, /needs a route parameter name after the dot/],
    ['${header.X Foo}', 10, /" " cannot appear in a header name/],
    ['${header.x:y}', 10, /":" cannot appear in a header name \(write ":-" for a fallback\)/],
    ['${header.ä}', 9, /"ä" cannot appear in a header name/],
    ['${header.x(y)}', 10, /"\(" cannot appear/],
    ['${query.a b}', 9, /cannot hold a space/],
    ['${path.a\tb}', 8, /cannot hold a space/],
    ['${consumer}', 10, /"consumer" needs a field/],
    ['${consumer.name}', 11, /unknown consumer field "name"/],
    ['${consumer.constructor}', 11, /unknown consumer field "constructor"/],
    ['${method.x}', 8, /"method" takes no name/],
    ['${trace_id.x}', 10, /"trace_id" takes no name/],
    ['${toString}', 2, /unknown source "toString"/],
    ['${header.a ${query.b}', 11, /before the next "\$\{" \(expressions do not nest\)/],
    ['${header.x:-a${b}', 13, /do not nest/],
  ];
  for (const [template, position, message] of cases) {
    it(`${JSON.stringify(template)} fails at ${position}`, () => {
      assert.throws(
        () => compileTemplate(template),
        (err: unknown) => {
          assert.ok(err instanceof TemplateError, String(err));
          assert.equal(err.name, 'TemplateError');
          assert.equal(err.template, template);
          assert.equal(err.position, position);
          assert.match(err.message, message);
          assert.ok(
            err.message.startsWith(`${JSON.stringify(template)}, column ${position + 1}: `),
            err.message,
          );
          assert.ok(err.message.endsWith(`valid sources: ${TEMPLATE_SOURCES}`), err.message);
          return true;
        },
      );
    });
  }

  const controls: readonly (readonly [template: string, position: number])[] = [
    ['a\nb', 1],
    ['${header.x:-a\r\nb}', 13],
    ['tail\x00', 4],
    ['${method}\x7f', 9],
  ];
  for (const [template, position] of controls) {
    it(`${JSON.stringify(template)} cannot be a header value (control at ${position})`, () => {
      assert.throws(
        () => compileTemplate(template),
        (err: unknown) =>
          err instanceof TemplateError &&
          err.position === position &&
          /cannot hold a line break or control character/.test(err.message),
      );
      assert.doesNotThrow(() => compileTemplate(template, { target: 'text' }), 'text may hold them');
    });
  }

  it('validates names for the text target too', () => {
    assert.throws(() => compileTemplate('${nope}', { target: 'text' }), TemplateError);
  });
});
