// Turns rendered text into what its destination can carry: a header value is octets with no CR, LF, NUL or
// other controls (RFC 9110 5.5), JSON text is Unicode. Node holds header values one char per octet (latin1).

/** Where a template's output goes; decided when it is compiled. */
export type TemplateTarget = 'header' | 'text';

/** An encoder for one kind of value; returns its input unchanged (no allocation) in the common case. */
export type Encode = (value: string) => string;

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// RFC 9110 5.5: CR, LF and NUL must be rejected or replaced with SP; the other controls are not field-vchar
// either (Node and undici refuse them). HTAB is allowed.
function isControl(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

/** The index of the first character a header value may not hold (a control other than HTAB), or -1. */
export function firstControl(text: string): number {
  for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return i;
  return -1;
}

/** Each control character replaced by SP (RFC 9110 5.5). */
function replaceControls(value: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    if (!isControl(value.charCodeAt(i))) continue;
    out += value.slice(from, i) + ' ';
    from = i + 1;
  }
  return from === 0 ? value : out + value.slice(from);
}

/** The first index at or after `from` whose char code is above `max`, or -1. */
function firstAbove(value: string, max: number, from = 0): number {
  for (let i = from; i < value.length; i++) if (value.charCodeAt(i) > max) return i;
  return -1;
}

/**
 * Unicode text (a query value, a consumer id, a literal) → a header value: controls become SP, and text
 * that is not ASCII goes as its UTF-8 octets, the encoding a client percent-encoded it from.
 */
export function textToField(value: string): string {
  const first = firstControl(value);
  const wide = firstAbove(value, 0x7f);
  if (first < 0 && wide < 0) return value;
  const clean = first < 0 ? value : replaceControls(value);
  return wide < 0 ? clean : Buffer.from(clean, 'utf8').toString('latin1');
}

/**
 * A request header value (octets) → a header value: the octets are kept as the client sent them, controls
 * become SP. A char above U+00FF (only another policy could have put it there) makes it Unicode text.
 */
export function octetsToField(value: string): string {
  const clean = firstControl(value) < 0 ? value : replaceControls(value);
  return firstAbove(clean, 0xff) < 0 ? clean : Buffer.from(clean, 'utf8').toString('latin1');
}

/** A request header value (octets) → Unicode text: octets that form valid UTF-8 are decoded, others kept. */
export function octetsToText(value: string): string {
  if (firstAbove(value, 0x7f) < 0 || firstAbove(value, 0xff) >= 0) return value;
  try {
    return UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** Unicode text stays as it is: JSON (or whatever encodes the output) escapes what it must. */
export function textToText(value: string): string {
  return value;
}
