// Which bodies a transform can read: JSON (application/json, any +json) and XML (application/xml, text/xml,
// any +xml), told from the Content-Type without allocating for the common spellings.

export type BodyKind = 'json' | 'xml';

/** The media type's essence (type/subtype, lowercase), or '' when there is none. */
export function mediaTypeOf(contentType: string | string[] | undefined): string {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  if (value === undefined) return '';
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** Whether a media type essence is of `kind`; an absent type counts as any kind (the parse decides). */
export function isKind(essence: string, kind: BodyKind): boolean {
  if (essence === '') return true;
  if (kind === 'json') return essence === 'application/json' || essence.endsWith('+json');
  return essence === 'application/xml' || essence === 'text/xml' || essence.endsWith('+xml');
}

export const JSON_CONTENT_TYPE = 'application/json';
export const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';
