// Webhook signature verification over the raw body, before anything parses it: GitHub
// (`X-Hub-Signature-256: sha256=<hex>`), Stripe (`Stripe-Signature: t=…,v1=…`, several v1), Standard Webhooks
// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> …`, `whsec_` secrets) and a generic
// HMAC (header, sha256/sha512, hex/base64, prefix, optional timestamp header, signed-payload template).
//
// Every comparison is timing-safe (crypto.timingSafeEqual over the decoded bytes); every active secret is
// tried, so secrets rotate without downtime; a signed timestamp must be a plain integer of seconds within the
// tolerance on both sides of now (replays and clocks far ahead are refused). The verdict names the reason for
// the gateway's own metrics and logs only — the client gets one undifferentiated 401.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const REJECT_REASONS = ['missing', 'malformed', 'mismatch', 'stale', 'future'] as const;
/** Why a request was refused: no signature, one that cannot be read, a wrong one, a timestamp out of range. */
export type RejectReason = (typeof REJECT_REASONS)[number];

export type Verdict =
  | {
      readonly ok: true;
      /** The sender's delivery id when the scheme has one (Standard Webhooks `webhook-id`, GitHub's). */
      readonly deliveryId: string | undefined;
      /** The signed timestamp (seconds), when the scheme signs one. */
      readonly timestamp: number | undefined;
    }
  | { readonly ok: false; readonly reason: RejectReason };

/** What a verifier reads of a request: its headers (lower-case names) and the body as received. */
export interface SignedRequest {
  header(name: string): string | undefined;
  readonly body: Uint8Array;
}

export interface Verifier {
  /** `nowMs`: the clock (ms since the epoch), injected so tests can move it. */
  verify(req: SignedRequest, nowMs: number): Verdict;
}

export type HmacAlgorithm = 'sha256' | 'sha512';
export type SignatureEncoding = 'hex' | 'base64';

export type VerifierConfig =
  | { readonly scheme: 'github'; readonly secrets: readonly string[] }
  | { readonly scheme: 'stripe'; readonly secrets: readonly string[]; readonly toleranceS: number }
  | { readonly scheme: 'standard-webhooks'; readonly secrets: readonly string[]; readonly toleranceS: number }
  | {
      readonly scheme: 'hmac';
      readonly secrets: readonly string[];
      /** Header carrying the signature. */
      readonly header: string;
      readonly algorithm: HmacAlgorithm;
      readonly encoding: SignatureEncoding;
      /** Text before the signature in the header (`sha256=`), if any. */
      readonly prefix: string;
      /** Header carrying a signed timestamp (seconds), if the sender signs one. */
      readonly timestampHeader: string | undefined;
      /** What is signed: `{body}`, `{timestamp}` (and `{id}` with `idHeader`) in any text. */
      readonly payload: string;
      /** Header carrying the delivery id (also `{id}` in the payload template). */
      readonly idHeader: string | undefined;
      readonly toleranceS: number;
    };

/** Seconds: 1 to 10 digits, nothing else (no sign, no fraction, no spaces). */
const SECONDS = /^[0-9]{1,10}$/;
const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const MAX_SIGNATURES = 16;

/** Builds the verifier of one route; the secrets are decoded once (a `whsec_` secret is base64). */
export function createVerifier(c: VerifierConfig): Verifier {
  switch (c.scheme) {
    case 'github':
      return github(c.secrets.map(utf8));
    case 'stripe':
      return stripe(c.secrets.map(utf8), c.toleranceS);
    case 'standard-webhooks':
      return standardWebhooks(c.secrets.map(standardWebhooksKey), c.toleranceS);
    case 'hmac':
      return hmac(c);
  }
}

function utf8(secret: string): Buffer {
  return Buffer.from(secret, 'utf8');
}

/** A Standard Webhooks secret: `whsec_` and base64 of the key (without the prefix: the base64 itself). */
export function standardWebhooksKey(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!BASE64.test(b64)) throw new TypeError('a standard-webhooks secret is "whsec_" and base64');
  return Buffer.from(b64, 'base64');
}

function digest(algorithm: HmacAlgorithm, key: Buffer, parts: readonly (string | Uint8Array)[]): Buffer {
  const h = createHmac(algorithm, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Timing-safe: equal lengths compared in constant time; a length mismatch is a mismatch. */
function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function decode(text: string, encoding: SignatureEncoding): Buffer | undefined {
  if (text === '') return undefined;
  if (encoding === 'hex')
    return HEX.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : undefined;
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

/** The timestamp check: a plain integer of seconds within `toleranceS` of now, either way. */
function timestampVerdict(
  text: string | undefined,
  nowMs: number,
  toleranceS: number,
): number | RejectReason {
  if (text === undefined) return 'missing';
  if (!SECONDS.test(text)) return 'malformed';
  const t = Number(text);
  const now = Math.floor(nowMs / 1000);
  if (t < now - toleranceS) return 'stale';
  if (t > now + toleranceS) return 'future';
  return t;
}

function reject(reason: RejectReason): Verdict {
  return { ok: false, reason };
}

function github(keys: readonly Buffer[]): Verifier {
  return {
    verify(req) {
      const header = req.header('x-hub-signature-256');
      if (header === undefined) return reject('missing');
      if (!header.startsWith('sha256=')) return reject('malformed');
      const given = decode(header.slice(7), 'hex');
      if (given === undefined) return reject('malformed');
      for (const key of keys)
        if (same(digest('sha256', key, [req.body]), given))
          return { ok: true, deliveryId: req.header('x-github-delivery'), timestamp: undefined };
      return reject('mismatch');
    },
  };
}

/** `Stripe-Signature: t=1492774577,v1=5257a8…,v1=…,v0=…`: HMAC-SHA256 of `${t}.${body}`, hex. */
function stripe(keys: readonly Buffer[], toleranceS: number): Verifier {
  return {
    verify(req, nowMs) {
      const header = req.header('stripe-signature');
      if (header === undefined) return reject('missing');
      let t: string | undefined;
      const v1: Buffer[] = [];
      for (const item of header.split(',')) {
        const eq = item.indexOf('=');
        if (eq <= 0) return reject('malformed');
        const k = item.slice(0, eq).trim();
        const v = item.slice(eq + 1).trim();
        if (k === 't') {
          if (t !== undefined) return reject('malformed');
          t = v;
        } else if (k === 'v1') {
          const sig = decode(v, 'hex');
          if (sig === undefined) return reject('malformed');
          if (v1.length < MAX_SIGNATURES) v1.push(sig);
        }
      }
      if (v1.length === 0) return reject('missing');
      const ts = timestampVerdict(t, nowMs, toleranceS);
      if (typeof ts !== 'number') return reject(ts);
      for (const key of keys) {
        const expected = digest('sha256', key, [t!, '.', req.body]);
        if (v1.some((s) => same(expected, s))) return { ok: true, deliveryId: undefined, timestamp: ts };
      }
      return reject('mismatch');
    },
  };
}

/**
 * Standard Webhooks: HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${body}`, base64, listed in
 * `webhook-signature` as space-separated `v1,<base64>` (other versions, e.g. `v1a` asymmetric, are skipped).
 */
function standardWebhooks(keys: readonly Buffer[], toleranceS: number): Verifier {
  return {
    verify(req, nowMs) {
      const id = req.header('webhook-id');
      const header = req.header('webhook-signature');
      const tsText = req.header('webhook-timestamp');
      if (id === undefined || header === undefined || tsText === undefined) return reject('missing');
      if (id === '' || id.length > 256) return reject('malformed');
      const ts = timestampVerdict(tsText, nowMs, toleranceS);
      if (typeof ts !== 'number') return reject(ts);
      const given: Buffer[] = [];
      for (const item of header.split(' ')) {
        if (item === '') continue;
        const comma = item.indexOf(',');
        if (comma <= 0) return reject('malformed');
        if (item.slice(0, comma) !== 'v1') continue;
        const sig = decode(item.slice(comma + 1), 'base64');
        if (sig === undefined) return reject('malformed');
        if (given.length < MAX_SIGNATURES) given.push(sig);
      }
      if (given.length === 0) return reject('missing');
      for (const key of keys) {
        const expected = digest('sha256', key, [id, '.', tsText, '.', req.body]);
        if (given.some((s) => same(expected, s))) return { ok: true, deliveryId: id, timestamp: ts };
      }
      return reject('mismatch');
    },
  };
}

/** The parts of a payload template: literal text, and the {body}, {timestamp} and {id} slots. */
type Part = string | { readonly slot: 'body' | 'timestamp' | 'id' };

export function parsePayloadTemplate(template: string): Part[] {
  const parts: Part[] = [];
  const re = /\{(body|timestamp|id)\}/g;
  let at = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > at) parts.push(template.slice(at, m.index));
    parts.push({ slot: m[1] as 'body' | 'timestamp' | 'id' });
    at = m.index + m[0].length;
  }
  if (at < template.length) parts.push(template.slice(at));
  return parts;
}

function hmac(c: Extract<VerifierConfig, { scheme: 'hmac' }>): Verifier {
  const keys = c.secrets.map(utf8);
  const header = c.header.toLowerCase();
  const tsHeader = c.timestampHeader?.toLowerCase();
  const idHeader = c.idHeader?.toLowerCase();
  const parts = parsePayloadTemplate(c.payload);
  return {
    verify(req, nowMs) {
      const value = req.header(header);
      if (value === undefined) return reject('missing');
      if (!value.startsWith(c.prefix)) return reject('malformed');
      const given = decode(value.slice(c.prefix.length).trim(), c.encoding);
      if (given === undefined) return reject('malformed');
      let tsText: string | undefined;
      let ts: number | undefined;
      if (tsHeader !== undefined) {
        tsText = req.header(tsHeader);
        const v = timestampVerdict(tsText, nowMs, c.toleranceS);
        if (typeof v !== 'number') return reject(v);
        ts = v;
      }
      const id = idHeader === undefined ? undefined : req.header(idHeader);
      if (
        idHeader !== undefined &&
        parts.some((p) => typeof p !== 'string' && p.slot === 'id') &&
        id === undefined
      )
        return reject('missing');
      const signed = parts.map((p) =>
        typeof p === 'string' ? p : p.slot === 'body' ? req.body : p.slot === 'timestamp' ? tsText! : id!,
      );
      for (const key of keys)
        if (same(digest(c.algorithm, key, signed), given)) return { ok: true, deliveryId: id, timestamp: ts };
      return reject('mismatch');
    },
  };
}

/**
 * Signs `body` the Standard Webhooks way (for outbound callbacks and tests): the three headers a receiver
 * verifies, with `secret` a `whsec_` secret.
 */
export function signStandardWebhook(
  secret: string,
  id: string,
  timestampS: number,
  body: Uint8Array | string,
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const ts = String(timestampS);
  const sig = digest('sha256', standardWebhooksKey(secret), [id, '.', ts, '.', body]).toString('base64');
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
}
