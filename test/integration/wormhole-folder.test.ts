import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { deflateRawSync } from "node:zlib";
import { parseTcpHint, Transit } from "../../src/apps/wormhole/transit.ts";
import { TRANSFER_APPID, Wormhole } from "../../src/apps/wormhole/wormhole.ts";
import { type Program, ROOT } from "../helpers/proc.ts";
import {
  codeOf,
  type LocalRelay,
  localRelay,
  noWormhole,
  socketkitVia,
  wormhole,
} from "../helpers/wormhole.ts";

/**
 * Folders with a code, as Magic Wormhole sends them (a zip): to and from the real
 * `wormhole`, between socketkit peers, and hostile zips refused with nothing left behind.
 */

const skip = noWormhole() ?? false;

/** socketkit on the test's local servers (never the public ones). */
function sk(relay: LocalRelay, args: string[], extra: string[] = []): Program {
  return socketkitVia(relay, args, extra, { cwd: ROOT });
}

async function folder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sk-wormhole-dir-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A tree with nested folders, an empty file, an executable, odd names and an empty folder. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, "sub", "deeper"), { recursive: true });
  await mkdir(join(root, "empty folder"));
  await writeFile(join(root, "a.txt"), "alpha\n");
  await writeFile(join(root, "empty.bin"), "");
  await writeFile(join(root, "sub", "naïve café — ünï.txt"), "utf-8 name\n");
  await writeFile(join(root, "sub", "deeper", "big.bin"), Buffer.alloc(700_000, 7));
  await writeFile(join(root, "sub", "run.sh"), "#!/bin/sh\necho hi\n");
  await chmod(join(root, "sub", "run.sh"), 0o755);
}

/** Every entry under `root`: its path, and a file's mode and SHA-256 or "dir". */
async function treeOf(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const r = rel === "" ? name : `${rel}/${name}`;
      const s = await lstat(path);
      if (s.isDirectory()) {
        out.push(`${r}/ dir`);
        await walk(path, r);
      } else {
        const sum = createHash("sha256")
          .update(await readFile(path))
          .digest("hex");
        out.push(`${r} ${(s.mode & 0o777).toString(8)} ${sum}`);
      }
    }
  };
  await walk(root, "");
  return out;
}

/** What `out` holds but socketkit's staging folder, and that folder holds no partial data. */
async function leftIn(out: string): Promise<string[]> {
  const names = await readdir(out);
  if (names.includes(".socketkit-partial"))
    assert.deepEqual(await readdir(join(out, ".socketkit-partial")), ["README"]);
  return names.filter((n) => n !== ".socketkit-partial");
}

// Direct, and through the transit relay only (socketkit's side gives no address to connect to).
for (const path of ["direct", "relay"] as const) {
  const noListen = path === "relay" ? ["--no-listen"] : [];

  test(`wormhole send DIR to socketkit receive (${path}): the same tree`, {
    skip,
    timeout: 90_000,
  }, async (t) => {
    const dir = await folder(t);
    await makeTree(join(dir, "my folder"));
    await mkdir(join(dir, "out"));
    const relay = await localRelay(t);
    const sender = wormhole(relay, "send", ["my folder"], { cwd: dir });
    t.after(sender.stop);
    const code = await codeOf(sender);
    const receiver = sk(relay, ["receive", code, "--dir", join(dir, "out"), ...noListen]);
    t.after(receiver.stop);
    assert.equal(await receiver.exited, 0, receiver.stderr());
    assert.equal(await sender.exited, 0, sender.stderr());
    // wormhole 0.12 sends no empty folder.
    const want = (await treeOf(join(dir, "my folder"))).filter(
      (e) => !e.startsWith("empty folder/"),
    );
    assert.deepEqual(await treeOf(join(dir, "out", "my folder")), want);
    // Made as any folder of the user's is (not with the staging folder's private mode).
    const modeOf = async (path: string) => (await lstat(path)).mode & 0o777;
    assert.equal(await modeOf(join(dir, "out", "my folder")), await modeOf(join(dir, "out")));
    assert.deepEqual(await leftIn(join(dir, "out")), ["my folder"]);
    assert.match(receiver.stderr(), /received the folder my folder \(5 files, 700035 bytes\)/);
    assert.match(sender.stderr(), /Confirmation received/);
    assert.equal(relay.transit.pairs, path === "relay" ? 1 : 0);
  });

  test(`socketkit send DIR to wormhole receive (${path}): the same tree, empty folder included`, {
    skip,
    timeout: 90_000,
  }, async (t) => {
    const dir = await folder(t);
    await makeTree(join(dir, "my folder"));
    await mkdir(join(dir, "out"));
    const relay = await localRelay(t);
    const sender = sk(relay, ["send", join(dir, "my folder"), ...noListen]);
    t.after(sender.stop);
    const code = await codeOf(sender);
    const receiver = wormhole(relay, "receive", ["--accept-file", code], { cwd: join(dir, "out") });
    t.after(receiver.stop);
    assert.equal(await receiver.exited, 0, receiver.stderr());
    assert.equal(await sender.exited, 0, sender.stderr());
    assert.deepEqual(
      await treeOf(join(dir, "out", "my folder")),
      await treeOf(join(dir, "my folder")),
    );
    assert.match(sender.stderr(), /sent the folder my folder \(5 files, 700035 bytes\), a zip of/);
    assert.equal(relay.transit.pairs, path === "relay" ? 1 : 0);
  });
}

test("socketkit to socketkit: a folder through the relay by socketkit's protocol; a file that exists refused, replaced with --overwrite", {
  timeout: 90_000,
}, async (t) => {
  const dir = await folder(t);
  await makeTree(join(dir, "tree"));
  await mkdir(join(dir, "out", "tree"), { recursive: true });
  await writeFile(join(dir, "out", "tree", "mine.txt"), "the user's\n");
  await writeFile(join(dir, "out", "tree", "a.txt"), "old\n");
  const relay = await localRelay(t);
  const run = async (extra: string[]) => {
    const sender = sk(relay, ["send", join(dir, "tree"), "--no-listen"]);
    t.after(sender.stop);
    const code = await codeOf(sender);
    const receiver = sk(relay, [
      "receive",
      code,
      "--dir",
      join(dir, "out"),
      "--no-listen",
      ...extra,
    ]);
    t.after(receiver.stop);
    return { sender, receiver, codes: [await receiver.exited, await sender.exited] };
  };
  const refused = await run([]);
  assert.deepEqual(refused.codes, [1, 1]);
  // Between two socketkits the folder goes without a zip, file by file (a folder that
  // exists is added to; a file that exists is refused).
  assert.match(refused.receiver.stderr(), /^socketkit: .*"tree\/a\.txt": it exists/m);
  assert.equal(await readFile(join(dir, "out", "tree", "a.txt"), "utf8"), "old\n");
  const merged = await run(["--overwrite"]);
  assert.deepEqual(merged.codes, [0, 0], merged.receiver.stderr());
  assert.deepEqual(
    (await treeOf(join(dir, "out", "tree"))).filter((e) => !e.startsWith("mine.txt")),
    await treeOf(join(dir, "tree")),
  );
  assert.equal(await readFile(join(dir, "out", "tree", "mine.txt"), "utf8"), "the user's\n");
  assert.match(merged.receiver.stderr(), /socketkit's protocol, relay/);
  assert.equal(relay.transit.pairs, 2, "both runs went through the relay");
});

/** One entry of a zip made by hand: what a hostile sender can put in one. */
interface RawEntry {
  name: string;
  data?: Buffer;
  deflate?: boolean;
  /** CRC-32 and uncompressed size to declare (the true ones by default). */
  crc?: number;
  size?: number;
  mode?: number;
}

function crc32(data: Buffer): number {
  let c = ~0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

function makeZip(entries: RawEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    const body = e.deflate ? deflateRawSync(data) : data;
    const name = Buffer.from(e.name);
    const crc = e.crc ?? crc32(data);
    const size = e.size ?? data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(e.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/**
 * Sends `zip` as the folder `dirname` to whoever takes the code given to `onCode`, as a
 * wormhole sender would, with `numbytes` declared; resolves with the receiver's ack, or
 * null when it closed without one.
 */
async function sendRawFolder(
  relay: LocalRelay,
  zip: Buffer,
  numbytes: number,
  onCode: (code: string) => void,
  cut = false,
): Promise<string | null> {
  const w = await Wormhole.connect(relay.url);
  const transit = new Transit({
    isSender: true,
    relay: parseTcpHint(relay.hint),
    listen: ["127.0.0.1"],
  });
  try {
    onCode(await w.allocateCode(2));
    await w.establish();
    w.send({ transit: await transit.hints() });
    transit.setKey(w.deriveKey(`${TRANSFER_APPID}/transit-key`));
    w.send({
      offer: {
        directory: {
          mode: "zipfile/deflated",
          dirname: "loot",
          zipsize: zip.length,
          numbytes,
          numfiles: 1,
        },
      },
    });
    for (;;) {
      const m = await w.receive();
      if ("transit" in m)
        transit.addPeerHints((m.transit as Record<string, unknown> | null)?.["hints-v1"]);
      if ("error" in m) return `error: ${String(m.error)}`;
      if ("answer" in m) break;
    }
    const pipe = await transit.connect();
    try {
      const records: Buffer[] = [];
      const end = cut ? zip.length >> 1 : zip.length;
      for (let at = 0; at < end; at += 65536)
        records.push(zip.subarray(at, Math.min(end, at + 65536)));
      await pipe.sendMany(records);
      if (cut) return null;
      const ack = await pipe.receive().catch(() => null);
      return ack === null ? null : ack.toString();
    } finally {
      await pipe.close();
    }
  } finally {
    await transit.close();
    await w.close("happy");
  }
}

const bomb = Buffer.alloc(8 * 1024 * 1024);
const hostile: {
  what: string;
  zip: Buffer;
  numbytes?: number;
  extra?: string[];
  cut?: boolean;
  error: RegExp;
}[] = [
  {
    what: "a cut halfway",
    zip: makeZip([{ name: "a.bin", data: Buffer.alloc(400_000, 1) }]),
    cut: true,
    error: /The sender stopped after 200\d+ of 400\d+ bytes/,
  },
  {
    what: "a ../ name (zip slip)",
    zip: makeZip([
      { name: "ok.txt", data: Buffer.from("ok") },
      { name: "../evil", data: Buffer.from("x") },
    ]),
    error: /invalid relative path: \.\.\/evil/,
  },
  {
    what: "an absolute path",
    zip: makeZip([{ name: "/tmp/evil-abs", data: Buffer.from("x") }]),
    error: /absolute path: \/tmp\/evil-abs/,
  },
  {
    what: "a symbolic link",
    zip: makeZip([{ name: "link", data: Buffer.from("/etc/passwd"), mode: 0o120777 }]),
    error: /"link".*symbolic link/,
  },
  {
    what: "a CRC-32 mismatch",
    zip: makeZip([{ name: "f.txt", data: Buffer.from("hello"), crc: 12345 }]),
    error: /"f\.txt" is corrupt \(its CRC-32/,
  },
  {
    what: "a bomb declared over --max-size",
    zip: makeZip([{ name: "zeros", data: bomb, deflate: true }]),
    numbytes: 1000,
    extra: ["--max-size", "100000"],
    error: /more than the 1000 bytes allowed/,
  },
  {
    what: "a bomb whose sizes lie",
    zip: makeZip([{ name: "zeros", data: bomb, deflate: true, size: 100 }]),
    numbytes: 100,
    extra: ["--max-size", "100000"],
    error: /zeros.*too many bytes|inflate to more than/,
  },
];

for (const h of hostile) {
  test(`a hostile zip (${h.what}) is refused in one line and leaves nothing`, {
    timeout: 60_000,
  }, async (t) => {
    const dir = await folder(t);
    const out = join(dir, "inner", "out");
    await mkdir(out, { recursive: true });
    const relay = await localRelay(t);
    let receiver: Program | null = null;
    const ack = await sendRawFolder(
      relay,
      h.zip,
      h.numbytes ?? 1_000_000,
      (code) => {
        receiver = sk(relay, ["receive", code, "--dir", out, ...(h.extra ?? [])]);
        t.after((receiver as Program).stop);
      },
      h.cut,
    );
    const r = receiver as unknown as Program;
    assert.equal(await r.exited, 1);
    assert.equal(ack, null);
    const lines = r.stderr().trim().split("\n");
    assert.match(lines.at(-1) as string, /^socketkit: /);
    assert.match(lines.at(-1) as string, h.error);
    assert.doesNotMatch(r.stderr(), /\n\s+at /);
    assert.deepEqual(await leftIn(out), []);
    assert.deepEqual(await readdir(join(dir, "inner")), ["out"]);
  });
}
