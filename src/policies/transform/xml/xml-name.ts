// JSON keys are any string, XML names are not: this is the one place that says which keys are used as
// element and attribute names unchanged and how the others are made into names, so no key can produce
// markup that is not well-formed (or a processing instruction, comment or second attribute in disguise).

// XML 1.0 (5th ed.) §2.3 NameStartChar and NameChar, without ":" (Namespaces in XML 1.0 §3, NCName).
const NC_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NC_CHAR = `${NC_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040`;
const NCNAME = `[${NC_START}][${NC_CHAR}]*`;

// The classes are code point ranges (combining marks, ZWNJ-ZWJ), not the character sequences the rule fears.
/* eslint-disable no-misleading-character-class */
const QNAME = new RegExp(`^${NCNAME}(?::${NCNAME})?$`, 'u');
const NOT_NC_CHAR = new RegExp(`[^${NC_CHAR}]`, 'gu');
const STARTS_NAME = new RegExp(`^[${NC_START}]`, 'u');
/* eslint-enable no-misleading-character-class */

/**
 * Whether `name` is a qualified name (Namespaces in XML 1.0 §3): an NCName, or `prefix:local` with one
 * colon. These are the names a namespace-aware parser (any SOAP stack) accepts, so they are the ones kept.
 */
export function isXmlName(name: string): boolean {
  return QNAME.test(name);
}

/** Whether `text` begins with a character that can begin an XML name (":" excluded, as in an NCName). */
export function startsXmlName(text: string): boolean {
  return STARTS_NAME.test(text);
}

/**
 * The element or attribute name for a JSON key. A qualified name (`item`, `soap:Body`, `xmlns:soap` after
 * the attribute prefix) is kept as written; any other key has each character that cannot appear in an
 * NCName (space, a second colon, `<`, `?`, `!`, a lone surrogate…) replaced by `_`, and `_` put in front
 * when it would not start with a letter or `_` (`2fa` → `_2fa`, `""` → `_`, `a b` → `a_b`). Lossy on
 * purpose: a body is converted rather than refused over one odd key. Distinct keys can meet on one name
 * (`a b` and `a_b`); elements then simply repeat, attributes are refused by the caller.
 */
export function xmlName(key: string): string {
  if (QNAME.test(key)) return key;
  const name = key.replace(NOT_NC_CHAR, '_');
  return STARTS_NAME.test(name) ? name : `_${name}`;
}
