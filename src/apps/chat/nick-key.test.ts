import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { nickKey } from "./nick-key.ts";

describe("nickKey", () => {
  it("gives look-alikes of a nickname its key: case, compatibility forms, other scripts, invisibles", () => {
    const alice = nickKey("alice");
    for (const same of [
      "Alice",
      "ALICE",
      "\u0430lice",
      "\uff41\uff4c\uff49\uff43\uff45",
      "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}",
      "alice\u3164",
      "al\u200bice",
    ]) {
      assert.equal(nickKey(same), alice, JSON.stringify(same));
    }
    assert.equal(nickKey("rn"), nickKey("m"), "UTS #39's own example");
    assert.equal(nickKey("b0b"), nickKey("bob"));
    assert.notEqual(nickKey("alicia"), alice);
    assert.notEqual(nickKey("bob"), nickKey("rob"));
  });

  it("reads Unicode's confusables table as shipped", () => {
    const data = JSON.parse(
      readFileSync(new URL("../../../data/confusables.json", import.meta.url), "utf8"),
    ) as { version: string; map: Record<string, string> };
    assert.match(data.version, /^\d+\.\d+\.\d+$/);
    assert.ok(Object.keys(data.map).length > 6000);
    assert.equal(data.map["\u0430"], "a");
  });
});
