// Remembers tokens that verified, so a client repeating its token costs one hash and one Map lookup
// instead of a signature check. Keyed by SHA-256 of the token (the token itself is a credential and is not
// kept as a key); bounded, oldest entry out first.
import * as crypto from 'node:crypto';

/**
 * SHA-256 of a token as a 32-character binary (latin1) string (the cheapest digest encoding to make and to hash as
 * a Map key). crypto.hash (Node ≥ 20.12) skips the Hash object; createHash before that.
 */
export const hashToken: (token: string) => string =
  typeof crypto.hash === 'function'
    ? (token) => crypto.hash('sha256', token, 'binary')
    : (token) => crypto.createHash('sha256').update(token).digest('binary');

interface Entry<T> {
  readonly value: T;
  /** Epoch ms from which the entry is no longer returned. */
  readonly until: number;
}

export class VerificationCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /**
   * Digests in insertion order, as a ring: the slot about to be reused holds the oldest. (Evicting through
   * the Map's own iterator would walk the holes earlier deletes leave at its front: O(n) per insert.)
   */
  private readonly order: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  /** The value stored under `digest` when `now` is before its end; an expired entry is dropped. */
  get(digest: string, now: number): T | undefined {
    const entry = this.entries.get(digest);
    if (entry === undefined) return undefined;
    if (now < entry.until) return entry.value;
    this.entries.delete(digest);
    return undefined;
  }

  set(digest: string, value: T, until: number): void {
    const oldest = this.order[this.next];
    if (oldest !== undefined) this.entries.delete(oldest);
    this.order[this.next] = digest;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    this.entries.set(digest, { value, until });
  }

  clear(): void {
    this.entries.clear();
    this.order.length = 0;
    this.next = 0;
  }

  get size(): number {
    return this.entries.size;
  }
}
