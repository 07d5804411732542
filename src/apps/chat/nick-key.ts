import { readFileSync } from "node:fs";

/** Unicode's confusables (UTS #39), shipped in `data/` and updated by `scripts/update-confusables.mjs`. */
const DATA = new URL("../../../data/confusables.json", import.meta.url);

let table: Map<string, string> | null = null;

/** The table, read on first use. */
function confusables(): Map<string, string> {
  if (table === null) {
    const data = JSON.parse(readFileSync(DATA, "utf8")) as { map: Record<string, string> };
    table = new Map(Object.entries(data.map));
  }
  return table;
}

const fold = (text: string) => text.toUpperCase().toLowerCase();

/**
 * What two nicknames must not share: the nickname after NFKC and case folding, without
 * invisible characters, as its confusable skeleton (UTS #39: NFD, each character replaced
 * by its prototype in Unicode's confusables.txt, NFD again), folded again. `alice`, `ALICE`,
 * `аlice` (Cyrillic а), fullwidth `ａｌｉｃｅ` and mathematical bold `𝐚𝐥𝐢𝐜𝐞` all have the
 * same key.
 *
 * @example
 * ```ts
 * import { nickKey } from "./nick-key.ts";
 * nickKey("\u0430lice") === nickKey("Alice"); // true
 * ```
 */
export function nickKey(nick: string): string {
  const map = confusables();
  const folded = fold(nick.normalize("NFKC"))
    .normalize("NFKC")
    .replace(/\p{Default_Ignorable_Code_Point}/gu, "")
    .normalize("NFD");
  let skeleton = "";
  for (const char of folded) skeleton += map.get(char) ?? char;
  return fold(skeleton.normalize("NFD"));
}
