// The one error a conversion throws for its input, so the transform policy can answer every bad body the
// same way (and say where in the document the problem is).

/**
 * A body that cannot be converted: malformed XML, a DOCTYPE, an undefined entity, nesting deeper than
 * the depth limit, or a JSON value with no XML form (an object as an attribute value, colliding
 * attribute names). `line` and `column` (1-based) are set when the position is known.
 */
export class XmlError extends Error {
  readonly line?: number;
  readonly column?: number;

  constructor(
    message: string,
    position?: { readonly line: number; readonly column?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'XmlError';
    if (position !== undefined) {
      this.line = position.line;
      if (position.column !== undefined) this.column = position.column;
    }
  }
}

/** Whatever fast-xml-parser or the entity decoder threw, as an XmlError that keeps it as the cause. */
export function asXmlError(error: unknown, context = ''): XmlError {
  if (error instanceof XmlError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new XmlError(context + message, undefined, { cause: error });
}
