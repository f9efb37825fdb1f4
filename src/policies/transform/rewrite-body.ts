// One body through its side's plan, in memory: UTF-8 text → JSON value (parsed as JSON, or read from XML)
// → field operations → the side's finishing step → JSON or XML bytes. Shared by the request and response
// sides; what cannot be read or written comes back as an InvalidBody, never as a throw.
import { isUtf8 } from 'node:buffer';
import type { Exchange } from '../../pipeline/exchange.js';
import { applyBodyOps } from './body-ops.js';
import { InvalidBody } from './body-problems.js';
import { parseJson, plainNumbers, stringifyJson } from './body/lossless-json.js';
import type { BodyPlan } from './compile-plans.js';

/** Parses, edits and serializes one body; an InvalidBody when it is not what the plan reads or writes. */
export function rewriteBody(
  plan: BodyPlan,
  bytes: Buffer,
  ex: Exchange,
  finish: ((value: unknown) => unknown) | undefined,
): Buffer | InvalidBody {
  if (!isUtf8(bytes)) return new InvalidBody('the body is not valid UTF-8');
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  let marker: string | null = null;
  try {
    if (plan.fromXml !== undefined) value = plan.fromXml.xmlToJson(text);
    else ({ value, marker } = parseJson(text));
  } catch (err) {
    return new InvalidBody(
      `${plan.input === 'xml' ? 'invalid XML' : 'invalid JSON'}: ${(err as Error).message}`,
    );
  }
  if (plan.ops !== undefined) value = applyBodyOps(value, plan.ops, ex, marker);
  if (finish !== undefined) value = finish(value);
  if (plan.toXml === undefined) return Buffer.from(stringifyJson({ value, marker }));
  try {
    return Buffer.from(plan.toXml.jsonToXml(plainNumbers(value, marker)));
  } catch (err) {
    return new InvalidBody(`no XML form: ${(err as Error).message}`);
  }
}
