// The `token` character class of RFC 9110 §5.6.2 (header names, directive names, methods): one lookup
// table built at load, so scanning a field costs one array read per character.

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) {
  TCHAR[c] = 1;
  TCHAR[c + 0x20] = 1;
}

/** Whether the UTF-16 code unit `code` is a tchar (RFC 9110 §5.6.2). */
export function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** Whether `text` is a non-empty token (RFC 9110 §5.6.2). */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (!isTchar(text.charCodeAt(i))) return false;
  return true;
}

/** Index of the first character at or after `i` that is not optional whitespace (SP / HTAB, §5.6.3). */
export function skipOws(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09) break;
    i++;
  }
  return i;
}

/** The tchar class as a regular-expression fragment, for patterns built around a token. */
export const TCHAR_CLASS = "[!#$%&'*+.^_`|~0-9A-Za-z-]";
/** A token as a JSON Schema pattern: header field names (RFC 9110 §5.1), auth schemes, directive names. */
export const TOKEN_PATTERN = `^${TCHAR_CLASS}+$`;
/** A header field name (RFC 9110 §5.1: a token), as a JSON Schema pattern. */
export const HEADER_NAME_PATTERN = TOKEN_PATTERN;
