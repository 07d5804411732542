import assert from "node:assert/strict";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { rejection, tempDir } from "../../../test/helpers/net.ts";
import { SocketError, TransferError } from "../../core/errors.ts";
import { hasNative, native, nativeMissingReason } from "../../native/index.ts";
import { diskError, listSources } from "./files.ts";

const noAddon = hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`;

// biome-ignore lint/suspicious/noControlCharactersInRegex: the controls are what is matched
const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f\p{Bidi_Control}]/u;

/** Asserts `promise` rejects with a TransferError of `code` whose message is safe to print. */
async function _refusal(promise: Promise<unknown>, code: string): Promise<TransferError> {
  const err = await rejection(promise, TransferError, code);
  assert.doesNotMatch(err.message, TERMINAL_CONTROL);
  return err;
}

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

describe("listSources", () => {
  it("lists files sorted, with sizes and exec bits, and empty folders; leaves out links and sockets", async (t) => {
    const top = await tempDir(t);
    const root = join(top, "pics");
    mkdirSync(join(root, "sub", "deeper"), { recursive: true });
    mkdirSync(join(root, "empty"));
    writeFileSync(join(root, "b.txt"), "bee");
    writeFileSync(join(root, "a.sh"), "#!/bin/sh\n");
    chmodSync(join(root, "a.sh"), 0o755);
    writeFileSync(join(root, "sub", "deeper", "c"), Buffer.alloc(70_000));
    symlinkSync("/etc/passwd", join(root, "link"));
    const server = createServer();
    await new Promise<void>((r) => server.listen(join(root, "sock"), r));
    t.after(() => server.close());
    const tree = await listSources([root]);
    assert.deepEqual(
      tree.files.map((f) => [f.rel, f.size, f.exec]),
      [
        ["pics/a.sh", 10, true],
        ["pics/b.txt", 3, false],
        ["pics/sub/deeper/c", 70_000, false],
      ],
    );
    assert.deepEqual(tree.emptyDirs, ["pics/empty"]);
    assert.deepEqual(tree.skipped.sort(), [join(root, "link"), join(root, "sock")]);
  });
});

describe("the addon's reading for a sender of small files", { skip: noAddon }, () => {
  it("reads files whole, one after another, and says which one failed and how", async (t) => {
    const dir = await tempDir(t);
    const [a, b] = [join(dir, "a"), join(dir, "b")];
    writeFileSync(a, "alpha");
    writeFileSync(b, "be");
    const io = native("test");
    assert.equal(io.readFiles([a, b, a], [5, 2, 5]).toString(), "alphabealpha");
    assert.equal(io.readFiles([], []).length, 0);
    // Listed longer than it now is: it got shorter since.
    const short = (() => {
      try {
        io.readFiles([a, b], [5, 3]);
      } catch (err) {
        return err as { code: string; index: number };
      }
    })();
    assert.equal(short?.code, "ESHORT");
    assert.equal(short?.index, 1);
    assert.throws(() => io.readFiles([a, join(dir, "gone")], [5, 1]), {
      code: "ENOENT",
      index: 1,
    });
  });

  it("looks up a folder's names without following links: mode and size, or -errno", async (t) => {
    const dir = await tempDir(t);
    writeFileSync(join(dir, "f"), "12345");
    mkdirSync(join(dir, "d"));
    symlinkSync("f", join(dir, "l"));
    const modes = native("test").lstatNames(dir, ["f", "d", "l", "missing"]);
    const type = (i: number) => (modes[2 * i] as number) & 0o170000;
    assert.equal(type(0), 0o100000);
    assert.equal(modes[1], 5);
    assert.equal(type(1), 0o040000);
    assert.equal(type(2), 0o120000);
    assert.ok((modes[6] as number) < 0, "a missing name: -ENOENT");
  });
});
