/**
 * The real `telnet` program, on a terminal made by `script`, typing Cyrillic, Portuguese
 * and emoji to `socketkit serve command` and `socketkit chat serve`, and pressing Ctrl-C.
 * Without BINARY, telnet masks each typed byte to 7 bits before comparing it with its
 * interrupt characters: the 0x83 of `у` or `Ã` becomes Ctrl-C, sent as IAC IP and IAC DO
 * TIMING-MARK, after which telnet shows nothing until the timing mark is answered. Skips,
 * saying why, when telnet or `script` is not installed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { RawMember } from "../helpers/chat.ts";
import { listening, outputFrom, type Program, portOf, socketkit, start } from "../helpers/proc.ts";

const noTelnet =
  spawnSync("telnet", ["--version"]).error === undefined
    ? spawnSync("script", ["--version"]).error === undefined
      ? false
      : "util-linux `script` is not installed (telnet needs a terminal)"
    : "telnet is not installed (apt-get install -y telnet)";
if (noTelnet !== false) console.log(`# skipped: ${noTelnet}`);

/** telnet to 127.0.0.1:PORT on a terminal of its own (it reads the keyboard, not a pipe). */
async function telnet(port: string): Promise<Program> {
  const tty = start("script", ["-qfec", `telnet 127.0.0.1 ${port}`, "/dev/null"], {
    env: { LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
  });
  await outputFrom(tty, (out) => out.includes("Escape character is"));
  return tty;
}

/** Types `keys` on telnet's terminal (the terminal echoes them, as for a person). */
function type(tty: Program, keys: string): void {
  tty.child.stdin?.write(keys);
}

/** What telnet has shown since `from` (a count of bytes shown before). */
function shownSince(tty: Program, from: number): string {
  return tty.stdout().subarray(from).toString("utf8");
}

describe("telnet typing UTF-8", { skip: noTelnet }, () => {
  it("to socketkit serve command: Cyrillic, Portuguese and emoji come back intact, and Ctrl-C gives a fresh prompt", async () => {
    const server = socketkit(["serve", "command", "--port", "0"]);
    let tty: Program | null = null;
    try {
      tty = await telnet(portOf(await listening(server)));
      const t = tty;
      await outputFrom(t, (out) => out.includes("Hello! Type a command, or help.\r\n> "));
      // у (D1 83) is the first byte telnet takes for Ctrl-C: it was lost, then telnet froze.
      const lines: Array<[string, string]> = [
        ["echo муж", "муж"],
        ["echo NÃO há problema, у нас всё хорошо", "NÃO há problema, у нас всё хорошо"],
        ["upper Карол, Нет, Мир, я 😀", "КАРОЛ, НЕТ, МИР, Я 😀"],
      ];
      for (const [line, answer] of lines) {
        const from = t.stdout().length;
        type(t, `${line}\n`);
        await outputFrom(t, () => shownSince(t, from).includes(`\r\n${answer}\r\n> `));
      }
      // Ctrl-C: the line being typed is dropped, and the session goes on.
      let from = t.stdout().length;
      type(t, "echo dropped\x03");
      await outputFrom(t, () => shownSince(t, from).includes("^C\r\n> "));
      from = t.stdout().length;
      type(t, "echo still here ✓\n");
      await outputFrom(t, () => shownSince(t, from).includes("\r\nstill here ✓\r\n> "));
      assert.doesNotMatch(t.stdout().toString(), /dropped\r\n/);
      type(t, "quit\n");
      await outputFrom(t, (out) => out.includes("bye\r\nConnection closed by foreign host."));
    } finally {
      await tty?.stop();
      await server.stop();
    }
  });

  it("to socketkit chat serve: a plain TCP member gets the text byte for byte, and Ctrl-C does not freeze telnet", async (t) => {
    const server = socketkit(["chat", "serve", "--port", "0"]);
    let tty: Program | null = null;
    try {
      const port = Number(portOf(await listening(server)));
      const alice = await RawMember.join(t, port, "alice");
      tty = await telnet(String(port));
      const tel = tty;
      await outputFrom(tel, (out) => out.includes("Choose a nickname: "));
      type(tel, "telnetter\n");
      await alice.waitFor("*** telnetter joined");
      // К (D0 9A) masks to Ctrl-Z (IAC SUSP), р... are safe, as is the ASCII before.
      type(tel, "/nick Карол\n");
      await alice.waitFor("*** telnetter is now known as Карол\r\n");
      const messages = ["у нас всё хорошо", "NÃO há problema, Нет 😀🎉", "Ёлка, ça va?"];
      for (const message of messages) {
        type(tel, `${message}\n`);
        await alice.waitFor(`<Карол> ${message}\r\n`);
      }
      // Ctrl-C in the middle of a line: the line is dropped, telnet still shows the room.
      // (What reaches telnet between its IAC DO TIMING-MARK and the answer it discards, by
      // design: alice speaks once the line typed after Ctrl-C has come through.)
      type(tel, "half a line\x03");
      type(tel, "after Ctrl-C\n");
      await alice.waitFor("<Карол> after Ctrl-C\r\n");
      alice.send("still there?\n");
      await outputFrom(tel, (out) => out.includes("<alice> still there?"));
      const raw = Buffer.concat(alice.bytes);
      assert.equal(raw.includes(0xff), false, "no telnet byte reached the TCP member");
      const said = [...raw.toString("utf8").matchAll(/<Карол> ([^\r]*)\r\n/g)].map((m) => m[1]);
      assert.deepEqual(said, [...messages, "after Ctrl-C"]);
      assert.equal(raw.toString("utf8").includes("\ufffd"), false, "no byte of UTF-8 was lost");
      type(tel, "/quit\n");
      await alice.waitFor("*** Карол left (quit)");
    } finally {
      await tty?.stop();
      await server.stop();
    }
  });

  it("sends no telnet byte to a client that speaks none (nc, the seeds' clients)", async () => {
    const server = socketkit(["serve", "command", "--port", "0"]);
    try {
      const port = Number(portOf(await listening(server)));
      const socket = connect({ host: "127.0.0.1", port });
      socket.on("error", () => {});
      const chunks: Buffer[] = [];
      socket.on("data", (c: Buffer) => chunks.push(c));
      await once(socket, "connect");
      // 0x83 and 0x9a inside UTF-8 are what a telnet would take for Ctrl-C and Ctrl-Z.
      socket.end("echo муж Карол NÃO 😀\nquit\n");
      await once(socket, "close");
      assert.deepEqual(
        Buffer.concat(chunks),
        Buffer.from("Hello! Type a command, or help.\r\n> муж Карол NÃO 😀\r\n> bye\r\n"),
      );
    } finally {
      await server.stop();
    }
  });
});
