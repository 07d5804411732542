import assert from "node:assert/strict";
import { test } from "node:test";
import { completeCode } from "./complete-code.ts";
import { EVEN_WORDS, ODD_WORDS } from "./wordlist.ts";

test("with no hyphen typed, the nameplates in use that start with it, each with its hyphen", () => {
  const nameplates = ["7", "12", "15", "3"];
  assert.deepEqual(completeCode("", { nameplates }), ["12-", "15-", "3-", "7-"]);
  assert.deepEqual(completeCode("1", { nameplates }), ["12-", "15-"]);
  assert.deepEqual(completeCode("12", { nameplates }), ["12-"]);
  assert.deepEqual(completeCode("4", { nameplates }), []);
  assert.deepEqual(completeCode("1"), [], "no list from the server: nothing to offer");
  assert.deepEqual(completeCode("x", { nameplates }), [], "a nameplate is a number");
});

test("the first word is an odd word, completed with its hyphen while a second is due", () => {
  assert.deepEqual(completeCode("7-adr"), ["7-adroitness-"]);
  const all = completeCode("7-");
  assert.equal(all.length, 256);
  assert.deepEqual(
    all,
    [...ODD_WORDS].sort().map((w) => `7-${w}-`),
  );
  // "aardvark" is an even word: never offered first.
  assert.deepEqual(completeCode("7-aard"), []);
});

test("the second word is an even word, and the last: no hyphen after it", () => {
  assert.deepEqual(completeCode("7-adroitness-aard"), ["7-adroitness-aardvark"]);
  assert.deepEqual(completeCode("7-adroitness-adro"), [], "adroitness is odd");
  const b = completeCode("12-crossover-b");
  assert.deepEqual(
    b,
    EVEN_WORDS.filter((w) => w.startsWith("b"))
      .sort()
      .map((w) => `12-crossover-${w}`),
  );
  assert.ok(b.length > 1);
});

test("longer codes alternate odd and even words, the last without a hyphen", () => {
  assert.deepEqual(completeCode("3-adroitness-aardvark-adv", { words: 3 }), [
    "3-adroitness-aardvark-adviser",
  ]);
  assert.deepEqual(completeCode("3-adroitness-aardv", { words: 3 }), ["3-adroitness-aardvark-"]);
  assert.deepEqual(completeCode("3-adroitness-aardvark-aard", { words: 3 }), []);
});

test("a nameplate that is not a number completes to nothing", () => {
  assert.deepEqual(completeCode("x-adr"), []);
  assert.deepEqual(completeCode("-adr"), []);
});
