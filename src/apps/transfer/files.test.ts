import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { constants as osConstants } from "node:os";
import { basename, join } from "node:path";
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
  const sha = (text: string) => createHash("sha256").update(text).digest("hex");
  /** The error `promise` rejects with (it must reject). */
  const failure = async (promise: Promise<unknown>) =>
    (await promise.then(
      () => assert.fail("it should have failed"),
      (err: unknown) => err,
    )) as { code: string; index: number; path: string; syscall?: string };

  it("reads files whole, one after another, and hashes each", async (t) => {
    const dir = await tempDir(t);
    const [a, b] = [join(dir, "a"), join(dir, "b")];
    writeFileSync(a, "alpha");
    writeFileSync(b, "be");
    const io = native("test");
    const read = await io.readFiles([a, b, a], [5, 2, 5]);
    assert.equal(read.data.toString(), "alphabealpha");
    assert.deepEqual(read.sums, [sha("alpha"), sha("be"), sha("alpha")]);
    const none = await io.readFiles([], []);
    assert.equal(none.data.length, 0);
    assert.deepEqual(none.sums, []);
    // An empty file: the hash of nothing.
    writeFileSync(join(dir, "empty"), "");
    assert.deepEqual((await io.readFiles([join(dir, "empty")], [0])).sums, [sha("")]);
  });

  it("says which file failed and how: shorter than listed, gone, a folder", async (t) => {
    const dir = await tempDir(t);
    const [a, b] = [join(dir, "a"), join(dir, "b")];
    writeFileSync(a, "alpha");
    writeFileSync(b, "be");
    const io = native("test");
    // Listed longer than it now is: it got shorter since (changed while it was read).
    const short = await failure(io.readFiles([a, b], [5, 3]));
    assert.equal(short.code, "ESHORT");
    assert.equal(short.index, 1);
    assert.equal(short.path, b);
    const gone = await failure(io.readFiles([a, join(dir, "gone")], [5, 1]));
    assert.equal(gone.code, "ENOENT");
    assert.equal(gone.index, 1);
    mkdirSync(join(dir, "d"));
    const folder = await failure(io.readFiles([join(dir, "d")], [1]));
    assert.equal(folder.code, "EISDIR");
    assert.equal(folder.syscall, "read");
    // A mistake of the caller, at once.
    assert.throws(() => io.readFiles([a], [5, 1]), TypeError);
  });

  it("does not wait for a writer when a FIFO was put where a file was listed", async (t) => {
    const dir = await tempDir(t);
    const fifo = join(dir, "fifo");
    if (spawnSync("mkfifo", [fifo]).status !== 0) return t.skip("mkfifo is not available");
    const err = await failure(native("test").readFiles([fifo], [10]));
    // No writer: the read ends at once, as a file that got shorter.
    assert.equal(err.code, "ESHORT");
    assert.equal(err.index, 0);
  });

  it("refuses a file this process may not read", async (t) => {
    if (process.getuid?.() === 0) return t.skip("running as root, which reads any file");
    const dir = await tempDir(t);
    const secret = join(dir, "secret");
    writeFileSync(secret, "hidden");
    chmodSync(secret, 0);
    const err = await failure(native("test").readFiles([secret], [6]));
    assert.equal(err.code, "EACCES");
    assert.equal(err.syscall, "open");
  });

  it("lists a folder sorted, without following links: mode and size, or -errno", async (t) => {
    const dir = await tempDir(t);
    writeFileSync(join(dir, "f"), "12345");
    mkdirSync(join(dir, "d"));
    symlinkSync("f", join(dir, "l"));
    symlinkSync("nowhere", join(dir, "dangling"));
    // Not valid UTF-8: a string could not give its bytes back.
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff])]), "x");
    const { names, stats } = native("test").listFolder(dir);
    assert.deepEqual(names, ["bad-\ufffd", "d", "dangling", "f", "l"]);
    const type = (i: number) => (stats[2 * i] as number) & 0o170000;
    assert.equal(stats[0], -(osConstants.errno.EILSEQ as number));
    assert.equal(type(1), 0o040000);
    assert.equal(type(2), 0o120000);
    assert.equal(type(3), 0o100000);
    assert.equal(stats[7], 5);
    assert.equal(type(4), 0o120000);
    assert.deepEqual(native("test").listFolder(join(dir, "d")).names, []);
    assert.throws(() => native("test").listFolder(join(dir, "missing")), { code: "ENOENT" });
    assert.throws(() => native("test").listFolder(join(dir, "f")), { code: "ENOTDIR" });
  });
});

describe("the addon's listing of a big folder", { skip: noAddon }, () => {
  it("looks up every name of a folder of thousands (split between two threads) alike", async (t) => {
    const dir = await tempDir(t);
    const names = Array.from({ length: 3000 }, (_, i) => `f${String(i).padStart(4, "0")}`);
    for (const [i, name] of names.entries()) writeFileSync(join(dir, name), "x".repeat(i % 7));
    // At the end of the order, in the half the second thread looks up.
    mkdirSync(join(dir, "zz-dir"));
    symlinkSync("f0001", join(dir, "zz-link"));
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/zz-`), Buffer.from([0xff])]), "x");
    const { names: got, stats } = native("test").listFolder(dir);
    assert.deepEqual(got, [...names, "zz-dir", "zz-link", "zz-\ufffd"]);
    for (let i = 0; i < 3000; i++) {
      assert.equal((stats[2 * i] as number) & 0o170000, 0o100000, got[i]);
      assert.equal(stats[2 * i + 1], i % 7, got[i]);
    }
    assert.equal((stats[6000] as number) & 0o170000, 0o040000);
    assert.equal((stats[6002] as number) & 0o170000, 0o120000);
    assert.equal(stats[6004], -(osConstants.errno.EILSEQ as number));
    // The name that is not UTF-8 fails the listing; without it, all is listed.
    await assert.rejects(listSources([dir]), { code: "ENOENT" });
    rmSync(Buffer.concat([Buffer.from(`${dir}/zz-`), Buffer.from([0xff])]));
    const tree = await listSources([dir]);
    assert.equal(tree.files.length, 3000);
    assert.deepEqual(tree.skipped, [join(dir, "zz-link")]);
    assert.deepEqual(tree.emptyDirs, [`${basename(dir)}/zz-dir`]);
  });
});

describe("listSources, a name that is not UTF-8", () => {
  it("fails the listing with the folder's path, before anything is sent", async (t) => {
    const top = await tempDir(t);
    mkdirSync(join(top, "pics"));
    writeFileSync(Buffer.concat([Buffer.from(`${top}/pics/`), Buffer.from([0xfe, 0x41])]), "x");
    await assert.rejects(listSources([join(top, "pics")]), { code: "ENOENT" });
  });
});
