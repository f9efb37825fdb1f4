// Reads the upstream's total item count from a header or a body value, trusting only a plain count: a
// malformed total must make the totals unknown, not produce a wrong last page.

// 16 digits hold every safe integer (2^53 - 1 has 16); longer strings are never worth converting.
const COUNT_TEXT = /^[0-9]{1,16}$/;
// RFC 9110 §5.5: optional whitespace around a field value is not part of it.
const FIELD_VALUE_COUNT = /^[ \t]*([0-9]{1,16})[ \t]*$/;

/**
 * The total from a response header value: a non-negative safe integer in decimal digits, or undefined.
 * Several values (a repeated header) disagree or repeat to no purpose, so they count as unknown.
 */
export function totalFromHeader(value: string | readonly string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value.length === 1 && value[0] !== undefined) text = value[0];
  else return undefined;
  const digits = FIELD_VALUE_COUNT.exec(text)?.[1];
  return digits === undefined ? undefined : safeCount(Number(digits));
}

/** The total from a JSON body value: a non-negative safe integer, as a number or a string of digits. */
export function totalFromValue(value: unknown): number | undefined {
  if (typeof value === 'number') return safeCount(value);
  if (typeof value === 'string' && COUNT_TEXT.test(value)) return safeCount(Number(value));
  return undefined;
}

/** Whether `value` is a count paginate can compute with: a non-negative safe integer. */
export function isCount(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0;
}

function safeCount(value: number): number | undefined {
  // `+ 0` turns -0 into 0, so a JSON `-0` never prints as a negative total.
  return isCount(value) ? value + 0 : undefined;
}
