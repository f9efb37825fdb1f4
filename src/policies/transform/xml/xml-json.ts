// json_to_xml and xml_to_json: one mapping between JSON values and XML documents, applied in both
// directions, with fast-xml-parser doing all the XML syntax (building, escaping, parsing, validating).
import { XmlError } from './xml-error.js';
import { MAX_XML_DEPTH, xmlMapping, type XmlOptions, type XmlToJsonOptions } from './xml-mapping.js';
import { xmlReader } from './xml-reader.js';
import { xmlWriter } from './xml-writer.js';

export { MAX_XML_DEPTH, XmlError, type XmlOptions, type XmlToJsonOptions };

/** Conversions compiled once for one set of options; the builder and parser are reused by every call. */
export interface XmlCodec {
  /** The value as an XML document (UTF-8 text). Throws {@link XmlError}. */
  jsonToXml(value: unknown): string;
  /** The document as a JSON value. Throws {@link XmlError}. */
  xmlToJson(text: string): unknown;
}

/**
 * Compiles the options once (throws `RangeError` for invalid ones, so a config fails when it loads) and
 * returns both conversions. Building the parser and builder costs microseconds, not worth paying per body.
 */
export function xmlCodec(options: XmlToJsonOptions = {}): XmlCodec {
  const mapping = xmlMapping(options);
  return { jsonToXml: xmlWriter(mapping), xmlToJson: xmlReader(mapping, options) };
}

/**
 * The JSON value as an XML document, by {@link XmlOptions}:
 * - an object's keys become child elements in key order, `attributePrefix` keys attributes, `textKey` text;
 *   keys that are not XML names are made into names as `xmlName` says;
 * - an array repeats its key's element once per item (an empty array gives none); items of an unkeyed
 *   array are `itemElement` elements;
 * - strings, numbers and booleans are text; `null`, `""` and `{}` give an empty element (`<a/>`);
 * - text and attribute values are escaped by the builder (`& < > " '`, TAB, LF and CR as references);
 *   characters XML cannot carry at all (most C0 controls, lone surrogates, U+FFFE/U+FFFF) become U+FFFD.
 * Throws {@link XmlError} for a value with no XML form and `RangeError` for invalid options.
 */
export function jsonToXml(value: unknown, options: XmlOptions = {}): string {
  return xmlWriter(xmlMapping(options))(value);
}

/**
 * The XML document as JSON, by the same conventions: attributes under `attributePrefix`, an element with
 * only text is a string, with attributes too `{ "@a": …, "#text": … }`, an empty element `""`; repeated
 * elements become an array (and `alwaysArray` ones always); values stay strings unless `parseValues`.
 * Text beside child elements (indentation, mixed content) is trimmed and dropped when blank; comments,
 * processing instructions and the declaration are dropped; CDATA is text. Names come back as written;
 * fast-xml-parser refuses elements named `__proto__`, `constructor` or `prototype` and prefixes names of
 * other Object.prototype members with `__` (`toString` → `__toString`).
 * Throws {@link XmlError} for malformed XML (with line and column when known), any DOCTYPE, an undefined
 * entity or nesting deeper than {@link MAX_XML_DEPTH}; `RangeError` for invalid options.
 */
export function xmlToJson(text: string, options: XmlToJsonOptions = {}): unknown {
  return xmlReader(xmlMapping(options), options)(text);
}
