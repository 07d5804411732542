import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { outputFrom, type Program, ROOT, start } from "../helpers/proc.ts";
import {
  codeOf,
  type LocalRelay,
  localRelay,
  noWormhole,
  socketkitVia,
  wormhole,
} from "../helpers/wormhole.ts";

const skip = noWormhole() ?? false;

/** `socketkit ARGS... --relay-url URL --transit-helper HINT` run in `cwd`: never the public servers. */
function sk(relay: LocalRelay, args: string[], cwd = ROOT, extra: string[] = []): Program {
  return socketkitVia(relay, args, extra, { cwd });
}

async function folder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sk-wormhole-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

test("socketkit send --text to wormhole receive", { skip, timeout: 60_000 }, async (t) => {
  const relay = await localRelay(t);
  const sender = sk(relay, ["send", "--text", "héllo from socketkit"]);
  t.after(sender.stop);
  const code = await codeOf(sender);
  const receiver = wormhole(relay, "receive", [code]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(receiver.stdout().toString(), "héllo from socketkit\n");
  assert.equal(await sender.exited, 0, sender.stderr());
  assert.match(sender.stderr(), /sent a text of 21 bytes/);
});

test("wormhole send --text to socketkit receive", { skip, timeout: 60_000 }, async (t) => {
  const relay = await localRelay(t);
  const sender = wormhole(relay, "send", ["--text", "hello from wormhole"]);
  t.after(sender.stop);
  const code = await codeOf(sender);
  const receiver = sk(relay, ["receive", code]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(receiver.stdout().toString(), "hello from wormhole\n");
  assert.equal(await sender.exited, 0, sender.stderr());
  assert.match(sender.stderr(), /text message sent/);
});

for (const path of ["direct", "relay"] as const) {
  test(`socketkit send FILE to wormhole receive (${path}), byte-exact`, {
    skip,
    timeout: 90_000,
  }, async (t) => {
    const dir = await folder(t);
    const data = randomBytes(2 * 1024 * 1024 + 12345);
    await writeFile(join(dir, "data.bin"), data);
    await mkdir(join(dir, "out"));
    const relay = await localRelay(t);
    const sender = sk(
      relay,
      ["send", join(dir, "data.bin")],
      ROOT,
      path === "relay" ? ["--no-listen"] : [],
    );
    t.after(sender.stop);
    const code = await codeOf(sender);
    const receiver = wormhole(relay, "receive", ["--accept-file", code], { cwd: join(dir, "out") });
    t.after(receiver.stop);
    assert.equal(await receiver.exited, 0, receiver.stderr());
    assert.equal(await sender.exited, 0, sender.stderr());
    assert.ok((await readFile(join(dir, "out", "data.bin"))).equals(data));
    assert.match(
      sender.stderr(),
      new RegExp(`sent data.bin, ${data.length} bytes .*${path} .*sha256 ${sha(data)}`),
    );
    // wormhole does not speak socketkit's protocol: it got wormhole's own file offer.
    assert.doesNotMatch(sender.stderr(), /socketkit's protocol/);
    assert.equal(relay.transit.pairs, path === "relay" ? 1 : 0);
  });

  test(`wormhole send FILE to socketkit receive (${path}), byte-exact`, {
    skip,
    timeout: 90_000,
  }, async (t) => {
    const dir = await folder(t);
    const data = randomBytes(3 * 1024 * 1024 + 1);
    await writeFile(join(dir, "data.bin"), data);
    await mkdir(join(dir, "out"));
    const relay = await localRelay(t);
    const sender = wormhole(relay, "send", ["data.bin"], { cwd: dir });
    t.after(sender.stop);
    const code = await codeOf(sender);
    const receiver = sk(
      relay,
      ["receive", code, "--dir", join(dir, "out")],
      ROOT,
      path === "relay" ? ["--no-listen"] : [],
    );
    t.after(receiver.stop);
    assert.equal(await receiver.exited, 0, receiver.stderr());
    assert.equal(await sender.exited, 0, sender.stderr());
    assert.ok((await readFile(join(dir, "out", "data.bin"))).equals(data));
    // Besides the file, only socketkit's own staging folder (as send --to's receiver leaves it).
    assert.deepEqual(
      (await readdir(join(dir, "out"))).filter((n) => n !== ".socketkit-partial"),
      ["data.bin"],
    );
    assert.match(
      receiver.stderr(),
      new RegExp(`received data.bin, ${data.length} bytes .*sha256 ${sha(data)}`),
    );
    assert.match(sender.stderr(), /Confirmation received/);
    assert.equal(relay.transit.pairs, path === "relay" ? 1 : 0);
  });
}

test("socketkit send FILE to socketkit receive through the relay only; a file of the user's named like a partial stays", {
  timeout: 60_000,
}, async (t) => {
  const dir = await folder(t);
  const data = randomBytes(1024 * 1024 + 7);
  await writeFile(join(dir, "data.bin"), data);
  await mkdir(join(dir, "out"));
  // The user's own file: neither truncated, replaced nor deleted by a receive of data.bin.
  await writeFile(join(dir, "out", "data.bin.part"), "mine\n");
  const relay = await localRelay(t);
  const sender = sk(relay, ["send", join(dir, "data.bin"), "--no-listen"]);
  t.after(sender.stop);
  const code = await codeOf(sender);
  const receiver = sk(relay, ["receive", code, "--dir", join(dir, "out"), "--no-listen"]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(await sender.exited, 0, sender.stderr());
  assert.ok((await readFile(join(dir, "out", "data.bin"))).equals(data));
  assert.equal(await readFile(join(dir, "out", "data.bin.part"), "utf8"), "mine\n");
  assert.equal(relay.transit.pairs, 1);
});

test("a wrong code fails in one line on both sides and burns the nameplate", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const relay = await localRelay(t);
  const sender = sk(relay, ["send", "--text", "secret"]);
  t.after(sender.stop);
  const code = await codeOf(sender);
  const wrong = code.replace(/-[a-z]+$/, (w) => (w === "-zulu" ? "-aardvark" : "-zulu"));
  const receiver = wormhole(relay, "receive", [wrong]);
  t.after(receiver.stop);
  assert.notEqual(await receiver.exited, 0);
  assert.match(receiver.stderr(), /Key confirmation failed/);
  assert.equal(await sender.exited, 1);
  const lines = sender.stderr().trim().split("\n");
  assert.match(lines.at(-1) as string, /^socketkit: Key confirmation failed/);
  assert.doesNotMatch(sender.stderr(), /\n\s+at /);
  // The nameplate is gone: the same code now meets nobody who knows it.
  assert.deepEqual(relay.rendezvous.nameplatesOf("lothar.com/wormhole/text-or-file-xfer"), []);
});

/** Debian's transit relay on 127.0.0.1 (a free port), stopped when the test ends; or why not. */
async function debianTransitRelay(t: TestContext): Promise<string | null> {
  const relay = start(
    "twistd3",
    ["-n", "--pidfile=", "transitrelay", "--port", "tcp:0:interface=127.0.0.1"],
    {
      cwd: tmpdir(),
    },
  );
  t.after(relay.stop);
  const line = /Transit starting on (\d+)/;
  await outputFrom(relay, (out) => line.test(out));
  return `tcp:127.0.0.1:${(line.exec(relay.stdout().toString()) as RegExpExecArray)[1]}`;
}

const noTwistd = /transitrelay/.test(
  spawnSync("twistd3", ["--help"], { encoding: "utf8" }).stdout ?? "",
)
  ? false
  : "Debian's transit relay (twistd3 transitrelay, magic-wormhole-transit-relay) is not installed";

test("through Debian's transit relay with no direct connection, both ways, byte-exact", {
  skip: skip || noTwistd,
  timeout: 120_000,
}, async (t) => {
  const dir = await folder(t);
  const data = randomBytes(1024 * 1024 + 99);
  await writeFile(join(dir, "data.bin"), data);
  await mkdir(join(dir, "a"));
  await mkdir(join(dir, "b"));
  const local = await localRelay(t);
  const relay = { ...local, hint: (await debianTransitRelay(t)) as string };
  // socketkit → wormhole
  const sender = sk(relay as LocalRelay, ["send", join(dir, "data.bin"), "--no-listen"]);
  t.after(sender.stop);
  const receiver = wormhole(relay, "receive", ["--accept-file", await codeOf(sender)], {
    cwd: join(dir, "a"),
  });
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(await sender.exited, 0, sender.stderr());
  assert.match(sender.stderr(), /relay 127\.0\.0\.1/);
  assert.ok((await readFile(join(dir, "a", "data.bin"))).equals(data));
  // wormhole → socketkit
  const sender2 = wormhole(relay, "send", ["data.bin"], { cwd: dir });
  t.after(sender2.stop);
  const receiver2 = sk(relay as LocalRelay, [
    "receive",
    await codeOf(sender2),
    "--dir",
    join(dir, "b"),
    "--no-listen",
  ]);
  t.after(receiver2.stop);
  assert.equal(await receiver2.exited, 0, receiver2.stderr());
  assert.equal(await sender2.exited, 0, sender2.stderr());
  assert.ok((await readFile(join(dir, "b", "data.bin"))).equals(data));
  assert.equal(local.transit.pairs, 0);
});

test("a file that wormhole sends and that exists on the receiving side is refused, and the sender told why", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const dir = await folder(t);
  await writeFile(join(dir, "data.bin"), "new");
  await mkdir(join(dir, "out"));
  await writeFile(join(dir, "out", "data.bin"), "old");
  const relay = await localRelay(t);
  const sender = wormhole(relay, "send", ["data.bin"], { cwd: dir });
  t.after(sender.stop);
  const receiver = sk(relay, ["receive", await codeOf(sender), "--dir", join(dir, "out")]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 1);
  assert.notEqual(await sender.exited, 0);
  assert.match(receiver.stderr(), /it exists on the receiving side/);
  assert.match(sender.stderr(), /remote error, transfer abandoned: .*it exists/);
  assert.equal(await readFile(join(dir, "out", "data.bin"), "utf8"), "old");
});

test("a file that wormhole sends over the receiver's --max-size is refused before any byte moves, and the sender told why", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const dir = await folder(t);
  await writeFile(join(dir, "big.bin"), randomBytes(64 * 1024));
  await mkdir(join(dir, "out"));
  const relay = await localRelay(t);
  const sender = wormhole(relay, "send", ["big.bin"], { cwd: dir });
  t.after(sender.stop);
  const receiver = sk(relay, [
    "receive",
    await codeOf(sender),
    "--dir",
    join(dir, "out"),
    "--max-size",
    "1000",
  ]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 1);
  assert.notEqual(await sender.exited, 0);
  assert.match(receiver.stderr(), /65536 bytes is over the receiver's --max-size 1000/);
  assert.match(sender.stderr(), /remote error, transfer abandoned: .*--max-size/);
  assert.equal(relay.transit.pairs, 0, "no transit connection was made");
  assert.deepEqual(
    (await readdir(join(dir, "out"))).filter((n) => n !== ".socketkit-partial"),
    [],
  );
});

test("socketkit send of two paths to wormhole receive fails in one line on both sides", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const dir = await folder(t);
  await writeFile(join(dir, "a.txt"), "a");
  await writeFile(join(dir, "b.txt"), "b");
  await mkdir(join(dir, "out"));
  const relay = await localRelay(t);
  const sender = sk(relay, ["send", join(dir, "a.txt"), join(dir, "b.txt")]);
  t.after(sender.stop);
  const receiver = wormhole(relay, "receive", ["--accept-file", await codeOf(sender)], {
    cwd: join(dir, "out"),
  });
  t.after(receiver.stop);
  assert.equal(await sender.exited, 1);
  assert.notEqual(await receiver.exited, 0);
  const why = /Cannot send 2 paths to a receiver that is not socketkit/;
  assert.match(receiver.stderr(), why);
  assert.match(sender.stderr().trim().split("\n").at(-1) as string, why);
  assert.deepEqual(await readdir(join(dir, "out")), []);
});
