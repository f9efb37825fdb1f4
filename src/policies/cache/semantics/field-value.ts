// How this folder reads header fields: response headers as Node hands them over (lowercase names, one
// string or one string per field line), request headers through a getter that already joined the lines.

/** Response header fields: lowercase names; a string, or one string per field line. */
export type ResponseHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** A request header field by lowercase name, its lines joined with ", "; undefined when absent. */
export type RequestHeaderGetter = (name: string) => string | undefined;

/** The field value of `name`, its lines joined with ", " as for a list-based field (RFC 9110 §5.3). */
export function fieldValue(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined || typeof value === 'string') return value;
  return value.length === 0 ? undefined : value.join(', ');
}

/**
 * The first line of a singleton field such as ETag or Date: joining would corrupt it (an entity-tag and an
 * HTTP-date can both hold a comma), and RFC 9110 §5.5 lets a recipient use the first instance.
 */
export function firstFieldLine(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined || typeof value === 'string') return value;
  return value[0];
}
