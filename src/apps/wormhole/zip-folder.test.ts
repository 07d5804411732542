import assert from "node:assert/strict";
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { tempDir } from "../../../test/helpers/net.ts";
import { DestDir, STAGING_DIR } from "../transfer/dest-dir.ts";
import { unzipFolder } from "./unzip-folder.ts";
import { zipFolder } from "./zip-folder.ts";

/** A folder with nested files, an empty file, an executable, an empty folder and a link. */
async function tree(t: TestContext): Promise<{ top: string; src: string }> {
  const top = await tempDir(t);
  const src = join(top, "photos");
  await mkdir(join(src, "2024", "may"), { recursive: true });
  await mkdir(join(src, "empty"));
  await writeFile(join(src, "a.txt"), "alpha");
  await writeFile(join(src, "zero"), "");
  await writeFile(join(src, "2024", "may", "b.bin"), Buffer.alloc(300_000, 9));
  await writeFile(join(src, "run"), "#!/bin/sh\n");
  await chmod(join(src, "run"), 0o750);
  await symlink("/etc/passwd", join(src, "link"));
  return { top, src };
}

/** The zip of `src` written as a received folder's spool in `dest`, then unpacked. */
async function roundTrip(dest: DestDir, src: string, maxBytes = Number.POSITIVE_INFINITY) {
  const zip = await zipFolder(src, "photos");
  const spool = await dest.openSpool("photos");
  let bytes = 0;
  try {
    for await (const chunk of zip.stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      await spool.write([chunk]);
    }
  } finally {
    await spool.close();
  }
  const staged = await dest.openStagedFolder("photos");
  try {
    const got = await unzipFolder(await dest.openSpoolForRead("photos"), staged, {
      name: "photos",
      maxBytes,
    });
    return { zip, bytes, got };
  } finally {
    await staged.close();
  }
}

test("a folder zipped and unpacked comes back whole, links left out, its size known up front", async (t) => {
  const { top, src } = await tree(t);
  await mkdir(join(top, "out"));
  const dest = await DestDir.open(join(top, "out"));
  t.after(() => dest.close());
  const { zip, bytes, got } = await roundTrip(dest, src);
  assert.equal(bytes, zip.zipsize);
  assert.deepEqual(
    { numfiles: zip.numfiles, numbytes: zip.numbytes },
    { numfiles: 4, numbytes: 300_015 },
  );
  assert.deepEqual(zip.skipped, [join(src, "link")]);
  assert.deepEqual(got, { files: 4, bytes: 300_015 });
  // Nothing has its name before the commit.
  assert.deepEqual(await readdir(join(top, "out")), [STAGING_DIR]);
  await dest.commitFolder("photos", false);
  await dest.discardFolder("photos");
  const out = join(top, "out", "photos");
  assert.deepEqual((await readdir(out)).sort(), ["2024", "a.txt", "empty", "run", "zero"]);
  assert.equal(await readFile(join(out, "a.txt"), "utf8"), "alpha");
  assert.ok((await readFile(join(out, "2024", "may", "b.bin"))).equals(Buffer.alloc(300_000, 9)));
  assert.equal((await stat(join(out, "run"))).mode & 0o777, 0o750);
  assert.deepEqual(await readdir(join(out, "empty")), []);
  assert.deepEqual(await readdir(join(top, "out", STAGING_DIR)), ["README"]);
});

test("unpacking refuses files over maxBytes in total", async (t) => {
  const { top, src } = await tree(t);
  await mkdir(join(top, "out"));
  const dest = await DestDir.open(join(top, "out"));
  t.after(() => dest.close());
  await assert.rejects(roundTrip(dest, src, 1000), { code: "ERR_TRANSFER_ZIP" });
  await dest.discardFolder("photos");
  assert.deepEqual(await readdir(join(top, "out", STAGING_DIR)), ["README"]);
});

test("a folder that appeared meanwhile is never replaced; with overwrite the files are added to it", async (t) => {
  const { top, src } = await tree(t);
  await mkdir(join(top, "out", "photos"), { recursive: true });
  await writeFile(join(top, "out", "photos", "mine"), "kept");
  await writeFile(join(top, "out", "photos", "a.txt"), "old");
  const dest = await DestDir.open(join(top, "out"));
  t.after(() => dest.close());
  await roundTrip(dest, src);
  await assert.rejects(dest.commitFolder("photos", false), { code: "ERR_TRANSFER_EXISTS" });
  await dest.commitFolder("photos", true);
  const out = join(top, "out", "photos");
  assert.equal(await readFile(join(out, "mine"), "utf8"), "kept");
  assert.equal(await readFile(join(out, "a.txt"), "utf8"), "alpha");
  assert.deepEqual(await readdir(join(out, "2024", "may")), ["b.bin"]);
});
