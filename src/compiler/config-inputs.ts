// The files a config depends on besides itself (the consumers file) and the config hash that covers them:
// a change of the config text or of any input changes the hash, and reloads.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Files besides the config a build depends on, with the content it read (undefined: read later). */
export type ConfigInputs = Map<string, Buffer | undefined>;

/** sha256 over the inputs' paths and contents ("" when there are none), read now. */
export function digestInputs(paths: readonly string[]): string {
  return digestContents(paths.map((p) => [p, undefined]));
}

/**
 * sha256 over the inputs' paths and contents ("" when there are none). A content given is the one the
 * build read, so a file changed while the config compiled still differs from the digest afterwards (and
 * its reload is not taken for "unchanged"); one not given is read now. A missing file counts as empty.
 */
export function digestContents(inputs: Iterable<readonly [string, Buffer | undefined]>): string {
  let h: ReturnType<typeof createHash> | undefined;
  for (const [p, content] of inputs) {
    h ??= createHash('sha256');
    h.update(p + '\0');
    if (content !== undefined) {
      h.update(content);
      continue;
    }
    try {
      h.update(readFileSync(p));
    } catch {
      h.update('\0missing');
    }
  }
  return h === undefined ? '' : h.digest('hex');
}

/** The last text hashed: a reload hashes its text to see whether it changed, and the build again. */
let last: { readonly text: string; readonly hash: string } | undefined;

function hashConfigText(text: string): string {
  if (last?.text === text) return last.hash;
  last = { text, hash: createHash('sha256').update(text).digest('hex') };
  return last.hash;
}

/**
 * The config hash (`/readyz`, `portico_config_info`, reload logs): the sha256 of the config text, or, when
 * the config depends on other files (the consumers file), a sha256 over the text's hash and their digest,
 * so a change of either shows.
 */
export function configHash(text: string, inputsDigest: string): string {
  const textHash = hashConfigText(text);
  if (inputsDigest === '') return textHash;
  return createHash('sha256').update(`${textHash}\0${inputsDigest}`).digest('hex');
}
