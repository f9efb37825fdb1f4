// Keys read from a webhook request — the idempotency key and the delivery order key: text with
// `${header.<Name>}` (a request header) and `${body.<field>.<field>}` (a field of a JSON body, a string or a
// number) slots, compiled once per route. A key whose slot is absent is undefined: the caller then falls
// back (idempotency: the scheme's delivery id; order: no order).

/** What a key reads of a request; `json` parses the body at most once, and only for a template that needs it. */
export interface KeySource {
  header(name: string): string | undefined;
  json(): unknown;
}

type Part = string | { readonly header: string } | { readonly body: readonly string[] };

const SLOT = /\$\{(header\.([!#$%&'*+.^_`|~0-9A-Za-z-]+)|body((?:\.[A-Za-z0-9_-]+)+))\}/g;
/** Longest key kept (longer values are cut, so a hostile header cannot grow the store's index). */
const MAX_KEY = 512;

export interface KeyTemplate {
  /** The key of this request, or undefined when a slot has no value. */
  read(source: KeySource): string | undefined;
  /** The template reads the body (so the body must be JSON). */
  readonly readsBody: boolean;
}

export function compileKeyTemplate(template: string): KeyTemplate {
  const parts: Part[] = [];
  let at = 0;
  for (const m of template.matchAll(SLOT)) {
    if (m.index > at) parts.push(template.slice(at, m.index));
    parts.push(m[2] !== undefined ? { header: m[2].toLowerCase() } : { body: m[3]!.slice(1).split('.') });
    at = m.index + m[0].length;
  }
  if (at < template.length) parts.push(template.slice(at));
  if (!parts.some((p) => typeof p !== 'string'))
    throw new TypeError(`no \${header.…} or \${body.…} in "${template}"`);
  const readsBody = parts.some((p) => typeof p !== 'string' && 'body' in p);
  return {
    readsBody,
    read(source) {
      let key = '';
      for (const p of parts) {
        if (typeof p === 'string') key += p;
        else {
          const v = 'header' in p ? source.header(p.header) : field(source.json(), p.body);
          if (v === undefined || v === '') return undefined;
          key += v;
        }
      }
      return key.length > MAX_KEY ? key.slice(0, MAX_KEY) : key;
    },
  };
}

/** A string or a finite number at `path` of a parsed JSON value, as text. */
function field(value: unknown, path: readonly string[]): string | undefined {
  let v = value;
  for (const name of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, name)) return undefined;
    v = (v as Record<string, unknown>)[name];
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}
