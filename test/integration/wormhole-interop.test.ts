import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { type Program, ROOT, start } from "../helpers/proc.ts";
import { codeOf, type LocalRelay, localRelay, noWormhole, wormhole } from "../helpers/wormhole.ts";

const skip = noWormhole() ?? false;

/** `socketkit ARGS... --relay-url URL --transit-helper HINT` run in `cwd`: never the public servers. */
function sk(relay: LocalRelay, args: string[], cwd = ROOT, extra: string[] = []): Program {
  return start(
    process.execPath,
    [
      "--import",
      "tsx",
      `${ROOT}src/cli/main.ts`,
      ...args,
      "--relay-url",
      relay.url,
      "--transit-helper",
      relay.hint,
      ...extra,
    ],
    { cwd: ROOT === cwd ? ROOT : cwd },
  );
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
    assert.deepEqual(await readdir(join(dir, "out")), ["data.bin"]);
    assert.match(
      receiver.stderr(),
      new RegExp(`received data.bin, ${data.length} bytes .*sha256 ${sha(data)}`),
    );
    assert.match(sender.stderr(), /Confirmation received/);
    assert.equal(relay.transit.pairs, path === "relay" ? 1 : 0);
  });
}

test("socketkit send FILE to socketkit receive through the relay only", {
  timeout: 60_000,
}, async (t) => {
  const dir = await folder(t);
  const data = randomBytes(1024 * 1024 + 7);
  await writeFile(join(dir, "data.bin"), data);
  await mkdir(join(dir, "out"));
  const relay = await localRelay(t);
  const sender = sk(relay, ["send", join(dir, "data.bin"), "--no-listen"]);
  t.after(sender.stop);
  const code = await codeOf(sender);
  const receiver = sk(relay, ["receive", code, "--dir", join(dir, "out"), "--no-listen"]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(await sender.exited, 0, sender.stderr());
  assert.ok((await readFile(join(dir, "out", "data.bin"))).equals(data));
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
