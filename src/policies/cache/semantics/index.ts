// HTTP caching semantics for the edge cache policy: RFC 9111 (shared cache) and RFC 9110 conditionals as
// pure functions of header fields and times, with no I/O and no state. Cache-Control is parsed by
// lib/cache-control.ts; this is what the policy (and index.test.ts) uses of the folder.

export { currentAgeMs, ageHeader } from './current-age.js';
export { evaluateConditional, notModifiedHeaders, validatorsOf } from './evaluate-conditional.js';
export { fieldValue, firstFieldLine, type RequestHeaderGetter } from './field-value.js';
export { freshnessState } from './freshness-state.js';
export { formatHttpDate } from './http-date.js';
export { normalizeQuery } from './normalize-query.js';
export { revalidationHeaders, mergeNotModified } from './revalidation-headers.js';
export { storability, type StorabilityInput } from './storability.js';
export { surrogateTags } from './surrogate-tags.js';
export { varySpec, varyValues } from './vary.js';
