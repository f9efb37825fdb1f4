// json_to_xml: maps a JSON value onto fast-xml-parser's ordered node form and lets its builder write the
// markup, so escaping and tag syntax never come from string concatenation here.
import { XMLBuilder, type XmlBuilderOptions } from 'fast-xml-parser';
import { XmlError, asXmlError } from './xml-error.js';
import { MAX_XML_DEPTH, type XmlMapping } from './xml-mapping.js';
import { xmlName } from './xml-name.js';

// The builder's escape table (its `entities` option, left out of its typings), applied in this order to
// text and attribute values. "&" first so later references are not escaped again. TAB, LF and CR go as
// character references so attribute-value normalisation (XML 1.0 §3.3.3) and end-of-line handling (§2.11)
// in the receiving parser cannot turn them into spaces or LF.
const ESCAPES: readonly { readonly regex: RegExp; readonly val: string }[] = [
  { regex: /&/g, val: '&amp;' },
  { regex: /</g, val: '&lt;' },
  { regex: />/g, val: '&gt;' },
  { regex: /"/g, val: '&quot;' },
  { regex: /'/g, val: '&apos;' },
  { regex: /\t/g, val: '&#9;' },
  { regex: /\n/g, val: '&#10;' },
  { regex: /\r/g, val: '&#13;' },
];

// XML 1.0 §2.2: characters no document may contain, not even as references; each becomes U+FFFD.
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

type Node = Record<string, unknown>;

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textOf(value: unknown, what: string): string | undefined {
  switch (typeof value) {
    case 'string':
      return value.replace(NOT_XML_CHAR, '\uFFFD');
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return undefined;
    default:
      if (value === null) return undefined;
      throw new XmlError(`${what} must be a string, number, boolean or null`);
  }
}

// The JSON side, as the builder's ordered form: [{ name: children, ":@": { "@attr": "value" } }, { "#text": "…" }].
function jsonToNodes(mapping: XmlMapping) {
  const { prefix, textKey, itemElement } = mapping;

  function element(name: string, value: unknown, depth: number): Node {
    if (depth > MAX_XML_DEPTH) throw new XmlError(`JSON nests deeper than ${MAX_XML_DEPTH} elements`);
    if (!isRecord(value)) return { [name]: content(name, value, depth) };
    const children: Node[] = [];
    const attributes = new Map<string, string>();
    for (const [key, child] of Object.entries(value)) {
      if (key === textKey) {
        const text = textOf(child, `"${key}"`);
        if (text !== undefined && text !== '') children.push({ [textKey]: text });
      } else if (key.startsWith(prefix)) {
        const text = textOf(child, `attribute "${key}"`);
        if (text === undefined) continue;
        const attribute = prefix + xmlName(key.slice(prefix.length));
        if (attributes.has(attribute)) {
          throw new XmlError(`attribute "${key}" has the same XML name as another attribute of <${name}>`);
        }
        attributes.set(attribute, text);
      } else {
        children.push(...elements(xmlName(key), child, depth + 1));
      }
    }
    const node: Node = { [name]: children };
    if (attributes.size > 0) node[':@'] = Object.fromEntries(attributes);
    return node;
  }

  // The children of an element holding a value that is not an object.
  function content(name: string, value: unknown, depth: number): Node[] {
    if (Array.isArray(value)) {
      return value.flatMap((item: unknown) =>
        item === undefined ? [] : [element(itemElement, item, depth + 1)],
      );
    }
    const text = textOf(value, `the content of <${name}>`);
    return text === undefined || text === '' ? [] : [{ [textKey]: text }];
  }

  // The elements a key gives: one, or one per item when the value is an array.
  function elements(name: string, value: unknown, depth: number): Node[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) return [element(name, value, depth)];
    return value.flatMap((item: unknown) => (item === undefined ? [] : [element(name, item, depth)]));
  }

  return function documentNodes(value: unknown): Node[] {
    if (!mapping.keepRoot) return [element(mapping.rootElement, value, 1)];
    const keys = isRecord(value) ? Object.keys(value).filter((key) => value[key] !== undefined) : [];
    const [key] = keys;
    if (
      keys.length !== 1 ||
      key === undefined ||
      key === textKey ||
      key.startsWith(prefix) ||
      !isRecord(value)
    ) {
      throw new XmlError('with keepRoot, the value must be an object with exactly one element key');
    }
    const root = value[key];
    if (Array.isArray(root)) throw new XmlError('with keepRoot, the document element cannot be an array');
    return [element(xmlName(key), root, 1)];
  };
}

/** The json_to_xml conversion for one mapping; the builder is made once. Throws {@link XmlError}. */
export function xmlWriter(mapping: XmlMapping): (value: unknown) => string {
  const builderOptions: XmlBuilderOptions & { readonly entities: typeof ESCAPES } = {
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: mapping.prefix,
    textNodeName: mapping.textKey,
    suppressEmptyNode: true,
    suppressBooleanAttributes: false,
    processEntities: true,
    entities: ESCAPES,
    // The depth limit is enforced (with a clearer message) while mapping the value; this is a backstop.
    maxNestedTags: MAX_XML_DEPTH + 1,
  };
  const builder = new XMLBuilder(builderOptions);
  const nodes = jsonToNodes(mapping);
  const declaration: Node = {
    '?xml': [],
    ':@': { [`${mapping.prefix}version`]: '1.0', [`${mapping.prefix}encoding`]: 'UTF-8' },
  };
  return function jsonToXml(value) {
    const document = nodes(value);
    try {
      return builder.build(mapping.declaration ? [declaration, ...document] : document) as string;
    } catch (error) {
      throw asXmlError(error, 'JSON has no XML form: ');
    }
  };
}
