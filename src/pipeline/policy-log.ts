// The smallest parts of the policy contract (policy.ts), which its other parts share.

export type Awaitable<T> = T | Promise<T>;

/** The part of the event logger policies use. */
export interface PolicyLog {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  warn(fields: Readonly<Record<string, unknown>>, message: string): void;
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
}
