import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { errorOutputFrom, listening, socketkit } from "../helpers/proc.ts";
import { codeOf, localRelay, noWormhole, wormhole } from "../helpers/wormhole.ts";

const skip = noWormhole() ?? false;

test("wormhole send --text to wormhole receive through socketkit's rendezvous server", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const relay = await localRelay(t);
  const sender = wormhole(relay, "send", ["--text", "hello through socketkit"]);
  t.after(sender.stop);
  const code = await codeOf(sender);
  assert.match(code, /^\d+-[a-z]+-[a-z]+$/);
  const receiver = wormhole(relay, "receive", [code]);
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(receiver.stdout().toString(), "hello through socketkit\n");
  assert.equal(await sender.exited, 0, sender.stderr());
  // Both sides released the nameplate and closed the mailbox.
  assert.equal(relay.rendezvous.counts.nameplates, 0);
  assert.equal(relay.rendezvous.counts.mailboxes, 0);
});

test("wormhole send FILE to wormhole receive through socketkit's transit relay, byte-exact", {
  skip,
  timeout: 90_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sk-wormhole-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(3 * 1024 * 1024 + 17);
  await writeFile(join(dir, "data.bin"), data);
  const out = join(dir, "out");
  await mkdir(out);
  const relay = await localRelay(t);
  const sender = wormhole(relay, "send", ["data.bin"], { cwd: dir });
  t.after(sender.stop);
  const code = await codeOf(sender);
  const receiver = wormhole(relay, "receive", ["--accept-file", code], { cwd: out });
  t.after(receiver.stop);
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(await sender.exited, 0, sender.stderr());
  assert.match(sender.stderr(), /relay:tcp:127\.0\.0\.1/);
  assert.ok((await readFile(join(out, "data.bin"))).equals(data));
  assert.equal(relay.transit.pairs, 1);
});

test("socketkit relay prints where its two servers listen", { timeout: 30_000 }, async (t) => {
  const relay = socketkit(["relay", "--port", "0", "--transit-port", "0"]);
  t.after(relay.stop);
  const where = await listening(relay);
  assert.match(where, /^127\.0\.0\.1:\d+$/);
  await errorOutputFrom(relay, (err) => /transit relay tcp:127\.0\.0\.1:\d+/.test(err));
  assert.match(relay.stderr(), /rendezvous ws:\/\/127\.0\.0\.1:\d+\/v1/);
  await relay.stop();
  assert.equal(relay.child.exitCode, 0);
});
