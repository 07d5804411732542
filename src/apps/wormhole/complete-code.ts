import { completeWord } from "./wordlist.ts";

/**
 * Completion of a code being typed, as `wormhole receive` offers it at its prompt.
 * @module
 */

/** Options of {@link completeCode}. */
export interface CompleteCodeOptions {
  /** The nameplates in use on the server (its `list`), to complete the number with. @default [] */
  nameplates?: readonly string[];
  /** Words a code has: each but the last completes with its hyphen. @default 2 */
  words?: number;
}

/**
 * The codes that complete `typed`, sorted: while no hyphen is typed, the nameplates in use
 * that start with it, each with its hyphen; after it, the PGP words that complete the
 * last word (odd words first, then even, in turn, as wormhole chooses them), each with a
 * hyphen while more words are due. Empty when nothing fits (a nameplate that is not a
 * number, a word in no list).
 *
 * @example
 * ```ts
 * import { completeCode } from "./complete-code.ts";
 * completeCode("", { nameplates: ["7", "12"] }); // ["12-", "7-"]
 * completeCode("7-adr"); // ["7-adroitness-"]
 * completeCode("7-adroitness-aard"); // ["7-adroitness-aardvark"]
 * ```
 */
export function completeCode(typed: string, options: CompleteCodeOptions = {}): string[] {
  const dash = typed.indexOf("-");
  if (dash === -1) {
    if (!/^\d*$/.test(typed)) return [];
    return (options.nameplates ?? [])
      .filter((n) => /^\d+$/.test(n) && n.startsWith(typed))
      .map((n) => `${n}-`)
      .sort();
  }
  const nameplate = typed.slice(0, dash);
  if (!/^\d+$/.test(nameplate)) return [];
  const words = typed.slice(dash + 1);
  const more = words.split("-").length < (options.words ?? 2) ? "-" : "";
  return completeWord(words)
    .map((w) => `${nameplate}-${w}${more}`)
    .sort();
}
