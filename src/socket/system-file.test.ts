import assert from "node:assert/strict";
import { utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/helpers/net.ts";
import { readParsed, unreadable } from "./system-file.ts";

describe("readParsed", () => {
  it("parses a file once, and again once it changes", async (t) => {
    const file = join(await tempDir(t), "db");
    await writeFile(file, "one");
    let parses = 0;
    const parse = (text: string) => {
      parses++;
      return text.toUpperCase();
    };
    assert.equal(await readParsed(file, parse), "ONE");
    assert.equal(await readParsed(file, parse), "ONE");
    assert.equal(parses, 1);
    await writeFile(file, "two");
    const later = new Date(Date.now() + 5000);
    await utimes(file, later, later);
    assert.equal(await readParsed(file, parse), "TWO");
    assert.equal(parses, 2);
  });

  it("rejects with the fs error for a missing file, which unreadable words", async (t) => {
    const file = join(await tempDir(t), "none");
    let caught: unknown;
    await assert.rejects(
      readParsed(file, (s) => s),
      (err) => {
        caught = err;
        return true;
      },
    );
    assert.equal(unreadable(file, caught), `${file} does not exist`);
    assert.equal(
      unreadable(file, { code: "EACCES" }),
      `${file} cannot be read (permission denied)`,
    );
  });
});
