/**
 * `socketkit send` and `receive` with a code, as a person at a terminal uses them: the code
 * typed at a prompt (piped, and on a pseudo-terminal with Tab completion), the progress
 * bar and the summary line, a rendezvous connection cut while waiting, and a file larger
 * than the free space. socketkit's own rendezvous server and transit relay on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { tempDir } from "../helpers/net.ts";
import { listening, type Program, ROOT, start } from "../helpers/proc.ts";
import { noTerminal, socketkitOnTerminal } from "../helpers/terminal.ts";
import { codeOf, type LocalRelay, localRelay } from "../helpers/wormhole.ts";

const T = { timeout: 60_000 };

/** `socketkit ARGS... --relay-url URL --transit-helper HINT`: never the public servers. */
function sk(
  relay: Pick<LocalRelay, "url" | "hint">,
  args: string[],
  options: { stdin?: string } = {},
): Program {
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
    ],
    options,
  );
}

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
