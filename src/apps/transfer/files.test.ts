import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { rejection, tempDir } from "../../../test/helpers/net.ts";
import { SocketError, TransferError } from "../../core/errors.ts";
import { diskError, openPart, targetDir, targetPath } from "./files.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: the controls are what is matched
const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f\p{Bidi_Control}]/u;

/** Asserts `promise` rejects with a TransferError of `code` whose message is safe to print. */
async function refusal(promise: Promise<unknown>, code: string): Promise<TransferError> {
  const err = await rejection(promise, TransferError, code);
  assert.doesNotMatch(err.message, TERMINAL_CONTROL);
  return err;
}

describe("targetPath and targetDir", () => {
  it("refuse a path too long for the system before making a folder", async (t) => {
    const dir = await realpath(await tempDir(t));
    const name = `${`${"a".repeat(254)}/`.repeat(15)}${"f".repeat(255)}`;
    const err = await refusal(targetDir(dir, name), "ERR_TRANSFER_NAME");
    assert.match(err.message, /its path would be \d+ bytes, over the system's limit/);
    await refusal(targetPath(dir, name), "ERR_TRANSFER_NAME");
    assert.deepEqual(await readdir(dir), []);
  });

  it("refuse a file whose .part would be a name over 255 bytes", async (t) => {
    const dir = await realpath(await tempDir(t));
    const err = await refusal(targetPath(dir, `sub/${"f".repeat(251)}`), "ERR_TRANSFER_NAME");
    assert.match(err.message, /with \.part added, its last part is over 255 bytes/);
    assert.deepEqual(await readdir(dir), [], "not even the folder on the way");
    assert.equal(await targetPath(dir, "f".repeat(250)), join(dir, "f".repeat(250)));
  });

  it("show a refused name with its control characters escaped", async (t) => {
    const dir = await realpath(await tempDir(t));
    await writeFile(join(dir, "\u202eplain"), "x");
    const err = await refusal(targetDir(dir, "\u202eplain/sub"), "ERR_TRANSFER_NAME");
    assert.equal(
      err.message,
      'Refused the file name "\\u202eplain/sub": "\\u202eplain" is not a directory here',
    );
    const exists = await refusal(targetPath(dir, "\u202eplain"), "ERR_TRANSFER_EXISTS");
    assert.match(exists.message, /^Refused "\\u202eplain": it exists/);
  });

  it("say with a code that the folder received into is missing", async (t) => {
    const dir = await realpath(await tempDir(t));
    await assert.rejects(targetPath(join(dir, "gone"), "a.txt"), (err: unknown) => {
      assert.ok(err instanceof SocketError);
      assert.equal(err.code, "ENOENT");
      assert.match(err.message, /^Cannot open the folder ".*gone": no such file or directory$/);
      return true;
    });
  });
});

describe("openPart", () => {
  it("opens NAME.part anew, or to append to", async (t) => {
    const dir = await realpath(await tempDir(t));
    const final = join(dir, "a.txt");
    let fh = await openPart(final, "a.txt", false);
    await fh.write("abc");
    await fh.close();
    fh = await openPart(final, "a.txt", true);
    await fh.write("def");
    await fh.close();
    assert.equal(await readFile(`${final}.part`, "utf8"), "abcdef");
  });

  it("refuses the name when a link was planted at the .part after the checks", async (t) => {
    const dir = await realpath(await tempDir(t));
    const final = await targetPath(dir, "a.txt");
    await writeFile(join(dir, "elsewhere"), "keep");
    await symlink(join(dir, "elsewhere"), `${final}.part`);
    for (const append of [false, true]) {
      const err = await refusal(openPart(final, "a.txt", append), "ERR_TRANSFER_NAME");
      assert.match(err.message, /a symbolic link is in the way/);
    }
    assert.equal(await readFile(join(dir, "elsewhere"), "utf8"), "keep");
  });

  it("keeps the system's code for a failure that is not the name's", async (t) => {
    const dir = await realpath(await tempDir(t));
    await assert.rejects(openPart(join(dir, "no", "a.txt"), "no/a.txt", false), (err: unknown) => {
      assert.ok(err instanceof SocketError);
      assert.equal(err.code, "ENOENT");
      assert.equal(err.message, 'Cannot open "no/a.txt.part": no such file or directory');
      return true;
    });
    assert.equal(existsSync(join(dir, "no")), false);
  });
});

describe("diskError", () => {
  it("gives a full disk its code and words, naming the file", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
    });
    const err = diskError(enospc, "big.bin", 'write "big.bin.part"');
    assert.ok(err instanceof SocketError);
    assert.equal(err.code, "ENOSPC");
    assert.equal(err.message, 'Cannot write "big.bin.part": no space left on device');
  });

  it("refuses the name for a path the system will not take", () => {
    const err = diskError({ code: "ENAMETOOLONG" }, "\u202elong", "open");
    assert.ok(err instanceof TransferError);
    assert.equal(err.code, "ERR_TRANSFER_NAME");
    assert.equal(
      err.message,
      'Refused the file name "\\u202elong": the system refuses it (file name too long)',
    );
  });
});
