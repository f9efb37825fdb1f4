// xml_to_json: refuses DOCTYPE, validates with fast-xml-parser (for the error's line and column), parses
// with the strict entity decoder, then shapes the result by the shared mapping.
import { XMLParser, XMLValidator, type X2jOptions } from 'fast-xml-parser';
import { strictEntityDecoder } from './strict-entity-decoder.js';
import { XmlError, asXmlError } from './xml-error.js';
import { MAX_XML_DEPTH, type XmlMapping, type XmlToJsonOptions } from './xml-mapping.js';

// XML 1.0 §2.3 S: the only whitespace XML knows (String.prototype.trim would also strip NBSP and others).
const EDGE_SPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;

const DOCTYPE = '<!DOCTYPE';

// 1-based line and column of a UTF-16 index, counted as XMLValidator counts them.
function positionAt(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  return { line, column: index - lineStart + 1 };
}

// Text beside child elements is indentation or mixed content: trimmed, and dropped when only whitespace.
// Text of a leaf element is kept exactly.
function tidy(value: unknown, mapping: XmlMapping): void {
  if (Array.isArray(value)) {
    for (const item of value) tidy(item, mapping);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const element = value as Record<string, unknown>;
  let hasChildren = false;
  for (const key of Object.keys(element)) {
    if (key === mapping.textKey || key.startsWith(mapping.prefix)) continue;
    hasChildren = true;
    tidy(element[key], mapping);
  }
  const text = element[mapping.textKey];
  if (!hasChildren || typeof text !== 'string') return;
  const trimmed = text.replace(EDGE_SPACE, '');
  if (trimmed === '') delete element[mapping.textKey];
  else element[mapping.textKey] = trimmed;
}

/** The xml_to_json conversion for one mapping; the parser is made once. Throws {@link XmlError}. */
export function xmlReader(mapping: XmlMapping, options: XmlToJsonOptions): (text: string) => unknown {
  const alwaysArray: ReadonlySet<string> = new Set(options.alwaysArray ?? []);
  const parseValues = options.parseValues ?? false;
  const parserOptions: X2jOptions = {
    ignoreAttributes: false,
    attributeNamePrefix: mapping.prefix,
    textNodeName: mapping.textKey,
    parseTagValue: parseValues,
    parseAttributeValue: parseValues,
    // Identifiers such as 007 and 0x1F stay strings.
    numberParseOptions: { hex: false, leadingZeros: false, eNotation: true },
    trimValues: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    processEntities: true,
    entityDecoder: strictEntityDecoder,
    // The parser allows one level more than it is told.
    maxNestedTags: MAX_XML_DEPTH - 1,
    jPath: false,
    isArray: (name, path, _leaf, isAttribute) =>
      isAttribute !== true && typeof path !== 'string' && path.getDepth() > 1 && alwaysArray.has(name),
  };
  const parser = new XMLParser(parserOptions);

  return function xmlToJson(text) {
    // XXE and entity expansion live in the DTD; a body has no business declaring one (OWASP XXE
    // prevention: disallow DOCTYPE). Refused anywhere, even inside a comment, rather than parsed around.
    const doctype = text.indexOf(DOCTYPE);
    if (doctype !== -1) {
      throw new XmlError('DOCTYPE declarations are not accepted', positionAt(text, doctype));
    }
    const verdict = XMLValidator.validate(text);
    if (verdict !== true) {
      const { msg, line, col } = verdict.err;
      throw new XmlError(msg, { line, ...(typeof col === 'number' ? { column: col } : {}) });
    }
    let parsed: unknown;
    try {
      parsed = parser.parse(text);
    } catch (error) {
      throw asXmlError(error);
    }
    const roots = typeof parsed === 'object' && parsed !== null ? Object.entries(parsed) : [];
    const [root] = roots;
    if (roots.length !== 1 || root === undefined || Array.isArray(root[1])) {
      throw new XmlError('an XML document has exactly one document element');
    }
    const [name, content] = root;
    tidy(content, mapping);
    return mapping.keepRoot ? { [name]: content } : content;
  };
}
