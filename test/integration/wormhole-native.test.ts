/**
 * `socketkit send` to `socketkit receive` through a code: socketkit's own transfer
 * protocol inside the wormhole's transit connection (several files, folders without zip,
 * each file checked, a cut transfer resumed), with socketkit's rendezvous server and
 * transit relay on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { type TestContext, test } from "node:test";
import { STAGING_DIR, stagedPath } from "../../src/apps/transfer/dest-dir.ts";
import { codeOf, localRelay, socketkitVia } from "../helpers/wormhole.ts";
import { FaultProxy } from "../reliability/lib/fault-proxy.ts";

const sha = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

async function folder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sk-wormhole-native-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** What `send A B FOLDER` sends: a big file, a small one, and a folder of both kinds. */
async function sources(dir: string, bigSize = 6 * 1024 * 1024 + 13): Promise<string[]> {
  const src = join(dir, "src");
  await mkdir(join(src, "photos", "raw"), { recursive: true });
  await mkdir(join(src, "photos", "empty"));
  await writeFile(join(src, "big.bin"), randomBytes(bigSize));
  await writeFile(join(src, "note.txt"), "the wifi password is ...\n");
  await writeFile(join(src, "photos", "a.jpg"), randomBytes(200 * 1024 + 3));
  await writeFile(join(src, "photos", "raw", "b.raw"), randomBytes(40 * 1024));
  await writeFile(join(src, "photos", "raw", "zero"), "");
  return [join(src, "big.bin"), join(src, "note.txt"), join(src, "photos")];
}

/** Every file under `dir` (socketkit's staging folder left out) by path, with its SHA-256. */
async function contents(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = relative(dir, join(entry.parentPath, entry.name));
    if (path.split("/")[0] === STAGING_DIR) continue;
    out.set(path, entry.isFile() ? sha(await readFile(join(dir, path))) : "dir");
  }
  return out;
}

/** The files as the receiver names them, with their SHA-256, and the transfer's SHA-256. */
async function expected(dir: string): Promise<{ files: Map<string, string>; sha256: string }> {
  const files = await contents(join(dir, "src"));
  const list = [...files]
    .filter(([, h]) => h !== "dir")
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, h]) => `${h}  ${path}\n`)
    .join("");
  return { files, sha256: sha(list) };
}

test("send A B FOLDER to receive CODE between two socketkits: their own protocol, every file byte-exact", {
  timeout: 60_000,
}, async (t) => {
  const dir = await folder(t);
  const paths = await sources(dir);
  const out = join(dir, "out");
  await mkdir(out);
  const relay = await localRelay(t);
  const sender = socketkitVia(relay, ["send", ...paths]);
  t.after(sender.stop);
  const receiver = socketkitVia(relay, ["receive", await codeOf(sender), "--dir", out]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(await sender.exited, 0, sender.stderr());
  const want = await expected(dir);
  assert.deepEqual(await contents(out), want.files);
  assert.equal(want.files.get("photos/empty"), "dir");
  // No zip on either side: the folder came as its files, each checked by its SHA-256.
  assert.match(
    receiver.stderr(),
    new RegExp(
      `received 5 files, \\d+ bytes in .*, sha256 ${want.sha256} \\(socketkit's protocol, direct`,
    ),
  );
  assert.match(
    sender.stderr(),
    new RegExp(`sent 5 files, \\d+ bytes in .*, sha256 ${want.sha256} \\(socketkit's protocol`),
  );
  assert.equal(relay.transit.pairs, 0);
});

test("a transfer through a code cut part way resumes, with a new code, from what the receiver staged", {
  timeout: 90_000,
}, async (t) => {
  const dir = await folder(t);
  const paths = await sources(dir);
  const bigSize = (await stat(paths[0] as string)).size;
  const out = join(dir, "out");
  await mkdir(out);
  const relay = await localRelay(t);
  // The transit goes through a proxy that ends the sender's connection after 2 MiB of it:
  // inside big.bin, the first file sent.
  const port = Number(relay.hint.slice(relay.hint.lastIndexOf(":") + 1));
  const proxy = await FaultProxy.start(["127.0.0.1", port], {
    upstream: { cutAfter: 2 * 1024 * 1024 },
  });
  t.after(() => proxy.close());
  const cut = { url: relay.url, hint: `tcp:127.0.0.1:${proxy.port}` };
  const sender = socketkitVia(cut, ["send", ...paths], ["--no-listen"]);
  t.after(sender.stop);
  const receiver = socketkitVia(
    cut,
    ["receive", await codeOf(sender), "--dir", out],
    ["--no-listen"],
  );
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 1, receiver.stderr());
  assert.equal(await sender.exited, 1, sender.stderr());
  assert.doesNotMatch(receiver.stderr() + sender.stderr(), /\n\s+at /);
  const staged = (await stat(join(out, stagedPath("big.bin")))).size;
  assert.ok(staged > 0 && staged < bigSize, `staged ${staged} of ${bigSize}`);
  // Only the empty folder (sent first) was made: no file has its name yet.
  assert.deepEqual([...(await contents(out)).keys()].sort(), ["photos", "photos/empty"]);

  // The same two commands again, straight to the relay.
  const sender2 = socketkitVia(relay, ["send", ...paths], ["--no-listen"]);
  t.after(sender2.stop);
  const receiver2 = socketkitVia(
    relay,
    ["receive", await codeOf(sender2), "--dir", out],
    ["--no-listen"],
  );
  t.after(receiver2.stop);
  assert.equal(await receiver2.exited, 0, receiver2.stderr());
  assert.equal(await sender2.exited, 0, sender2.stderr());
  const want = await expected(dir);
  assert.deepEqual(await contents(out), want.files);
  let total = 0;
  for (const [path, h] of want.files)
    if (h !== "dir") total += (await stat(join(dir, "src", path))).size;
  for (const [side, verb] of [
    [receiver2, "received"],
    [sender2, "sent"],
  ] as const) {
    const line = new RegExp(
      `${verb} 5 files \\(1 resumed at (\\d+) bytes\\), (\\d+) bytes in .*, sha256 ${want.sha256} \\(socketkit's protocol, relay`,
    ).exec(side.stderr());
    assert.ok(line !== null, side.stderr());
    assert.equal(Number(line[1]), staged);
    assert.equal(Number(line[2]), total - staged);
    assert.ok(Number(line[2]) < total);
  }
  assert.equal(relay.transit.pairs, 2);
});

test("through a code, a file that exists or is over --max-size is refused as receive --port refuses it, the sender told why", {
  timeout: 60_000,
}, async (t) => {
  const dir = await folder(t);
  await writeFile(join(dir, "note.txt"), "new\n");
  await writeFile(join(dir, "big.bin"), randomBytes(100 * 1024));
  const out = join(dir, "out");
  await mkdir(out);
  await writeFile(join(out, "note.txt"), "old\n");
  const relay = await localRelay(t);

  const sender = socketkitVia(relay, ["send", join(dir, "note.txt")]);
  t.after(sender.stop);
  const receiver = socketkitVia(relay, ["receive", await codeOf(sender), "--dir", out]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 1);
  assert.equal(await sender.exited, 1);
  assert.match(receiver.stderr(), /Refused "note\.txt": it exists \(use --overwrite/);
  assert.match(sender.stderr(), /The receiver says: Refused "note\.txt": it exists/);
  assert.equal(await readFile(join(out, "note.txt"), "utf8"), "old\n");

  const sender2 = socketkitVia(relay, ["send", join(dir, "big.bin")]);
  t.after(sender2.stop);
  const receiver2 = socketkitVia(relay, [
    "receive",
    await codeOf(sender2),
    "--dir",
    out,
    "--max-size",
    "1000",
  ]);
  t.after(receiver2.stop);
  assert.equal(await receiver2.exited, 1);
  assert.equal(await sender2.exited, 1);
  assert.match(receiver2.stderr(), /Refused "big\.bin": 102400 bytes is over the limit of 1000/);
  assert.match(sender2.stderr(), /The receiver says: Refused "big\.bin"/);
  assert.deepEqual((await readdir(out)).filter((n) => n !== STAGING_DIR).sort(), ["note.txt"]);
});
