// RFC 9457 problem details: the one error type the data plane throws and the one body shape clients see.

/** A gateway-made error response. Thrown by policies or the proxy; turned into problem+json by run-pipeline. */
export class Problem extends Error {
  readonly status: number;
  /** Stable machine name, e.g. "route-not-found"; also the access log's `problem` field. */
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** Extra response headers (e.g. Allow, Retry-After). */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** Extension members added to the JSON body (RFC 9457 section 3.2). */
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(init: {
    code: string;
    status: number;
    title: string;
    detail?: string;
    headers?: Record<string, string>;
    extensions?: Record<string, unknown>;
    cause?: unknown;
  }) {
    super(init.detail ?? init.title, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'Problem';
    this.code = init.code;
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail;
    this.headers = init.headers;
    this.extensions = init.extensions;
  }
}

/** Base of every problem `type` URI; documented in docs/errors.md. */
const PROBLEM_TYPE_BASE = 'https://portico.dev/problems/';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The JSON body for a problem; the trace id is always present so a client can quote it. */
export function problemBody(problem: Problem, traceId: string, instance?: string): string {
  const body: Record<string, unknown> = {
    type: PROBLEM_TYPE_BASE + problem.code,
    title: problem.title,
    status: problem.status,
  };
  if (problem.detail !== undefined) body.detail = problem.detail;
  if (instance !== undefined) body.instance = instance;
  body.trace_id = traceId;
  if (problem.extensions !== undefined) {
    for (const [k, v] of Object.entries(problem.extensions)) if (!(k in body)) body[k] = v;
  }
  return JSON.stringify(body);
}
