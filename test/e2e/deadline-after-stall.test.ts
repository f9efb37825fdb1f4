// A response that arrived in time wins over a deadline timer that only fired late because the gateway itself
// was blocked (issue 17 point 5): the upstream answers at once and then blocks this process (gateway included)
// for longer than the deadline, so when the loop runs again the deadline timer is due while the response
// already waits in the gateway's socket. Timers run before sockets are read; the response must still win.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** The deadlines under test; generous, so a slow machine still gets the request upstream well within them. */
const DEADLINE_MS = 1500;
/** How far past the deadline the block lasts, from when the request reached the upstream (after it left). */
const PAST_DEADLINE_MS = 400;

/** Busy-waits: nothing else in this process (the gateway, its timers, its sockets) runs meanwhile. */
function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

describe('a response queued before a late deadline timer', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const body = JSON.stringify({ answered: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      // The whole response is in the gateway's socket buffer before the block starts.
      res.end(body);
      if (req.url!.startsWith('/block/')) blockFor(DEADLINE_MS + PAST_DEADLINE_MS);
    });
    const routes = [
      ['total', `timeout_ms: ${DEADLINE_MS}`],
      ['first-byte', `timeouts: { first_byte_ms: ${DEADLINE_MS}, idle_ms: ${DEADLINE_MS} }`],
      ['retried', `timeout_ms: ${DEADLINE_MS}`, 'retried'],
    ];
    gw = await startTestGateway(
      [
        'upstreams:',
        '  retried:',
        `    targets: [{ url: "${upstream.url}" }]`,
        '    retries: { attempts: 2 }',
        'routes:',
        ...routes.flatMap(([name, timeout, named]) => [
          `  - name: ${name}`,
          `    path: /block/${name}`,
          `    upstream: ${named ?? `"${upstream.url}"`}`,
          `    ${timeout}`,
        ]),
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  for (const route of ['total', 'first-byte', 'retried'])
    it(`${route}: the client gets the upstream's response, not a 504`, async () => {
      const res = await fetch(`${gw.url}/block/${route}`);
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), { answered: `/block/${route}` });
      assert.equal(upstream.received.filter((r) => r.url === `/block/${route}`).length, 1, 'one try');
    });
});
