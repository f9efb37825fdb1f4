// fast-xml-parser decodes references through a pluggable decoder; its default leaves numeric character
// references undecoded and unknown entities as literal text. This one decodes exactly what a document
// without a DTD may contain and refuses the rest, so no declared entity (XXE, billion laughs) ever expands.
import type { EntityDecoderOptions } from 'fast-xml-parser';

// XML 1.0 §4.6: the five predefined entities. A Map, so `&constructor;` finds nothing inherited.
const PREDEFINED: ReadonlyMap<string, string> = new Map([
  ['lt', '<'],
  ['gt', '>'],
  ['amp', '&'],
  ['apos', "'"],
  ['quot', '"'],
]);

// Where the reference starting at `amp` ends (its ";"), or -1 when it does not end before another "&", a
// "<", whitespace or the end of the text.
function referenceEnd(text: string, amp: number): number {
  for (let i = amp + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3b) return i;
    if (c === 0x26 || c === 0x3c || c <= 0x20) return -1;
  }
  return -1;
}

// XML 1.0 §2.2 Char: a reference may only name a character a document may contain (§4.1 WFC: Legal Character).
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

function characterReference(body: string): string {
  const code = /^#x[0-9A-Fa-f]+$/.test(body)
    ? Number.parseInt(body.slice(2), 16)
    : /^#[0-9]+$/.test(body)
      ? Number.parseInt(body.slice(1), 10)
      : Number.NaN;
  if (!isXmlChar(code)) throw new SyntaxError(`"&${body};" is not a reference to an XML character`);
  return String.fromCodePoint(code);
}

function resolve(body: string): string {
  const text = PREDEFINED.get(body);
  if (text !== undefined) return text;
  if (body.startsWith('#')) return characterReference(body);
  throw new SyntaxError(`entity "&${body};" is not defined (only XML's five are)`);
}

// A scan rather than a regex replace with a callback: several times faster on text dense with references.
function decode(text: string): string {
  let amp = text.indexOf('&');
  if (amp === -1) return text;
  let decoded = '';
  let from = 0;
  while (amp !== -1) {
    const end = referenceEnd(text, amp);
    if (end === -1) {
      throw new SyntaxError(
        `"&" must start a reference ending in ";" (found "${text.slice(amp, amp + 12)}")`,
      );
    }
    decoded += text.slice(from, amp) + resolve(text.slice(amp + 1, end));
    from = end + 1;
    amp = text.indexOf('&', from);
  }
  return decoded + text.slice(from);
}

/**
 * The decoder given to fast-xml-parser: `&lt; &gt; &amp; &apos; &quot;` and character references
 * (`&#233;`, `&#xE9;`) are decoded; an undefined entity, a bare `&`, or a reference to a character XML
 * forbids (`&#0;`) throws `SyntaxError`. Entities a DOCTYPE declares are refused outright (the caller
 * rejects DOCTYPE before parsing; this is the second wall), and external entities are never fetched.
 * Stateless, so one instance serves every parser.
 */
export const strictEntityDecoder: EntityDecoderOptions = Object.freeze({
  decode,
  addInputEntities(entities: Record<string, string>): void {
    if (Object.keys(entities).length > 0) throw new SyntaxError('entity declarations are not accepted');
  },
  setExternalEntities(entities: Record<string, string>): void {
    if (Object.keys(entities).length > 0) throw new SyntaxError('external entities are not accepted');
  },
  reset(): void {},
  setXmlVersion(): void {},
});
