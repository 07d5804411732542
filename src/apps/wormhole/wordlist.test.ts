import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseWords, completeWord, EVEN_WORDS, ODD_WORDS } from "./wordlist.ts";

test("the PGP word list: 256 even and 256 odd words, all distinct, as wormhole has them", () => {
  assert.equal(EVEN_WORDS.length, 256);
  assert.equal(ODD_WORDS.length, 256);
  assert.equal(new Set([...EVEN_WORDS, ...ODD_WORDS]).size, 512);
  assert.deepEqual(
    [EVEN_WORDS[0], ODD_WORDS[0], EVEN_WORDS[255], ODD_WORDS[255]],
    ["aardvark", "adroitness", "zulu", "yucatan"],
  );
});

test("a code's words alternate odd and even, starting with an odd word", () => {
  for (let i = 0; i < 50; i++) {
    const words = chooseWords(3).split("-");
    assert.equal(words.length, 3);
    assert.ok(ODD_WORDS.includes(words[0] as string));
    assert.ok(EVEN_WORDS.includes(words[1] as string));
    assert.ok(ODD_WORDS.includes(words[2] as string));
  }
  // A CSPRNG's choice: 20 codes of two words are not all the same.
  assert.ok(new Set(Array.from({ length: 20 }, () => chooseWords(2))).size > 1);
});

test("completion offers odd words first, then even ones", () => {
  assert.ok(completeWord("adr").includes("adroitness"));
  assert.deepEqual(completeWord("adroitness-aardv"), ["adroitness-aardvark"]);
});
