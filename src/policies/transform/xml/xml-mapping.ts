// The conventions json_to_xml and xml_to_json share, as options with documented defaults, and their
// checks: a mapping that could read one key two ways (attribute or element, text or element) is refused.
import { isXmlName, startsXmlName } from './xml-name.js';

/**
 * How JSON maps to XML, shared by both directions so that `xmlToJson(jsonToXml(v))` gives `v` back (as
 * strings) for objects of elements, attributes and text. The document element is an envelope: on the way
 * out the whole value goes inside it, on the way in its content comes back without its name, unless
 * `keepRoot` says the value names it.
 */
export interface XmlOptions {
  /**
   * Name of the document element json_to_xml puts the value in (default `root`). The name never comes from
   * the value: `{"order": {...}}` gives `<root><order>…</order></root>` however many keys the object has.
   * Attributes at the top of the value go on this element. Ignored with `keepRoot`, and by xml_to_json,
   * which accepts any document element.
   */
  readonly rootElement?: string;
  /**
   * The value carries the document element (default false). json_to_xml then needs an object with exactly
   * one element key, whose name and content make the document (`{"order": {"@id": "7"}}` →
   * `<order id="7"/>`), and xml_to_json returns `{ "<document element>": content }`. Without it,
   * xml_to_json returns the content alone and the name is lost.
   */
  readonly keepRoot?: boolean;
  /**
   * Keys starting with this are attributes (default `@`): `{"order": {"@id": "7", "item": "mug"}}` →
   * `<order id="7"><item>mug</item></order>`. An attribute value is a string, number or boolean; `null`
   * leaves the attribute out. Must not be empty nor begin with a character that can begin an XML name, so
   * no element name is ever mistaken for an attribute.
   */
  readonly attributePrefix?: string;
  /**
   * Key of an element's text when it also has attributes or children (default `#text`): `{"@id": "7",
   * "#text": "mug"}` ↔ `<x id="7">mug</x>`. Must not be an XML name (it could not be told from a child
   * element) nor start with `attributePrefix`.
   */
  readonly textKey?: string;
  /**
   * json_to_xml only: element name for the items of an array that has no key of its own, a top-level array
   * or an array inside an array (default `item`). A keyed array repeats its key instead:
   * `{"item": [1, 2]}` → `<item>1</item><item>2</item>`; `[1, 2]` → `<root><item>1</item><item>2</item></root>`;
   * `{"row": [[1, 2]]}` → `<row><item>1</item><item>2</item></row>`.
   */
  readonly itemElement?: string;
  /** json_to_xml only: begin with `<?xml version="1.0" encoding="UTF-8"?>` (default true). */
  readonly declaration?: boolean;
}

/** Options of xml_to_json on top of the shared mapping. */
export interface XmlToJsonOptions extends XmlOptions {
  /**
   * Turn decimal numbers and `true`/`false` in text and attributes into JSON numbers and booleans (default
   * false: every value stays a string). Text with leading zeros (`007`), hexadecimal (`0x1F`) or more digits
   * than a double holds stays a string, so identifiers survive.
   */
  readonly parseValues?: boolean;
  /**
   * Element names that always give an array, even when the element occurs once (`["item"]`: one `<item>`
   * gives `"item": ["mug"]`). Matched against the name as written, prefix included; never the document
   * element.
   */
  readonly alwaysArray?: readonly string[];
}

/**
 * Deepest element nesting either direction accepts, document element included. Bounds work and stack on
 * hostile input; far beyond any real payload.
 */
export const MAX_XML_DEPTH = 100;

/** The options with their defaults applied and checked; what the reader and writer are built from. */
export interface XmlMapping {
  readonly rootElement: string;
  readonly keepRoot: boolean;
  readonly prefix: string;
  readonly textKey: string;
  readonly itemElement: string;
  readonly declaration: boolean;
}

/** Defaults applied and every option checked; throws `RangeError` for an invalid one. */
export function xmlMapping(options: XmlOptions): XmlMapping {
  const mapping: XmlMapping = {
    rootElement: options.rootElement ?? 'root',
    keepRoot: options.keepRoot ?? false,
    prefix: options.attributePrefix ?? '@',
    textKey: options.textKey ?? '#text',
    itemElement: options.itemElement ?? 'item',
    declaration: options.declaration ?? true,
  };
  for (const [option, name] of [
    ['rootElement', mapping.rootElement],
    ['itemElement', mapping.itemElement],
  ] as const) {
    if (!isXmlName(name)) throw new RangeError(`xml: ${option} "${name}" is not an XML name`);
  }
  if (mapping.prefix === '' || startsXmlName(mapping.prefix)) {
    throw new RangeError(`xml: attributePrefix "${mapping.prefix}" is empty or begins like an XML name`);
  }
  if (mapping.textKey === '' || isXmlName(mapping.textKey) || mapping.textKey.startsWith(mapping.prefix)) {
    throw new RangeError(
      `xml: textKey "${mapping.textKey}" is empty, an XML name, or starts with attributePrefix "${mapping.prefix}"`,
    );
  }
  return mapping;
}
