// Bodies under the transform policy, end to end over real sockets: a 100,000-item array, text that must
// survive byte for byte (Unicode, escapes, 64-bit integers), invalid JSON (pass or 502), gzip / deflate / br
// decoded and re-encoded with the same coding (and an unknown coding passed through), chunked upstream
// bodies, the body limit and a decompression bomb, a JSON → XML → JSON round trip with special characters,
// weak ETags after a rewrite, HEAD and 204 left alone, and config mistakes reported with their line by
// `portico validate`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import zlib from 'node:zlib';
import { startUpstream, type ReceivedRequest, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { assertProblemBody, httpRequest, waitFor, type PlainResponse } from '../fixtures/http-tools.js';
import { runCli, tempDir } from '../fixtures/ops-child.js';

const BIG_COUNT = 100_000;
const CARD = '4242424242424242';

/** The 100,000-item collection, built once: text the upstream sends as is. */
const BIG = JSON.stringify(
  Array.from({ length: BIG_COUNT }, (_, i) => ({ id: i, card: CARD, name: `n${i}` })),
);

/**
 * A body in the form JSON.stringify writes (so untouched fields can be compared byte for byte): emoji,
 * CJK, escaped controls, quotes and backslashes, lone surrogates, and integers beyond 2^53.
 */
const TRICKY =
  '{"emoji":"😀👍🏽 family 👨‍👩‍👧","cjk":"漢字かなカナ한국어","nul":"a\\u0000b\\u001f","quote":"say \\"hi\\" \\\\ back\\\\slash\\n\\t",' +
  '"lone":"\\ud800 and \\udc00 and \\udbff","id":12345678901234567890,"neg":-98765432109876543210,' +
  '"ids":[12345678901234567891,9007199254740993,1.5,0.1],"key\\"with\\\\escapes":true,"drop":1}';

const XML_REPLY = (received: string): string =>
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  `<reply code="A&amp;B" quote='say "hi"' apos="it&apos;s" lt="&lt;x&gt;">\n` +
  `  <received>${received.replace(/^<\?xml[^>]*\?>/, '')}</received>\n` +
  '  <text>&lt;tag&gt; &amp; caf&#233; \u00fc 😀 &quot;q&quot; &apos;a&apos;</text>\n' +
  '  <cdata><![CDATA[<raw> & "kept"]]></cdata>\n' +
  '</reply>';

/** What the upstream answers on one path. */
interface Reply {
  readonly status?: number;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  /** Written in this many pieces with a short pause between them, without a Content-Length. */
  readonly chunks?: number;
}

const encoders: Readonly<Record<string, (b: Buffer) => Buffer>> = {
  gzip: (b) => zlib.gzipSync(b),
  'x-gzip': (b) => zlib.gzipSync(b),
  deflate: (b) => zlib.deflateSync(b),
  'raw-deflate': (b) => zlib.deflateRawSync(b),
  br: (b) => zlib.brotliCompressSync(b),
};
const decoders: Readonly<Record<string, (b: Buffer) => Buffer>> = {
  gzip: (b) => zlib.gunzipSync(b),
  'x-gzip': (b) => zlib.gunzipSync(b),
  deflate: (b) => zlib.inflateSync(b),
  br: (b) => zlib.brotliDecompressSync(b),
};

const ZSTD_BYTES = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x01, 0x02, 0xff, 0xfe, 0x7b]);

function reply(req: http.IncomingMessage, received: Buffer): Reply {
  const url = new URL(req.url!, 'http://upstream');
  const path = url.pathname;
  const jsonType = { 'content-type': 'application/json' };
  if (path === '/big') return { headers: jsonType, body: BIG };
  if (path.startsWith('/tricky')) return { headers: jsonType, body: TRICKY };
  if (path.startsWith('/invalid')) return { headers: jsonType, body: '{"a":1,,}' };
  if (path.startsWith('/coded/')) {
    const coding = path.slice('/coded/'.length);
    const plain = Buffer.from('{"card":"4242424242424242","msg":"caf\u00e9"}');
    if (coding === 'zstd') return { headers: { ...jsonType, 'content-encoding': 'zstd' }, body: ZSTD_BYTES };
    if (coding === 'corrupt')
      return { headers: { ...jsonType, 'content-encoding': 'gzip' }, body: Buffer.from('not gzip at all') };
    const label = coding === 'raw-deflate' ? 'deflate' : coding;
    return { headers: { ...jsonType, 'content-encoding': label }, body: encoders[coding]!(plain) };
  }
  if (path.startsWith('/chunked'))
    return { headers: jsonType, body: '{"card":"4242424242424242","n":[1,2,3]}', chunks: 5 };
  if (path.startsWith('/limit/declared'))
    return { headers: jsonType, body: JSON.stringify({ pad: 'x'.repeat(4000) }) };
  if (path.startsWith('/limit/chunked'))
    return { headers: jsonType, body: JSON.stringify({ pad: 'x'.repeat(4000) }), chunks: 4 };
  if (path.startsWith('/limit/bomb'))
    return {
      headers: { ...jsonType, 'content-encoding': 'gzip' },
      body: zlib.gzipSync(Buffer.from(`{"pad":"${' '.repeat(2_000_000)}"}`)),
    };
  if (path.startsWith('/roundtrip'))
    return { headers: { 'content-type': 'application/xml' }, body: XML_REPLY(received.toString('utf8')) };
  if (path.startsWith('/etag/weak')) return { headers: { ...jsonType, etag: 'W/"w1"' }, body: '{"a":1}' };
  if (path.startsWith('/etag'))
    return {
      headers: {
        ...jsonType,
        etag: '"v1"',
        'content-md5': 'x',
        digest: 'sha-256=x',
        'accept-ranges': 'bytes',
      },
      body: '{"a":1}',
    };
  if (path.startsWith('/no-content')) return { status: 204, headers: { etag: '"n1"' } };
  return { headers: jsonType, body: '{}' };
}

describe('transform: bodies', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  const get = (path: string, method = 'GET') => httpRequest(gw.port, { method, path, timeoutMs: 20_000 });
  const receivedAt = (prefix: string): ReceivedRequest => {
    const matches = up.received.filter((r) => r.url.startsWith(prefix));
    assert.equal(matches.length, 1, `upstream received ${prefix} ${matches.length} times`);
    return matches[0]!;
  };
  const problem = (res: PlainResponse, status: number): Record<string, unknown> => {
    assert.equal(res.status, status, res.body.toString());
    return assertProblemBody(res.headers['content-type'], res.body.toString(), status, [String(up.port)]);
  };
  const warningFor = (route: string) =>
    waitFor(
      () => gw.logs.find((l) => l.event === 'transform_body_passed' && l.route === route),
      2000,
      `transform_body_passed for ${route}`,
    );

  before(async () => {
    up = await startUpstream(async (req, res, received) => {
      const r = reply(req, received);
      const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body);
      if (r.chunks === undefined) {
        res.writeHead(r.status ?? 200, {
          ...r.headers,
          ...(r.status === 204 ? {} : { 'content-length': body.length }),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      res.writeHead(r.status ?? 200, r.headers);
      const step = Math.ceil(body.length / r.chunks);
      for (let i = 0; i < body.length; i += step) {
        res.write(body.subarray(i, i + step));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      res.end();
    });
    gw = await startTestGateway(`
routes:
  - name: big
    path: /big
    upstream: ${up.url}
    transform:
      max_body_bytes: 67108864
      response: { wrap_json: data, mask: ["[].card"] }
  - name: tricky
    path: /tricky
    upstream: ${up.url}
    transform: { response: { remove: [drop], set: { added: "\u00e9" } } }
  - name: tricky-wrap
    path: /tricky-wrap
    upstream: ${up.url}
    transform: { response: { wrap_json: data } }
  - name: tricky-mask
    path: /tricky-mask
    upstream: ${up.url}
    transform: { response: { mask: [id] } }
  - name: tricky-mask-all
    path: /tricky-mask-all
    upstream: ${up.url}
    transform: { response: { mask: [{ path: id, keep_last: 20 }] } }
  - name: invalid-pass
    path: /invalid/pass
    upstream: ${up.url}
    transform: { on_invalid_body: pass, response: { wrap_json: data } }
  - name: invalid-reject
    path: /invalid/reject
    upstream: ${up.url}
    transform: { on_invalid_body: reject, response: { wrap_json: data } }
  - name: coded
    path: /coded
    upstream: ${up.url}
    transform: { response: { mask: [card], wrap_json: data } }
  - name: chunked
    path: /chunked
    upstream: ${up.url}
    transform: { response: { mask: [card] } }
  - name: limit
    path: /limit
    upstream: ${up.url}
    transform: { max_body_bytes: 1024, response: { wrap_json: data } }
  - name: bomb
    path: /limit/bomb
    upstream: ${up.url}
    transform: { max_body_bytes: 65536, response: { wrap_json: data } }
  - name: roundtrip
    path: /roundtrip
    upstream: ${up.url}
    transform: { request: { json_to_xml: true }, response: { xml_to_json: true } }
  - name: etag
    path: /etag
    upstream: ${up.url}
    transform: { response: { set: { b: 2 } } }
  - name: no-content
    path: /no-content
    upstream: ${up.url}
    transform: { response: { set: { b: 2 }, wrap_json: data } }
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('a 100,000-item array: masked and wrapped, every item there, in reasonable time', async () => {
    const started = performance.now();
    const res = await get('/big');
    const elapsed = performance.now() - started;
    assert.equal(res.status, 200, res.body.toString().slice(0, 300));
    assert.equal(res.headers['content-length'], String(res.body.length));
    const parsed = JSON.parse(res.body.toString('utf8')) as {
      data: { id: number; card: string; name: string }[];
    };
    assert.deepEqual(Object.keys(parsed), ['data']);
    assert.equal(parsed.data.length, BIG_COUNT);
    for (const i of [0, 1, 49_999, 50_000, 99_998, 99_999])
      assert.deepEqual(parsed.data[i], { id: i, card: '************4242', name: `n${i}` });
    assert.ok(
      parsed.data.every((item, i) => item.id === i && item.card === '************4242'),
      'every item masked, in order',
    );
    assert.ok(elapsed < 5000, `took ${Math.round(elapsed)} ms`);
  });

  describe('text that must survive', () => {
    it('Unicode, escapes and 64-bit integers in untouched fields come back byte for byte', async () => {
      const res = await get('/tricky');
      assert.equal(res.status, 200);
      const expected = TRICKY.replace(',"drop":1}', ',"added":"\u00e9"}');
      assert.equal(res.body.toString('utf8'), expected);
      assert.equal(res.headers['content-length'], String(Buffer.byteLength(expected)));
    });

    it('the same text wrapped: still byte for byte inside the wrapper', async () => {
      const res = await get('/tricky-wrap');
      assert.equal(res.body.toString('utf8'), `{"data":${TRICKY}}`);
    });

    it('{"id":12345678901234567890} written as raw text by the upstream keeps all its digits', async () => {
      const res = await get('/tricky-wrap');
      assert.match(res.body.toString('utf8'), /"id":12345678901234567890,"neg":-98765432109876543210,/);
      assert.match(res.body.toString('utf8'), /"ids":\[12345678901234567891,9007199254740993,1\.5,0\.1\]/);
    });

    it('masking a 64-bit integer keeps the last 4 digits and masks exactly the others', async () => {
      const res = await get('/tricky-mask');
      const id = (JSON.parse(res.body.toString('utf8')) as { id: unknown }).id;
      assert.equal(id, '****************7890', 'twenty characters, as the twenty digits were');
    });

    it('keep_last as long as a 64-bit integer masks it entirely, never returning it in clear', async () => {
      const res = await get('/tricky-mask-all');
      const id = (JSON.parse(res.body.toString('utf8')) as { id: unknown }).id;
      assert.equal(id, '*'.repeat(20));
    });
  });

  describe('invalid JSON from the upstream', () => {
    it('pass: the body goes through unchanged and a warning is logged', async () => {
      const res = await get('/invalid/pass');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), '{"a":1,,}');
      assert.equal(res.headers['content-length'], '9');
      const line = await warningFor('invalid-pass');
      assert.equal(line.side, 'response');
      assert.equal(line.level, 'warn');
      assert.match(String(line.reason), /^invalid JSON: /);
      assert.equal(line.trace_id, res.headers['x-trace-id']);
    });

    it('reject: a 502 problem', async () => {
      const p = problem(await get('/invalid/reject'), 502);
      assert.match(String(p.detail), /^The upstream response cannot be transformed: invalid JSON: /);
    });
  });

  describe('content codings', () => {
    for (const coding of ['gzip', 'x-gzip', 'deflate', 'raw-deflate', 'br']) {
      it(`${coding}: decoded, transformed and encoded again with the same coding`, async () => {
        const res = await get(`/coded/${coding}`);
        assert.equal(res.status, 200);
        const label = coding === 'raw-deflate' ? 'deflate' : coding;
        assert.equal(res.headers['content-encoding'], label);
        assert.equal(
          res.headers['content-length'],
          String(res.body.length),
          'the length of the encoded bytes',
        );
        const decoded = decoders[label]!(res.body).toString('utf8');
        assert.equal(decoded, '{"data":{"card":"************4242","msg":"caf\u00e9"}}');
      });
    }

    it('an unsupported coding (zstd) passes through untouched, with a warning', async () => {
      const res = await get('/coded/zstd');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], 'zstd');
      assert.deepEqual(res.body, ZSTD_BYTES);
      const line = await warningFor('coded');
      assert.equal(line.reason, 'the content coding "zstd" is not supported');
    });

    it('a body that does not decode with its coding passes through untouched', async () => {
      const res = await get('/coded/corrupt');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], 'gzip');
      assert.equal(res.body.toString(), 'not gzip at all');
    });
  });

  it('a chunked upstream body (no Content-Length, several writes) is transformed whole', async () => {
    const res = await get('/chunked');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '{"card":"************4242","n":[1,2,3]}');
    assert.equal(res.headers['content-length'], String(res.body.length));
    assert.equal(res.headers['transfer-encoding'], undefined);
  });

  describe('limits', () => {
    it('a response body over max_body_bytes is a 502 problem (declared and chunked)', async () => {
      for (const path of ['/limit/declared', '/limit/chunked']) {
        const p = problem(await get(path), 502);
        assert.equal(p.detail, 'The upstream response exceeds the 1024 bytes this route can transform', path);
      }
    });

    it('a gzip bomb decompressing beyond max_body_bytes is a 502 problem', async () => {
      const p = problem(await get('/limit/bomb'), 502);
      assert.equal(p.detail, 'The upstream response exceeds the 65536 bytes this route can transform');
    });

    it('the gateway keeps serving the route after those', async () => {
      const res = await get('/limit/small');
      assert.equal(res.body.toString(), '{"data":{}}');
    });
  });

  it('XML round trip: JSON → XML upstream, XML with attributes and special characters → JSON back', async () => {
    const sent = {
      customer: {
        '@id': 'c&1 <"\'>',
        name: 'Zo\u00eb <\u00dcn\u00efc\u00f8d\u00e9> & "quotes" \'apos\' 漢字 😀',
        lines: 'one\ntwo\tthree',
        tags: ['a&b', 'c<d'],
        qty: 3,
      },
    };
    const res = await httpRequest(gw.port, {
      method: 'POST',
      path: '/roundtrip',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sent),
    });
    assert.equal(res.status, 200, res.body.toString());
    const xml = receivedAt('/roundtrip').body.toString('utf8');
    assert.equal(
      xml,
      '<?xml version="1.0" encoding="UTF-8"?><root><customer id="c&amp;1 &lt;&quot;&apos;&gt;">' +
        '<name>Zo\u00eb &lt;\u00dcn\u00efc\u00f8d\u00e9&gt; &amp; &quot;quotes&quot; &apos;apos&apos; 漢字 😀</name>' +
        '<lines>one&#10;two&#9;three</lines><tags>a&amp;b</tags><tags>c&lt;d</tags><qty>3</qty>' +
        '</customer></root>',
    );
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body.toString('utf8')), {
      '@code': 'A&B',
      '@quote': 'say "hi"',
      '@apos': "it's",
      '@lt': '<x>',
      received: { root: { customer: { ...sent.customer, qty: '3' } } },
      text: '<tag> & caf\u00e9 \u00fc 😀 "q" \'a\'',
      cdata: '<raw> & "kept"',
    });
  });

  describe('validators and bodiless responses', () => {
    it('a strong ETag becomes weak after a body transform; digests and Accept-Ranges are dropped', async () => {
      const res = await get('/etag');
      assert.equal(res.body.toString(), '{"a":1,"b":2}');
      assert.equal(res.headers['etag'], 'W/"v1"');
      assert.equal(res.headers['content-md5'], undefined);
      assert.equal(res.headers['digest'], undefined);
      assert.equal(res.headers['accept-ranges'], undefined);
      const weak = await get('/etag/weak');
      assert.equal(weak.headers['etag'], 'W/"w1"', 'already weak: unchanged');
    });

    it('HEAD is not touched: same ETag and Content-Length as the upstream sent', async () => {
      const res = await get('/etag', 'HEAD');
      assert.equal(res.status, 200);
      assert.equal(res.headers['etag'], '"v1"');
      assert.equal(res.headers['content-length'], '7');
      assert.equal(res.body.length, 0);
    });

    it('204 is not touched: no body added, ETag strong', async () => {
      const res = await get('/no-content');
      assert.equal(res.status, 204);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers['etag'], '"n1"');
      assert.equal(res.headers['content-length'], undefined);
    });
  });
});

describe(
  'transform: config mistakes, reported by `portico validate` with their line',
  { timeout: 60_000 },
  () => {
    it('a bad field path, a bad regex, a missing group, an unknown template source', async () => {
      const lines = [
        'routes:', // 1
        '  - name: bad-path', // 2
        '    path: /a', // 3
        '    upstream: http://127.0.0.1:9', // 4
        '    transform:', // 5
        '      response:', // 6
        '        mask: ["a..b"]', // 7
        '  - name: bad-regex', // 8
        '    path: /b', // 9
        '    upstream: http://127.0.0.1:9', // 10
        '    transform:', // 11
        '      request:', // 12
        '        path: { pattern: "((", replace: /x }', // 13
        '  - name: missing-group', // 14
        '    path: /c', // 15
        '    upstream: http://127.0.0.1:9', // 16
        '    transform:', // 17
        '      request:', // 18
        "        path: { pattern: '^/c/(\\d+)$', replace: /x/$2 }", // 19
        '  - name: missing-named-group', // 20
        '    path: /d', // 21
        '    upstream: http://127.0.0.1:9', // 22
        '    transform:', // 23
        '      request:', // 24
        "        path: { pattern: '^/d/(?<id>\\d+)$', replace: '/x/$<nope>' }", // 25
        '  - name: unknown-source', // 26
        '    path: /e', // 27
        '    upstream: http://127.0.0.1:9', // 28
        '    transform:', // 29
        '      request:', // 30
        '        add_headers:', // 31
        '          X-A: "${nope.x}"', // 32
      ];
      const dir = tempDir({ 'gateway.yaml': lines.join('\n') + '\n' });
      try {
        const file = dir.path('gateway.yaml');
        const r = await runCli(['validate', file]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        const issues = r.stderr
          .trimEnd()
          .split('\n')
          .slice(1)
          .map((l) => l.trim());
        assert.equal(r.stderr.split('\n')[0], '5 errors in configuration');
        assert.equal(issues.length, 5, r.stderr);
        const issueAt = (line: number): string => {
          const found = issues.find((l) => l.startsWith(`${file}:${line}:`));
          assert.ok(found, `no issue on line ${line}:\n${r.stderr}`);
          return found;
        };
        assert.match(issueAt(7), / routes\[0\]\.transform\.response\.mask\[0\]: field path "a\.\.b": /);
        assert.match(
          issueAt(13),
          / routes\[1\]\.transform\.request\.path\.pattern: invalid regular expression: /,
        );
        assert.match(
          issueAt(19),
          / routes\[2\]\.transform\.request\.path\.replace: \$2: the pattern has 1 capture group$/,
        );
        assert.match(
          issueAt(25),
          / routes\[3\]\.transform\.request\.path\.replace: the pattern has no group named "nope"$/,
        );
        assert.match(
          issueAt(32),
          / routes\[4\]\.transform\.request\.add_headers\.X-A: .*unknown source "nope"; valid sources: /,
        );
      } finally {
        dir.remove();
      }
    });

    it('an undotted unknown source (${nope}) is read as an environment variable first: unset, with its line', async () => {
      // docs/configuration.md: ${VAR} is interpolated at load. The loader stops there, before any policy
      // compiles, so this case gets a file of its own.
      const yaml = [
        'gateway:', // 1
        '  listen: "127.0.0.1:0"', // 2
        '  admin: { enabled: false }', // 3
        'routes:', // 4
        '  - name: r', // 5
        '    path: /r', // 6
        '    upstream: http://127.0.0.1:9', // 7
        '    transform:', // 8
        '      response:', // 9
        '        set: { a: "${nope}" }', // 10
      ].join('\n');
      await assert.rejects(startTestGateway(yaml, { env: { nope: '' } }), (err: Error) => {
        assert.match(
          err.message,
          /gateway\.yaml:10:\d+ routes\[0\]\.transform\.response\.set\.a: environment variable nope is empty/,
        );
        return true;
      });
    });
  },
);
