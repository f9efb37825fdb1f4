// The error every shared-state store throws when it cannot answer in time (Redis down or slow): the policy
// using the store decides what that means for the request (`on_store_error`, a cache miss).

/** The store did not answer (down, or slower than its timeout). */
export class StoreUnavailable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreUnavailable';
  }
}
