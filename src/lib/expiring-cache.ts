// A bounded map whose entries end at a given time: verified tokens, auth answers, issued-token lookups.
// When full, the oldest entry leaves first, in O(1): a ring of keys in insertion order says which one
// (evicting through the Map's own iterator would walk the holes earlier deletes leave at its front, O(n)
// per insert).

interface Entry<T> {
  readonly value: T;
  /** Milliseconds (on the caller's clock) from which the entry is no longer returned. */
  readonly until: number;
}

export class ExpiringCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Keys in insertion order, as a ring: the slot about to be reused holds the oldest. */
  private readonly order: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('an ExpiringCache holds at least one entry');
  }

  /** The value stored under `key` when `now` is before its end; an expired entry is dropped. */
  get(key: string, now: number): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (now < entry.until) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Stores `value` under `key` until `until`; a key already held keeps its place in the eviction order. */
  set(key: string, value: T, until: number): void {
    if (this.entries.has(key)) {
      this.entries.set(key, { value, until });
      return;
    }
    const oldest = this.order[this.next];
    if (oldest !== undefined) this.entries.delete(oldest);
    this.order[this.next] = key;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    this.entries.set(key, { value, until });
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
