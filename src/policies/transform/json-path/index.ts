// One import for the transform policy: JSON paths compiled at load and the operations applied per request.
export { compileJsonPath, type CompileJsonPathOptions } from './compile-json-path.js';
export { isRefusedKey, JsonPathError, type JsonPath, type JsonPathSegment } from './json-path.js';
export { getAll, removeAt, renameAt, setValue, type SetValueOptions } from './json-path-operations.js';
export { DEFAULT_REDACTION, maskAt, maskValue, type Mask } from './mask-at.js';
