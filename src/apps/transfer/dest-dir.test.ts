import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { hash } from "node:crypto";
import { close, constants, open } from "node:fs";
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { rejection, tempDir } from "../../../test/helpers/net.ts";
import { SocketError, TransferError } from "../../core/errors.ts";
import { hasNative, native, nativeMissingReason } from "../../native/index.ts";
import { DestDir, isReserved, STAGING_DIR, stagedPath } from "./dest-dir.ts";

const beneathReason =
  process.platform !== "linux"
    ? "calls beneath a folder are Linux only"
    : hasNative()
      ? false
      : `the native addon is absent (${nativeMissingReason()})`;

/** A destination folder `root` and, beside it, a folder `outside` it must never touch. */
async function setup(t: TestContext): Promise<{ dest: DestDir; root: string; outside: string }> {
  const top = await tempDir(t);
  const root = join(top, "dest");
  const outside = join(top, "outside");
  await mkdir(root);
  await mkdir(outside);
  const dest = await DestDir.open(root);
  t.after(() => dest.close());
  return { dest, root: dest.root, outside };
}

/** Receives `data` as `rel` the way the receiver does: prepare, stage, commit. */
async function receive(dest: DestDir, rel: string, data: string, overwrite = false): Promise<void> {
  assert.equal(await dest.prepare(rel, { overwrite }), "new");
  assert.equal(await dest.stagedSize(rel), 0);
  const file = await dest.openStaged(rel, false);
  try {
    await file.write([Buffer.from(data)]);
  } finally {
    await file.close();
  }
  await dest.commit(rel, overwrite);
}

/** What identifies a file's bytes and metadata: any write, truncation or chmod changes it. */
async function fingerprint(path: string): Promise<string> {
  const s = await lstat(path);
  const data = await readFile(path);
  return JSON.stringify([s.ino, s.size, s.mtimeMs, s.ctimeMs, s.mode, data.toString("hex")]);
}

describe("DestDir", () => {
  it("uses the calls beneath a folder when the addon is there", {
    skip: beneathReason,
  }, async (t) => {
    const { dest } = await setup(t);
    assert.equal(dest.beneath, true);
  });

  it("works by path when the addon is absent", {
    skip: beneathReason ? false : "the native addon is built (npm run test:no-native runs this)",
  }, async (t) => {
    const { dest } = await setup(t);
    assert.equal(dest.beneath, false);
  });

  it("opens only a folder that exists", async (t) => {
    const top = await tempDir(t);
    await rejection(DestDir.open(join(top, "gone")), SocketError, "ENOENT");
    await writeFile(join(top, "file"), "x");
    const err = await rejection(DestDir.open(join(top, "file")), SocketError, "ENOTDIR");
    assert.match(err.message, /^Cannot open the folder ".*file": /);
  });

  it("leaves a user's notes.part and backup.tar.part alone while notes and backup.tar arrive", async (t) => {
    const { dest, root } = await setup(t);
    await writeFile(join(root, "notes.part"), "my own notes, not a partial file\n");
    await writeFile(join(root, "backup.tar.part"), Buffer.alloc(3000, 7));
    const before = [
      await fingerprint(join(root, "notes.part")),
      await fingerprint(join(root, "backup.tar.part")),
    ];
    // Not offered for resumption: the sender would otherwise skip that many bytes.
    assert.equal(await dest.stagedSize("notes"), 0);
    assert.equal(await dest.stagedSize("backup.tar"), 0);
    await receive(dest, "notes", "received notes");
    await receive(dest, "backup.tar", "received tar");
    assert.equal(await readFile(join(root, "notes"), "utf8"), "received notes");
    assert.equal(await readFile(join(root, "backup.tar"), "utf8"), "received tar");
    assert.deepEqual(
      [
        await fingerprint(join(root, "notes.part")),
        await fingerprint(join(root, "backup.tar.part")),
      ],
      before,
    );
  });

  it("receives a name ending in .part as an ordinary name, apart from the name without it", async (t) => {
    const { dest, root } = await setup(t);
    await receive(dest, "a.part", "the file a.part");
    await receive(dest, "a", "the file a");
    assert.equal(await readFile(join(root, "a.part"), "utf8"), "the file a.part");
    assert.equal(await readFile(join(root, "a"), "utf8"), "the file a");
    assert.deepEqual((await readdir(root)).sort(), [STAGING_DIR, "a", "a.part"]);
  });

  it("stages a name at the same path inside the staging folder every time", async (t) => {
    const { dest, root } = await setup(t);
    assert.match(stagedPath("dir/f.txt"), /^\.socketkit-partial\/[0-9a-f]{40}\.part$/);
    assert.equal(stagedPath("dir/f.txt"), stagedPath("dir/f.txt"));
    assert.notEqual(stagedPath("dir/f.txt"), stagedPath("dir/f.txt.part"));
    const file = await dest.openStaged("dir/f.txt", false);
    await file.write([Buffer.from("abc"), Buffer.from("def")]);
    await file.close();
    assert.equal(await readFile(join(root, stagedPath("dir/f.txt")), "utf8"), "abcdef");
    assert.equal((await stat(join(root, STAGING_DIR))).mode & 0o777, 0o700);
    assert.match(await readFile(join(root, STAGING_DIR, "README"), "utf8"), /socketkit/);
  });

  it("resumes a staged file, appending, and empties it when asked anew", async (t) => {
    const { dest } = await setup(t);
    let file = await dest.openStaged("f", false);
    await file.write([Buffer.from("abc")]);
    await file.close();
    file = await dest.openStaged("f", true);
    await file.write([Buffer.from("def")]);
    assert.equal(await file.size(), 6);
    await file.close();
    assert.equal(await dest.stagedSize("f"), 6);
    const reader = await dest.openStagedForRead("f");
    const buf = Buffer.alloc(6);
    assert.equal((await reader.read(buf, 0, 6, 0)).bytesRead, 6);
    await reader.close();
    assert.equal(buf.toString(), "abcdef");
    await (await dest.openStaged("f", false)).close();
    assert.equal(await dest.stagedSize("f"), 0);
    await dest.discard("f");
    await dest.discard("f");
    assert.equal(await dest.stagedSize("f"), 0);
  });

  it("refuses a staged file with a hard link planted at it, and leaves the linked file unchanged", async (t) => {
    const { dest, root, outside } = await setup(t);
    await (await dest.openStaged("other", false)).close(); // the staging folder, as a run leaves it
    const secret = join(outside, "secret");
    await writeFile(secret, "precious bytes");
    await link(secret, join(root, stagedPath("f")));
    const before = await fingerprint(secret);
    await rejection(dest.stagedSize("f"), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.openStaged("f", false), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.openStaged("f", true), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.openStagedForRead("f"), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.commit("f", false), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.commit("f", true), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.discard("f"), TransferError, "ERR_TRANSFER_NAME");
    assert.equal(await fingerprint(secret), before);
    assert.equal((await stat(secret)).nlink, 2);
    await assert.rejects(stat(join(root, "f")), { code: "ENOENT" });
  });

  it("stores small files whole: nothing staged left, an earlier run's staged file goes, nothing replaced", async (t) => {
    const { dest, root } = await setup(t);
    // An earlier run's partial file of "big" (a larger file then), and a user's file "kept".
    const earlier = await dest.openStaged("d/big", false);
    await earlier.write([Buffer.from("an earlier run's partial bytes")]);
    await earlier.close();
    await mkdir(join(root, "d"), { recursive: true });
    await writeFile(join(root, "d", "kept"), "the user's");
    const before = await fingerprint(join(root, "d", "kept"));
    const item = (rel: string, text: string, mode = 0o644) => ({
      rel,
      data: Buffer.from(text),
      mode,
      sha256: hash("sha256", text),
    });
    const out = await dest.storeWhole(
      [item("d/big", "now small"), item("d/kept", "a peer's"), item("d/e/x", "run me", 0o755)],
      false,
    );
    assert.equal(out[1], "exists");
    assert.equal(await readFile(join(root, "d", "big"), "utf8"), "now small");
    assert.equal(await readFile(join(root, "d", "e", "x"), "utf8"), "run me");
    assert.equal((await stat(join(root, "d", "e", "x"))).mode & 0o777, 0o755);
    assert.equal(await fingerprint(join(root, "d", "kept")), before);
    // Each stored file is noted with the identity it has under its name.
    const big = await stat(join(root, "d", "big"));
    assert.equal(await dest.received("d/big", big.size), hash("sha256", "now small"));
    assert.deepEqual(
      (await readdir(join(root, STAGING_DIR))).filter((n) => n.endsWith(".part")),
      [],
      "no staged file is left, the earlier run's included",
    );
  });

  it("with the addon, writes small files nameless in their folder: a link planted at the staged path is not written", {
    skip: beneathReason,
  }, async (t) => {
    const { dest, root, outside } = await setup(t);
    await (await dest.openStaged("other", false)).close(); // the staging folder, as a run leaves it
    const secret = join(outside, "secret");
    await writeFile(secret, "precious bytes");
    await link(secret, join(root, stagedPath("f")));
    const before = await stat(secret);
    const data = Buffer.from("small");
    const [noted] = await dest.storeWhole(
      [{ rel: "f", data, mode: 0o644, sha256: hash("sha256", data) }],
      false,
    );
    assert.notEqual(noted, "exists");
    assert.equal(await readFile(join(root, "f"), "utf8"), "small");
    assert.equal(await readFile(secret, "utf8"), "precious bytes");
    const after = await stat(secret);
    assert.deepEqual(
      [after.ino, after.mtimeMs, after.mode],
      [before.ino, before.mtimeMs, before.mode],
    );
    assert.equal(after.nlink, 1, "the planted link is gone, the file it named is not");
  });

  it("stores batches given at once in the order given; a corrupt file stops the batches after it", {
    skip: beneathReason,
  }, async (t) => {
    const { dest, root } = await setup(t);
    const item = (rel: string, text: string, sum = hash("sha256", text)) => ({
      rel,
      data: Buffer.from(text),
      mode: 0o644,
      sha256: sum,
    });
    // Three batches in flight at once (a receiver keeps one queued behind the one that runs).
    const batches = [0, 1, 2].map((b) =>
      dest.storeWhole(
        Array.from({ length: 50 }, (_, i) => item(`b${b}/f${i}`, `batch ${b} file ${i}`)),
        false,
      ),
    );
    for (const out of await Promise.all(batches)) assert.equal(out.length, 50);
    const lines = (await readFile(join(root, STAGING_DIR, "received"), "utf8")).trim().split("\n");
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).path),
      [0, 1, 2].flatMap((b) => Array.from({ length: 50 }, (_, i) => `b${b}/f${i}`)),
      "noted in the order the batches were given",
    );
    // The second of three is corrupt: it writes nothing, nor does the third, queued behind it.
    const failing = [
      dest.storeWhole([item("c0/ok", "fine")], false),
      dest.storeWhole([item("c1/ok", "fine"), item("c1/bad", "bytes", "0".repeat(64))], false),
      dest.storeWhole([item("c2/after", "later")], false),
    ];
    for (const p of failing) p.catch(() => {});
    await failing[0];
    await rejection(failing[1] as Promise<unknown>, TransferError, "ERR_TRANSFER_HASH");
    await rejection(failing[2] as Promise<unknown>, TransferError, "ERR_TRANSFER_STOPPED");
    assert.equal(await readFile(join(root, "c0", "ok"), "utf8"), "fine");
    assert.deepEqual(await readdir(join(root, "c1")), []);
    assert.deepEqual(await readdir(join(root, "c2")), []);
  });

  it("refuses a FIFO planted at the staged path without waiting for a reader", async (t) => {
    const { dest, root } = await setup(t);
    await (await dest.openStaged("other", false)).close();
    const made = spawnSync("mkfifo", [join(root, stagedPath("f"))]);
    if (made.status !== 0) return t.skip("mkfifo is not there");
    await rejection(dest.openStaged("f", true), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.stagedSize("f"), TransferError, "ERR_TRANSFER_NAME");
  });

  it("refuses a symbolic link planted as a folder on the way", async (t) => {
    const { dest, root, outside } = await setup(t);
    await symlink(outside, join(root, "sub"));
    await mkdir(join(root, "real"));
    await symlink(outside, join(root, "real", "deeper"));
    for (const rel of ["sub/f", "sub/new/f", "real/deeper/f"]) {
      const err = await rejection(dest.prepare(rel), TransferError, "ERR_TRANSFER_NAME");
      assert.match(err.message, /symbolic link/);
    }
    await rejection(dest.mkdirs("sub/d"), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.openFinalForRead("sub/f"), TransferError, "ERR_TRANSFER_NAME");
    assert.deepEqual(await readdir(outside), []);
  });

  it("refuses a symbolic link or a file planted as the staging folder", async (t) => {
    const { dest, root, outside } = await setup(t);
    await symlink(outside, join(root, STAGING_DIR));
    await rejection(dest.openStaged("f", false), TransferError, "ERR_TRANSFER_STAGING");
    await rejection(dest.stagedSize("f"), TransferError, "ERR_TRANSFER_STAGING");
    await rejection(dest.commit("f", false), TransferError, "ERR_TRANSFER_STAGING");
    assert.deepEqual(await readdir(outside), []);
    const top = await setup(t);
    await writeFile(join(top.root, STAGING_DIR), "a file of the user's");
    await rejection(top.dest.openStaged("f", false), TransferError, "ERR_TRANSFER_STAGING");
    assert.equal(await readFile(join(top.root, STAGING_DIR), "utf8"), "a file of the user's");
  });

  it("refuses a staging folder of another user's that others can write to", {
    skip: process.getuid?.() === 0 ? false : "only root can give a folder to another user",
  }, async (t) => {
    const { dest, root } = await setup(t);
    await mkdir(join(root, STAGING_DIR), 0o700);
    await chmod(join(root, STAGING_DIR), 0o777);
    await (await dest.openStaged("f", false)).close(); // ours: the user's choice
    await chown(join(root, STAGING_DIR), 65534, 65534);
    await rejection(dest.openStaged("f", false), TransferError, "ERR_TRANSFER_STAGING");
    await rejection(dest.stagedSize("f"), TransferError, "ERR_TRANSFER_STAGING");
    await chmod(join(root, STAGING_DIR), 0o755);
    assert.equal(await dest.stagedSize("f"), 0);
  });

  it("refuses a name in the staging folder", async (t) => {
    const { dest, root } = await setup(t);
    await (await dest.openStaged("f", false)).close();
    const readme = await fingerprint(join(root, STAGING_DIR, "README"));
    for (const rel of [`${STAGING_DIR}/README`, `${STAGING_DIR}/x`, ".Socketkit-Partial/x"]) {
      assert.ok(isReserved(rel));
      const err = await rejection(dest.prepare(rel), TransferError, "ERR_TRANSFER_NAME");
      assert.match(err.message, /socketkit's folder for partial files/);
    }
    await rejection(dest.mkdirs(STAGING_DIR), TransferError, "ERR_TRANSFER_NAME");
    await rejection(
      dest.openStaged(`${STAGING_DIR}/README`, false),
      TransferError,
      "ERR_TRANSFER_NAME",
    );
    assert.equal(await fingerprint(join(root, STAGING_DIR, "README")), readme);
    assert.equal(isReserved(`sub/${STAGING_DIR}/x`), false);
  });

  it("says a file is there, and refuses a link or a folder at the name", async (t) => {
    const { dest, root, outside } = await setup(t);
    await writeFile(join(root, "file"), "x");
    assert.equal(await dest.prepare("file"), "exists");
    assert.equal(await dest.prepare("file", { overwrite: true }), "new");
    await symlink(join(outside, "x"), join(root, "link"));
    await mkdir(join(root, "dir"));
    for (const overwrite of [false, true]) {
      await rejection(dest.prepare("link", { overwrite }), TransferError, "ERR_TRANSFER_NAME");
      await rejection(dest.prepare("dir", { overwrite }), TransferError, "ERR_TRANSFER_NAME");
    }
    await rejection(dest.openFinalForRead("link"), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.openFinalForRead("dir"), TransferError, "ERR_TRANSFER_NAME");
    const reader = await dest.openFinalForRead("file");
    const buf = Buffer.alloc(1);
    assert.equal((await reader.read(buf, 0, 1, 0)).bytesRead, 1);
    await reader.close();
  });

  it("never replaces, without overwrite, a file that appeared after prepare", async (t) => {
    const { dest, root } = await setup(t);
    assert.equal(await dest.prepare("sub/f"), "new");
    const file = await dest.openStaged("sub/f", false);
    await file.write([Buffer.from("received")]);
    await file.close();
    await writeFile(join(root, "sub", "f"), "the user's");
    await rejection(dest.commit("sub/f", false), TransferError, "ERR_TRANSFER_EXISTS");
    assert.equal(await readFile(join(root, "sub", "f"), "utf8"), "the user's");
    assert.equal(await dest.stagedSize("sub/f"), 8);
    await dest.commit("sub/f", true);
    assert.equal(await readFile(join(root, "sub", "f"), "utf8"), "received");
    assert.equal(await dest.stagedSize("sub/f"), 0);
  });

  it("never replaces, even with overwrite, a link or a folder that appeared after prepare", async (t) => {
    const { dest, root, outside } = await setup(t);
    for (const plant of [
      (path: string) => symlink(join(outside, "x"), path),
      (path: string) => mkdir(path),
    ]) {
      assert.equal(await dest.prepare("f"), "new");
      await (await dest.openStaged("f", false)).close();
      await plant(join(root, "f"));
      await rejection(dest.commit("f", true), TransferError, "ERR_TRANSFER_NAME");
      assert.equal(await dest.stagedSize("f"), 0); // still staged, empty
      await dest.discard("f");
      await rename(join(root, "f"), join(root, `moved-${Date.now()}-${Math.random()}`));
    }
    assert.deepEqual(await readdir(outside), []);
  });

  it("writes nothing outside when a folder is swapped for a link after prepare", async (t) => {
    const { dest, root, outside } = await setup(t);
    assert.equal(await dest.prepare("sub/f"), "new");
    const file = await dest.openStaged("sub/f", false);
    await file.write([Buffer.from("data")]);
    await file.close();
    await rename(join(root, "sub"), join(root, "sub.real"));
    await symlink(outside, join(root, "sub"));
    await rejection(dest.commit("sub/f", false), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.commit("sub/f", true), TransferError, "ERR_TRANSFER_NAME");
    // The staging folder swapped before a staged file is opened.
    await rename(join(root, STAGING_DIR), join(root, "staging.real"));
    await symlink(outside, join(root, STAGING_DIR));
    await rejection(dest.openStaged("g", false), TransferError, "ERR_TRANSFER_STAGING");
    assert.deepEqual(await readdir(outside), []);
  });

  it("has the kernel refuse, with no check before, every call through a folder swapped for a link", {
    skip: beneathReason,
  }, async (t) => {
    const { dest, root, outside } = await setup(t);
    const io = native("files beneath a folder");
    const { O_WRONLY, O_CREAT, O_RDONLY, O_DIRECTORY } = constants;
    assert.equal(await dest.prepare("sub/f"), "new");
    await writeFile(join(root, "staged"), "data");
    await rename(join(root, "sub"), join(root, "sub.real"));
    await symlink(outside, join(root, "sub"));
    const dirfd = await new Promise<number>((resolve, reject) =>
      open(root, O_RDONLY | O_DIRECTORY, (err, fd) => (err ? reject(err) : resolve(fd))),
    );
    t.after(() => close(dirfd));
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "resolved",
        (err: { code?: string }) => err.code,
      );
    assert.equal(await code(io.openBeneath(dirfd, "sub/f", O_WRONLY | O_CREAT, 0o600)), "ELOOP");
    assert.equal(await code(io.mkdirsBeneath(dirfd, "sub/d", 0o755)), "ELOOP");
    assert.equal(await code(io.renameBeneath(dirfd, "staged", "sub/f", true)), "ELOOP");
    assert.equal(await code(io.renameBeneath(dirfd, "staged", "sub/f", false)), "ELOOP");
    assert.equal(await code(io.unlinkBeneath(dirfd, "sub/x")), "ELOOP");
    assert.equal(await code(io.statBeneath(dirfd, "sub/x")), "ELOOP");
    assert.equal(
      await code(io.openBeneath(dirfd, "../outside/f", O_WRONLY | O_CREAT, 0o600)),
      "EXDEV",
    );
    assert.equal(await code(io.openBeneath(dirfd, "/tmp/f", O_WRONLY | O_CREAT, 0o600)), "EXDEV");
    assert.deepEqual(await readdir(outside), []);
  });

  it("refuses a path too long for the system before making a folder", async (t) => {
    const { dest, root } = await setup(t);
    const name = `${`${"a".repeat(254)}/`.repeat(15)}${"f".repeat(255)}`;
    const err = await rejection(dest.prepare(name), TransferError, "ERR_TRANSFER_NAME");
    assert.match(err.message, /its path would be \d+ bytes, over the system's limit/);
    await rejection(dest.mkdirs(name), TransferError, "ERR_TRANSFER_NAME");
    // Made ready ahead of a store: nothing, when a name of the pack is refused.
    dest.prepareStore([{ path: "ok/a" }, { path: name }]);
    const data = Buffer.from("x");
    const item = { rel: name, data, mode: 0o644, sha256: hash("sha256", data) };
    await rejection(dest.storeWhole([item], false), TransferError, "ERR_TRANSFER_NAME");
    assert.deepEqual(await readdir(root), []);
  });

  it("closes only once the store calls under way have ended, their files noted", {
    skip: beneathReason,
  }, async (t) => {
    const { dest, root } = await setup(t);
    const batch = (b: number) =>
      Array.from({ length: 1000 }, (_, i) => {
        const data = Buffer.from(`batch ${b} file ${i}`);
        return { rel: `d${b}/f${i}`, data, mode: 0o644, sha256: hash("sha256", data) };
      });
    const stores = [dest.storeWhole(batch(0), false), dest.storeWhole(batch(1), false)];
    await dest.close();
    // Both calls ended before the close: each file stored and noted in the received list.
    for (const out of await Promise.all(stores)) assert.equal(out.length, 1000);
    const lines = (await readFile(join(root, STAGING_DIR, "received"), "utf8")).trim().split("\n");
    assert.equal(lines.length, 2000);
    assert.equal((await readdir(join(root, "d1"))).length, 1000);
    // A store asked for after the close is refused, and makes nothing.
    const data = Buffer.from("late");
    await rejection(
      dest.storeWhole([{ rel: "d2/late", data, mode: 0o644, sha256: hash("sha256", data) }], false),
      TransferError,
      "ERR_TRANSFER_STOPPED",
    );
    assert.ok(!(await readdir(root)).includes("d2"));
  });

  it("makes a pack's folders and the staging folder ready ahead of the store", {
    skip: beneathReason,
  }, async (t) => {
    const { dest, root } = await setup(t);
    dest.prepareStore([{ path: "a/b/c" }, { path: "a/d" }, { path: "top" }]);
    const data = Buffer.from("late");
    const [noted] = await dest.storeWhole(
      [{ rel: "a/b/c", data, mode: 0o644, sha256: hash("sha256", data) }],
      false,
    );
    assert.notEqual(noted, "exists");
    assert.equal(await readFile(join(root, "a", "b", "c"), "utf8"), "late");
    // a/ was made for a/d, which has not come yet.
    assert.deepEqual((await readdir(join(root, "a"))).sort(), ["b"]);
    assert.ok((await readdir(root)).includes(STAGING_DIR));
  });

  it("makes a sender's empty folders, and refuses a file on the way", async (t) => {
    const { dest, root } = await setup(t);
    await dest.mkdirs("a/b/c");
    await dest.mkdirs("a/b/c");
    assert.ok((await stat(join(root, "a", "b", "c"))).isDirectory());
    await writeFile(join(root, "file"), "x");
    await rejection(dest.mkdirs("file/d"), TransferError, "ERR_TRANSFER_NAME");
    await rejection(dest.prepare("file/d"), TransferError, "ERR_TRANSFER_NAME");
  });
});
