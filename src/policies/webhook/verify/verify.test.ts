// Webhook signatures: each scheme against the example its documentation publishes where there is one
// (GitHub's "Hello, World!", the Standard Webhooks spec's msg_p5jXN8AQM9LWM0D4loKWxJek) and against
// signatures computed here; tampered bodies and headers, stale and future timestamps, malformed ones,
// several signatures in one header, and secret rotation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  createVerifier,
  parsePayloadTemplate,
  signStandardWebhook,
  type SignedRequest,
  type Verdict,
} from './verify.js';

function req(headers: Record<string, string>, body: string | Buffer): SignedRequest {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { header: (n) => lower.get(n), body: typeof body === 'string' ? Buffer.from(body) : body };
}

const reason = (v: Verdict) => (v.ok ? 'ok' : v.reason);
const hmacHex = (key: string, data: string) => createHmac('sha256', key).update(data).digest('hex');

describe('github', () => {
  // docs.github.com, "Validating webhook deliveries": the example secret, payload and signature.
  const SECRET = "It's a Secret to Everybody";
  const SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
  const v = createVerifier({ scheme: 'github', secrets: [SECRET] });

  it("accepts the documentation's example, with the delivery id", () => {
    const verdict = v.verify(
      req({ 'X-Hub-Signature-256': SIGNATURE, 'X-GitHub-Delivery': 'd-1' }, 'Hello, World!'),
      0,
    );
    assert.deepEqual(verdict, { ok: true, deliveryId: 'd-1', timestamp: undefined });
  });

  it('refuses a tampered body, a tampered signature, a missing or malformed header', () => {
    assert.equal(reason(v.verify(req({ 'X-Hub-Signature-256': SIGNATURE }, 'Hello, World?'), 0)), 'mismatch');
    const flipped = SIGNATURE.slice(0, -1) + (SIGNATURE.endsWith('7') ? '8' : '7');
    assert.equal(reason(v.verify(req({ 'X-Hub-Signature-256': flipped }, 'Hello, World!'), 0)), 'mismatch');
    assert.equal(reason(v.verify(req({}, 'Hello, World!'), 0)), 'missing');
    assert.equal(reason(v.verify(req({ 'X-Hub-Signature-256': 'sha1=abc' }, 'x'), 0)), 'malformed');
    assert.equal(reason(v.verify(req({ 'X-Hub-Signature-256': 'sha256=zz' }, 'x'), 0)), 'malformed');
    assert.equal(
      reason(v.verify(req({ 'X-Hub-Signature-256': SIGNATURE.slice(0, -2) }, 'Hello, World!'), 0)),
      'mismatch',
    );
  });

  it('accepts every active secret (rotation) and refuses a retired one', () => {
    const rotated = createVerifier({ scheme: 'github', secrets: ['new-secret', SECRET] });
    assert.equal(reason(rotated.verify(req({ 'X-Hub-Signature-256': SIGNATURE }, 'Hello, World!'), 0)), 'ok');
    const retired = createVerifier({ scheme: 'github', secrets: ['new-secret'] });
    assert.equal(
      reason(retired.verify(req({ 'X-Hub-Signature-256': SIGNATURE }, 'Hello, World!'), 0)),
      'mismatch',
    );
  });
});

describe('stripe', () => {
  const SECRET = 'whsec_test_secret';
  const NOW = 1_700_000_000_000;
  const t = String(NOW / 1000);
  const body = '{"id":"evt_1","type":"payment_intent.succeeded"}';
  const good = hmacHex(SECRET, `${t}.${body}`);
  const v = createVerifier({ scheme: 'stripe', secrets: [SECRET], toleranceS: 300 });
  const at = (header: string, b = body, now = NOW) =>
    reason(v.verify(req({ 'Stripe-Signature': header }, b), now));

  it('accepts t and v1, among several v1 (rotation on their side) and a v0', () => {
    assert.equal(at(`t=${t},v1=${good}`), 'ok');
    assert.equal(at(`t=${t},v1=${'0'.repeat(64)},v1=${good},v0=${'1'.repeat(64)}`), 'ok');
    assert.deepEqual(v.verify(req({ 'Stripe-Signature': `t=${t},v1=${good}` }, body), NOW), {
      ok: true,
      deliveryId: undefined,
      timestamp: NOW / 1000,
    });
  });

  it('refuses a tampered body, a signature over another timestamp, only v0, and malformed headers', () => {
    assert.equal(at(`t=${t},v1=${good}`, body + ' '), 'mismatch');
    assert.equal(at(`t=${Number(t) + 1},v1=${good}`), 'mismatch');
    assert.equal(at(`t=${t},v0=${good}`), 'missing');
    assert.equal(at(`t=${t},t=${t},v1=${good}`), 'malformed');
    assert.equal(at(`t=${t},v1=nothex`), 'malformed');
    assert.equal(at(`garbage`), 'malformed');
    assert.equal(at(`t=${t}.5,v1=${good}`), 'malformed');
    assert.equal(at(`t=-${t},v1=${good}`), 'malformed');
    assert.equal(at(`v1=${good}`), 'missing');
  });

  it('refuses timestamps outside the tolerance, in the past and in the future', () => {
    assert.equal(at(`t=${t},v1=${good}`, body, NOW + 300_000), 'ok');
    assert.equal(at(`t=${t},v1=${good}`, body, NOW + 301_000), 'stale');
    assert.equal(at(`t=${t},v1=${good}`, body, NOW - 301_000), 'future');
  });
});

describe('standard-webhooks', () => {
  // The Standard Webhooks specification's example (and its libraries' tests).
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const TS = '1614265330';
  const BODY = '{"test": 2432232314}';
  const SIG = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
  const NOW = Number(TS) * 1000;
  const v = createVerifier({ scheme: 'standard-webhooks', secrets: [SECRET], toleranceS: 300 });
  const at = (h: Record<string, string>, body = BODY, now = NOW) =>
    reason(
      v.verify(req({ 'webhook-id': ID, 'webhook-timestamp': TS, 'webhook-signature': SIG, ...h }, body), now),
    );

  it("accepts the specification's example, with its id as the delivery id", () => {
    assert.deepEqual(
      v.verify(req({ 'webhook-id': ID, 'webhook-timestamp': TS, 'webhook-signature': SIG }, BODY), NOW),
      { ok: true, deliveryId: ID, timestamp: Number(TS) },
    );
    assert.equal(at({ 'webhook-signature': `v1a,AAAA v1,${'A'.repeat(43)}= ${SIG}` }), 'ok');
  });

  it('refuses a tampered body, id or timestamp, and malformed values', () => {
    assert.equal(at({}, BODY.replace('2', '3')), 'mismatch');
    assert.equal(at({ 'webhook-id': ID + 'x' }), 'mismatch');
    assert.equal(at({ 'webhook-timestamp': String(Number(TS) + 1) }), 'mismatch');
    assert.equal(at({ 'webhook-timestamp': TS + '.0' }), 'malformed');
    assert.equal(at({ 'webhook-timestamp': ' ' + TS }), 'malformed');
    assert.equal(at({ 'webhook-signature': 'v1' }), 'malformed');
    assert.equal(at({ 'webhook-signature': 'v1,***' }), 'malformed');
    assert.equal(at({ 'webhook-signature': 'v2,abcd' }), 'missing');
  });

  it('refuses stale and future timestamps; a missing header is missing', () => {
    assert.equal(at({}, BODY, NOW + 301_000), 'stale');
    assert.equal(at({}, BODY, NOW - 301_000), 'future');
    assert.equal(reason(v.verify(req({ 'webhook-id': ID, 'webhook-timestamp': TS }, BODY), NOW)), 'missing');
  });

  it('signs what it verifies (outbound callbacks), with a secret rotated in', () => {
    const headers = signStandardWebhook(SECRET, ID, Number(TS), BODY);
    assert.equal(headers['webhook-signature'], SIG);
    const rotated = createVerifier({
      scheme: 'standard-webhooks',
      secrets: ['whsec_' + Buffer.from('k2').toString('base64'), SECRET],
      toleranceS: 300,
    });
    assert.equal(reason(rotated.verify(req(headers, BODY), NOW)), 'ok');
  });
});

describe('hmac (generic)', () => {
  const NOW = 1_700_000_000_000;
  const ts = String(NOW / 1000);
  it('sha512, base64, a prefix, a timestamp header and a payload template', () => {
    const v = createVerifier({
      scheme: 'hmac',
      secrets: ['s3cret'],
      header: 'X-Signature',
      algorithm: 'sha512',
      encoding: 'base64',
      prefix: 'sha512=',
      timestampHeader: 'X-Timestamp',
      payload: 'v0:{timestamp}:{body}',
      idHeader: undefined,
      toleranceS: 60,
    });
    const sig = createHmac('sha512', 's3cret').update(`v0:${ts}:hello`).digest('base64');
    const at = (h: Record<string, string>, body = 'hello', now = NOW) => reason(v.verify(req(h, body), now));
    assert.equal(at({ 'X-Signature': `sha512=${sig}`, 'X-Timestamp': ts }), 'ok');
    assert.equal(at({ 'X-Signature': `sha512=${sig}`, 'X-Timestamp': ts }, 'hello!'), 'mismatch');
    assert.equal(at({ 'X-Signature': sig, 'X-Timestamp': ts }), 'malformed');
    assert.equal(at({ 'X-Signature': `sha512=${sig}` }), 'missing');
    assert.equal(at({ 'X-Signature': `sha512=${sig}`, 'X-Timestamp': ts }, 'hello', NOW + 61_000), 'stale');
  });

  it('sha256 hex of the body alone, and an id in the template', () => {
    const plain = createVerifier({
      scheme: 'hmac',
      secrets: ['k'],
      header: 'X-Sig',
      algorithm: 'sha256',
      encoding: 'hex',
      prefix: '',
      timestampHeader: undefined,
      payload: '{id}.{body}',
      idHeader: 'X-Delivery',
      toleranceS: 300,
    });
    const sig = hmacHex('k', 'abc.{"a":1}');
    assert.deepEqual(plain.verify(req({ 'X-Sig': sig, 'X-Delivery': 'abc' }, '{"a":1}'), NOW), {
      ok: true,
      deliveryId: 'abc',
      timestamp: undefined,
    });
    assert.equal(reason(plain.verify(req({ 'X-Sig': sig }, '{"a":1}'), NOW)), 'missing');
  });

  it('parses payload templates into text and slots', () => {
    assert.deepEqual(parsePayloadTemplate('{timestamp}.{body}'), [
      { slot: 'timestamp' },
      '.',
      { slot: 'body' },
    ]);
    assert.deepEqual(parsePayloadTemplate('{body}'), [{ slot: 'body' }]);
    assert.deepEqual(parsePayloadTemplate('x{other}y'), ['x{other}y']);
  });
});
