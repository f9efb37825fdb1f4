// Field builders shared by the config schemas (schema.ts, upstream-schema.ts), so a duration reads and
// fails the same everywhere.
import { Type } from '@sinclair/typebox';

/** A duration in whole milliseconds, 1 ms to 1 day. */
export const Millis = (description: string, def?: number) =>
  Type.Integer({
    minimum: 1,
    maximum: 86_400_000,
    description,
    ...(def === undefined ? {} : { default: def }),
    'x-expected': 'a whole number of milliseconds (1 or more)',
  });
