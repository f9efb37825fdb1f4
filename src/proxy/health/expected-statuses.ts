// The config form of a health check's expected statuses ("2xx", "200-299", 204) compiled once into a lookup
// table, so a probe's verdict is one array read and a bad spec fails when the config is loaded.

/** What a probe accepts when the config says nothing: success and redirects, as most load balancers do. */
const DEFAULT_SPEC: readonly string[] = ['200-399'];

const MIN_STATUS = 100;
const MAX_STATUS = 599;

/**
 * Parses the config form of expected statuses: a list of numbers and/or "2xx"-style classes and/or
 * "200-299" ranges (a quoted "204" is one status). Throws one Error naming every bad entry. Default when
 * undefined: 200-399.
 */
export function expectedStatuses(
  spec: readonly (number | string)[] | undefined,
): (status: number) => boolean {
  const entries = spec ?? DEFAULT_SPEC;
  if (entries.length === 0) throw new Error('expected statuses: the list is empty; no probe could succeed');
  const accepted = new Uint8Array(MAX_STATUS + 1);
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const range = parseEntry(entry);
    if (typeof range === 'string') problems.push(`entry ${index} (${JSON.stringify(entry)}) ${range}`);
    else accepted.fill(1, range[0], range[1] + 1);
  });
  if (problems.length > 0) throw new Error(`expected statuses: ${problems.join('; ')}`);
  return function isExpectedStatus(status: number): boolean {
    return accepted[status] === 1;
  };
}

/** An inclusive [low, high] range, or why the entry is not one. */
function parseEntry(entry: number | string): readonly [number, number] | string {
  if (typeof entry === 'number') return checkRange(entry, entry);
  if (typeof entry !== 'string') return 'is neither a number nor a string';
  const text = entry.trim();
  const statusClass = /^([1-5])xx$/i.exec(text);
  if (statusClass) {
    const low = Number(statusClass[1]) * 100;
    return [low, low + 99];
  }
  const range = /^(\d+)\s*-\s*(\d+)$/.exec(text);
  if (range) return checkRange(Number(range[1]), Number(range[2]));
  if (/^\d+$/.test(text)) return checkRange(Number(text), Number(text));
  return 'is not a status, a class like "2xx" or a range like "200-299"';
}

function checkRange(low: number, high: number): readonly [number, number] | string {
  for (const n of [low, high])
    if (!Number.isInteger(n) || n < MIN_STATUS || n > MAX_STATUS)
      return `is not an HTTP status (${MIN_STATUS}-${MAX_STATUS})`;
  if (low > high) return 'is a range whose start is above its end';
  return [low, high];
}
