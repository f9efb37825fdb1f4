// What a policy may serve on the admin listener (part of the policy contract in policy.ts).

/** A path on the admin listener a policy may serve (declared by its definition). */
export interface AdminPath {
  /** e.g. "/cache/purge". */
  readonly path: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /**
   * The operation acts on state every process shares (a store on disk or in Redis): with `gateway.workers`
   * it is asked of one worker, not of each (a cache purge, per process, is asked of each).
   */
  readonly shared?: boolean;
}

/** An operation on the admin listener, registered by a policy instance through `ctx.admin`. */
export interface AdminAction extends AdminPath {
  /**
   * Answers one call. Throw a Problem to refuse it (it is sent as problem+json); any other failure is a
   * 503.
   */
  handle(call: AdminCall): Promise<AdminReply>;
}

export interface AdminCall {
  /** The request body parsed as JSON (at most 16 KiB); undefined when there is none or it is not JSON. */
  readonly body: unknown;
  readonly query: URLSearchParams;
}

export interface AdminReply {
  readonly status: number;
  /** Sent as JSON. */
  readonly body: unknown;
}
