// HTTP caching semantics for the edge cache policy: RFC 9111 (shared cache) and RFC 9110 conditionals as
// pure functions of header fields and times, with no I/O and no state.

export {
  parseCacheControl,
  parseDeltaSeconds,
  DELTA_SECONDS_MAX,
  type CacheControl,
} from './cache-control.js';
export { initialAgeMs, currentAgeMs, ageHeader, type AgeBasis } from './current-age.js';
export {
  parseEntityTag,
  parseEntityTagList,
  weakMatch,
  type EntityTag,
  type EntityTagList,
} from './entity-tag.js';
export {
  evaluateConditional,
  notModifiedHeaders,
  validatorsOf,
  type Validators,
} from './evaluate-conditional.js';
export { fieldValue, firstFieldLine, type RequestHeaderGetter, type ResponseHeaders } from './field-value.js';
export { freshnessState, type FreshnessInfo, type FreshnessState } from './freshness-state.js';
export { parseHttpDate, formatHttpDate } from './http-date.js';
export { normalizeQuery, normalizePercentEncoding } from './normalize-query.js';
export { revalidationHeaders, mergeNotModified, NOT_UPDATED_BY_304 } from './revalidation-headers.js';
export {
  storability,
  type StorabilityInput,
  type StorableResponse,
  type UnstorableResponse,
  type UnstorableReason,
} from './storability.js';
export { surrogateTags, MAX_SURROGATE_TAGS, MAX_SURROGATE_TAG_LENGTH } from './surrogate-tags.js';
export { varySpec, varyValues, normalizeFieldValue } from './vary.js';
