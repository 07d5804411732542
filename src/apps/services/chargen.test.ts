import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chargenLine } from "./chargen.ts";

describe("chargenLine", () => {
  it("gives 72 printable characters and CRLF, each line starting one character further", () => {
    const printable72 = Array.from({ length: 72 }, (_, i) => String.fromCharCode(32 + i)).join("");
    assert.equal(chargenLine(0).toString("latin1"), `${printable72}\r\n`);
    assert.equal(chargenLine(1).toString("latin1").slice(0, 3), '!"#');
    assert.equal(chargenLine(94).toString("latin1").slice(0, 2), "~ ", "the pattern wraps");
    assert.deepEqual(chargenLine(95), chargenLine(0), "the pattern turns every 95 lines");
  });
});
