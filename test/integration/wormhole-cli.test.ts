/**
 * `socketkit send` and `receive` with a code, as a person at a terminal uses them: the code
 * typed at a prompt (piped, and on a pseudo-terminal with Tab completion), the progress
 * bar and the summary line, a rendezvous connection cut while waiting, and a file larger
 * than the free space. socketkit's own rendezvous server and transit relay on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { tinyDisk } from "../helpers/disk.ts";
import { tempDir } from "../helpers/net.ts";
import {
  errorOutputFrom,
  listening,
  outputFrom,
  type Program,
  ROOT,
  start,
} from "../helpers/proc.ts";
import { noTerminal, socketkitOnTerminal } from "../helpers/terminal.ts";
import {
  codeOf,
  type LocalRelay,
  localRelay,
  noWormhole,
  socketkitVia,
  wormhole,
} from "../helpers/wormhole.ts";
import { FaultProxy } from "../reliability/lib/fault-proxy.ts";

const T = { timeout: 60_000 };

/** socketkit on the test's local servers (never the public ones). */
function sk(
  relay: Pick<LocalRelay, "url" | "hint">,
  args: string[],
  options: { stdin?: string } = {},
): Program {
  return socketkitVia(relay, args, [], options);
}

/** Files in `dir` besides socketkit's staging folder. */
async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n !== ".socketkit-partial");
}

const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** A sender of `text` on `relay`, stopped when the test ends, and its code. */
async function textSender(t: TestContext, relay: LocalRelay, text: string, code?: string) {
  const sender = sk(relay, ["send", "--text", text, ...(code ? ["--code", code] : [])]);
  t.after(sender.stop);
  return { sender, code: await codeOf(sender) };
}

test(
  "receive with no code reads it from its input, one line, when that is no terminal",
  T,
  async (t) => {
    const relay = await localRelay(t);
    const dir = await tempDir(t);
    const { sender, code } = await textSender(t, relay, "read from a pipe");
    const receiver = sk(relay, ["receive", "--dir", dir], { stdin: `  ${code}  \nmore\n` });
    t.after(receiver.stop);
    assert.equal(await receiver.exited, 0, receiver.stderr());
    assert.equal(receiver.stdout().toString(), "read from a pipe\n");
    assert.equal(await sender.exited, 0, sender.stderr());
    assert.doesNotMatch(receiver.stderr(), /Enter receive wormhole code/, "no prompt on a pipe");
  },
);

test(
  "receive with no code and nothing on its input fails in one line; --port listens as before",
  T,
  async (t) => {
    const relay = await localRelay(t);
    const empty = sk(relay, ["receive"], { stdin: "" });
    t.after(empty.stop);
    assert.equal(await empty.exited, 1);
    assert.equal(empty.stderr(), "socketkit: No code given: the input ended before a line\n");
    const blank = sk(relay, ["receive"], { stdin: "\n" });
    t.after(blank.stop);
    assert.equal(await blank.exited, 1);
    assert.equal(blank.stderr(), "socketkit: No code given: the line was empty\n");
    // A code with the flags of the other form is a usage error, not a silent choice.
    const both = sk(relay, ["receive", "4-crossover-breakup", "--port", "9000"], { stdin: "" });
    t.after(both.stop);
    assert.equal(await both.exited, 2);
    assert.match(
      both.stderr(),
      /^error: --port is for receiving from `send --to`, not with a code$/m,
    );
    // With --port (or --host, --allow, --tls...), no code is asked for: it listens.
    const listener = sk(relay, ["receive", "--port", "0", "--dir", await tempDir(t)], {
      stdin: "",
    });
    t.after(listener.stop);
    assert.match(await listening(listener), /^127\.0\.0\.1:\d+$/);
  },
);

test("receive with no code on a terminal asks for it; Tab completes the nameplate, then the words, and lists", {
  ...T,
  skip: noTerminal(),
}, async (t) => {
  const relay = await localRelay(t);
  // A code of our choosing, so that the keys below are known: "cro" is "crossover" alone
  // among the odd words, "bre" is "breadline" and "breakup" among the even ones.
  const { sender } = await textSender(t, relay, "typed at a prompt", "4-crossover-breakup");
  const rx = socketkitOnTerminal(
    ["receive", "--relay-url", relay.url, "--transit-helper", relay.hint],
    { cols: 160, rows: 30 },
  );
  t.after(() => rx.stop());
  const PROMPT = "Enter receive wormhole code: ";
  const promptLine = (s: { lines: string[] }) =>
    [...s.lines].reverse().find((l) => l.startsWith(PROMPT.trimEnd())) ?? "";
  // (The screen's lines come without their trailing blanks.)
  const shows = async (typed: string) =>
    rx.waitFor(
      (s) => promptLine(s) === `${PROMPT}${typed}`.trimEnd(),
      `the prompt showing "${typed}"`,
    );
  await shows("");
  rx.type("\t"); // the one nameplate in use, from the server's list
  await shows("4-");
  rx.type("cro\t");
  await shows("4-crossover-");
  rx.type("bre\t"); // as far as the two candidates agree
  await shows("4-crossover-brea");
  rx.type("\t"); // a second Tab lists them
  await rx.waitFor(
    (s) => s.lines.some((l) => /^breadline\s+breakup\s*$/.test(l)),
    "the two candidates listed",
  );
  await shows("4-crossover-brea");
  rx.type("k\t");
  await shows("4-crossover-breakup");
  rx.type("\r");
  assert.equal(await rx.exited, 0, rx.screen.text());
  assert.match(rx.screen.text(), /^typed at a prompt$/m);
  assert.equal(await sender.exited, 0, sender.stderr());
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

test("on a terminal, the code's transfer shows the progress bar both sides, then the summary line", {
  ...T,
  skip: hasScript ? false : "util-linux `script` is not installed",
}, async (t) => {
  const relay = await localRelay(t);
  const dir = await tempDir(t);
  await writeFile(join(dir, "bar.bin"), randomBytes(8 * 1024 * 1024));
  const data = await readFile(join(dir, "bar.bin"));
  // A --dir that is not there yet: made at start, as `receive --port` makes it.
  const out = join(dir, "in", "coming");
  const cli = `${process.execPath} --import tsx ${ROOT}src/cli/main.ts`;
  const servers = `--relay-url ${relay.url} --transit-helper ${relay.hint}`;
  const code = "9-crossover-breakup";
  const tx = start("script", [
    "-qfec",
    `${cli} send ${join(dir, "bar.bin")} --code ${code} ${servers}`,
    "/dev/null",
  ]);
  t.after(tx.stop);
  await outputFrom(tx, (o) => o.includes("Wormhole code is: "));
  const rx = start("script", [
    "-qfec",
    `${cli} receive ${code} --dir ${out} ${servers}`,
    "/dev/null",
  ]);
  t.after(rx.stop);
  assert.equal(await rx.exited, 0, rx.stdout().toString());
  assert.equal(await tx.exited, 0, tx.stdout().toString());
  const bar = /bar\.bin \|[█░]+\| \d+% [\d.]+ MB\/8\.4 MB/;
  for (const [side, verb] of [
    [tx, "sent"],
    [rx, "received"],
  ] as const) {
    const screen = side.stdout().toString();
    assert.match(screen, bar, `${verb}: the bar, with name, fill, percent, bytes`);
    assert.match(
      screen,
      new RegExp(
        // Two socketkits: socketkit's own protocol through the code.
        `${verb} bar\\.bin, 8388608 bytes in [\\d.]+ s \\([\\d.]+ MB/s\\), sha256 ${sha(data)} \\(socketkit's protocol, (direct|relay) [^)]+\\)`,
      ),
      `${verb}: the summary line`,
    );
  }
  assert.ok((await readFile(join(out, "bar.bin"))).equals(data));
});

test(
  "an offer larger than the free space in --dir is refused in one line before anything moves",
  T,
  async (t) => {
    const disk = tinyDisk(t, "1m");
    if (typeof disk !== "string") return t.skip(disk.skip);
    const relay = await localRelay(t);
    const dir = await tempDir(t);
    await writeFile(join(dir, "big.bin"), randomBytes(2 * 1024 * 1024));
    const sender = sk(relay, ["send", join(dir, "big.bin")]);
    t.after(sender.stop);
    const receiver = sk(relay, ["receive", await codeOf(sender), "--dir", disk]);
    t.after(receiver.stop);
    assert.equal(await receiver.exited, 1);
    assert.equal(await sender.exited, 1);
    assert.match(
      receiver.stderr(),
      /^socketkit: Refused "big\.bin": 2097152 bytes and only \d+ free on the disk\n$/,
    );
    assert.match(sender.stderr(), /The receiver says: Refused "big\.bin": .*free on the disk/);
    assert.equal(relay.transit.pairs, 0, "no transit connection was made");
    assert.deepEqual(await filesIn(disk), []);
  },
);

test("the sender's rendezvous connection cut while it waits for the receiver, then for its answer: it connects again and the file goes; the rate leaves out the wait", {
  ...T,
  skip: noWormhole() ?? false,
}, async (t) => {
  const relay = await localRelay(t);
  const proxy = await FaultProxy.start(relay.rendezvous.address);
  t.after(() => proxy.close());
  const proxied = { url: `ws://127.0.0.1:${proxy.port}/v1`, hint: relay.hint };
  const dir = await tempDir(t);
  const data = randomBytes(1024 * 1024 + 3);
  await writeFile(join(dir, "data.bin"), data);
  await mkdir(join(dir, "out"));
  const sender = sk(proxied, ["send", join(dir, "data.bin")]);
  t.after(sender.stop);
  const code = await codeOf(sender);
  const again = (n: number) => (err: string) =>
    (err.match(/^Connected to the rendezvous server again$/gm) ?? []).length >= n;
  // Waiting for the receiver: cut.
  proxy.resetAll();
  await errorOutputFrom(sender, again(1));
  assert.match(sender.stderr(), /^Lost the rendezvous server \(.*\); connecting again$/m);
  // Without --accept-file, wormhole asks before it answers the offer: cut while it asks.
  const receiver = wormhole(relay, "receive", [code], { cwd: join(dir, "out") });
  t.after(receiver.stop);
  await outputFrom(receiver, (o) => /ok\? \(Y\/n\): $/.test(o));
  proxy.resetAll();
  await errorOutputFrom(sender, again(2));
  // A person who takes a while to say yes: the time is not the transfer's.
  const hold = 2000;
  await new Promise((resolve) => setTimeout(resolve, hold));
  receiver.child.stdin?.end("y\n");
  assert.equal(await receiver.exited, 0, receiver.stderr());
  assert.equal(await sender.exited, 0, sender.stderr());
  assert.ok((await readFile(join(dir, "out", "data.bin"))).equals(data));
  const m = /^sent data\.bin, 1048579 bytes in ([\d.]+) s .*sha256 ([0-9a-f]{64})$/m.exec(
    sender.stderr(),
  );
  assert.ok(m !== null, sender.stderr());
  assert.equal(m[2], sha(data));
  assert.ok(Number(m[1]) * 1000 < hold, `${m[1]} s: the wait for the answer is not counted`);
  assert.ok(proxy.counters.connections >= 3);
});
