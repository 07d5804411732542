/**
 * The chat room with real connections: plain sockets written by the test (as telnet or
 * nc would be), the tutorial's Python client, and the `socketkit chat` command.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { PassThrough } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { chatJoin } from "../../src/apps/chat/client.ts";
import { chatRoom, RawMember } from "../helpers/chat.ts";
import { netServer, until } from "../helpers/net.ts";
import {
  errorOutputFrom,
  listening,
  outputFrom,
  type Program,
  portOf,
  python3,
  ROOT,
  seed,
  socketkit,
  start,
} from "../helpers/proc.ts";
import { noTerminal, type Screen, socketkitOnTerminal } from "../helpers/terminal.ts";

const T = { timeout: 30_000 };
const STAMP = "\\[\\d\\d:\\d\\d:\\d\\d\\]";

describe("chat room", () => {
  it(
    "members chat: messages, /me, private messages, /who, nick clashes and history",
    T,
    async (t) => {
      const { port } = await chatRoom(t, { history: 2, name: "tutorial" });
      const alice = await RawMember.join(t, port, "alice");
      const bob = await RawMember.join(t, port, "bob");
      await alice.waitFor("*** bob joined");
      alice.send("hello bob\r\n");
      await bob.waitFor(new RegExp(`^${STAMP} <alice> hello bob\\r\\n$`));
      bob.take();
      bob.send("/me waves\n/msg alice just you\n");
      await alice.waitFor(/\* bob waves\r\n.*\(private\) <bob> just you\r\n/s);
      await bob.waitFor("(private to alice) <bob> just you");

      const late = await RawMember.connect(t, port);
      await late.waitFor("*** Choose a nickname: ");
      assert.match(late.text, /room tutorial\./);
      assert.match(late.text, /Online \(2\): alice, bob/);
      assert.match(
        late.text,
        new RegExp(
          `The last 2 messages:\\r\\n${STAMP} <alice> hello bob\\r\\n${STAMP} \\* bob waves\\r\\n`,
        ),
        "the history: public messages only",
      );
      late.send("Alice\n");
      await late.waitFor("error: the nickname Alice is taken; choose another: ");
      late.send("/who\n");
      await late.waitFor("error: choose a nickname first");
      late.send("carol\n/who\n");
      await late.waitFor("*** Online (3): alice, bob, carol");
      assert.equal(alice.text.includes("just you") && !late.text.includes("just you"), true);
    },
  );

  it("says goodbye to a member that quits and half-closes at once (as ncat does)", T, async (t) => {
    const { port } = await chatRoom(t);
    for (let i = 0; i < 5; i++) {
      const quitter = await RawMember.join(t, port, `q${i}`);
      quitter.socket.end("/quit\r\n");
      await quitter.closed;
      assert.equal(quitter.text, "*** Bye.\r\n", "the goodbye came before the close");
    }
  });

  it(
    "filters telnet's protocol bytes, takes CR NUL and bare CR as line ends, escapes control characters",
    T,
    async (t) => {
      const { port } = await chatRoom(t);
      const alice = await RawMember.join(t, port, "alice");
      const telnet = await RawMember.connect(t, port);
      await telnet.waitFor("Choose a nickname: ");
      // telnet's negotiation (DO ECHO, WILL NAWS with a subnegotiation) around the nickname.
      telnet.send(
        Buffer.from([
          0xff, 0xfd, 0x01, 0xff, 0xfb, 0x1f, 0xff, 0xfa, 0x1f, 0, 80, 0, 24, 0xff, 0xf0,
        ]),
      );
      telnet.send(
        Buffer.concat([Buffer.from("tel"), Buffer.from([0xff, 0xf1]), Buffer.from("net\r\n")]),
      );
      await telnet.waitFor("You are telnet.");
      telnet.send("one\r\0two\rthree\r\n");
      await alice.waitFor("<telnet> three");
      assert.match(alice.text, /<telnet> one\r\n.*<telnet> two\r\n.*<telnet> three\r\n/s);
      telnet.send("\x1b[2J\x1b[31mred \u202egnp.exe\x07\r\n");
      await alice.waitFor("<telnet> ^[[2J^[[31mred <U+202E>gnp.exe^G\r\n");
      const raw = Buffer.concat(alice.bytes);
      assert.equal(raw.includes(0xff), false, "no telnet byte was relayed");
      assert.equal(raw.includes(0x1b), false, "no escape byte was relayed");
    },
  );

  it(
    "refuses an over-long line with an error, relays nothing of it, and keeps the member",
    T,
    async (t) => {
      const { port } = await chatRoom(t, { maxLineLength: 100 });
      const alice = await RawMember.join(t, port, "alice");
      const bob = await RawMember.join(t, port, "bob");
      await alice.waitFor("bob joined");
      alice.take();
      bob.send(`${"x".repeat(5000)}\nafter\n`);
      await bob.waitFor("error: line longer than 100 bytes, not sent\r\n");
      await alice.waitFor("<bob> after");
      assert.equal(alice.text.includes("xxx"), false);
    },
  );

  it(
    "takes a line with no line end once its sender pauses, as the tutorials' clients send",
    T,
    async (t) => {
      const { port } = await chatRoom(t);
      const alice = await RawMember.join(t, port, "alice");
      const seedLike = await RawMember.connect(t, port);
      await seedLike.waitFor("Choose a nickname: ");
      seedLike.send("pyclient");
      await seedLike.waitFor("You are pyclient.");
      seedLike.send("no line end here");
      await alice.waitFor("<pyclient> no line end here\r\n");
    },
  );

  it(
    "cuts a flood to the burst, disconnects a member that keeps flooding, and the others carry on",
    T,
    async (t) => {
      const { port } = await chatRoom(t, { rate: 1, burst: 5, maxStrikes: 10 });
      const alice = await RawMember.join(t, port, "alice");
      const flood = await RawMember.join(t, port, "flood");
      const bob = await RawMember.join(t, port, "bob");
      await alice.waitFor("bob joined");
      alice.take();
      flood.send(Array.from({ length: 50 }, (_, i) => `spam ${i}\n`).join(""));
      await flood.closed;
      await alice.waitFor("*** flood left (disconnected: too many refused lines)");
      assert.equal((alice.text.match(/<flood> spam/g) ?? []).length, 5, "the burst only");
      assert.match(flood.text, /error: too many messages: at most 1 a second, slow down/);
      bob.send("still talking\n");
      await alice.waitFor("<bob> still talking");
    },
  );

  it("disconnects a member that stops reading; the others get every message", {
    timeout: 60_000,
  }, async (t) => {
    const { port } = await chatRoom(t, {
      outboxLimit: 128 * 1024, // above one read's worth of messages (64 KiB)
      rate: 1_000_000,
      burst: 1_000_000,
      maxLineLength: 8192,
    });
    const sender = await RawMember.join(t, port, "sender");
    const reader = await RawMember.join(t, port, "reader");
    const stuck = await RawMember.join(t, port, "stuck");
    stuck.socket.pause(); // reads nothing from now on
    await reader.waitFor("stuck joined");
    reader.take();
    const line = "y".repeat(8000);
    let sent = 0;
    // Send until the stuck member is dropped (its queue and the kernel's buffers full),
    // then a little more. Every 10 lines (80 KB, under the reader's 128 KiB queue) wait
    // until the reader has them: on a busy machine a reader whose own process is slow to
    // read would be dropped as not reading too, which is the rule, not what is tested.
    for (let extra = 0; extra < 20 && sent < 20_000; sent++) {
      if (!sender.socket.write(`${sent} ${line}\n`))
        await new Promise((r) => sender.socket.once("drain", r));
      if (sender.text.includes("stuck left") || reader.text.includes("stuck left")) extra++;
      if (sent % 10 === 9) {
        // Looked for at the end of what the reader has (the whole text grows to megabytes).
        const mark = `<sender> ${sent} `;
        await until(
          () => reader.text.includes(mark, Math.max(0, reader.text.length - 32_768)),
          `the reader to have line ${sent}`,
          30_000,
        );
      }
    }
    await reader.waitFor(`<sender> ${sent - 1} `, 30_000);
    assert.match(reader.text, /\*\*\* stuck left \(disconnected: not reading\)/);
    const got = reader.text.match(/<sender> \d+ y+\r\n/g) ?? [];
    assert.equal(got.length, sent, "the reader got every message");
  });

  it("delivers one message to 1,000 members", { timeout: 120_000 }, async (t) => {
    const { port } = await chatRoom(t, { maxPerHost: 1000 }); // all from 127.0.0.1
    const members: RawMember[] = [];
    for (let i = 0; i < 1000; i++) {
      const m = await RawMember.connect(t, port);
      m.send(`m${i}\n`);
      members.push(m);
    }
    await Promise.all(members.map((m, i) => m.waitFor(`You are m${i}.`, 60_000)));
    for (const m of members) m.take();
    const start = performance.now();
    members[0]?.send("to everyone\n");
    await Promise.all(members.slice(1).map((m) => m.waitFor("<m0> to everyone", 60_000)));
    const ms = performance.now() - start;
    t.diagnostic(`fan-out to 999 members: ${ms.toFixed(1)} ms`);
  });

  it("disconnects members that stay silent past the idle timeout", T, async (t) => {
    const { port } = await chatRoom(t, { idleTimeout: 0.3 });
    const alice = await RawMember.join(t, port, "alice");
    const bob = await RawMember.join(t, port, "bob");
    bob.socket.on("data", () => {});
    // Alice keeps talking; bob says nothing and is closed.
    const talking = setInterval(() => alice.send("/who\n"), 50);
    t.after(() => clearInterval(talking));
    await bob.closed;
    await alice.waitFor(/\*\*\* bob left \(idle for 0\.3 s\)/);
    clearInterval(talking);
  });

  it("tells whoever comes when the room is full", T, async (t) => {
    const { port } = await chatRoom(t, { maxMembers: 2 });
    await RawMember.join(t, port, "a");
    await RawMember.join(t, port, "b");
    const third = await RawMember.connect(t, port);
    await third.closed;
    assert.equal(third.text, "error: the room is full (2 members)\r\n");
  });

  it("lets the operator's terminal take part under --nick", T, async (t) => {
    const input = new PassThrough();
    const output = new PassThrough();
    let seen = "";
    output.on("data", (c: Buffer) => {
      seen += c.toString();
    });
    const { port } = await chatRoom(t, { nick: "host", input, output });
    const alice = await RawMember.join(t, port, "alice");
    input.write("welcome, alice\n");
    await alice.waitFor("<host> welcome, alice");
    alice.send("thanks, host\n");
    await new Promise<void>((resolve) => {
      const check = () => seen.includes("<alice> thanks, host") && resolve();
      output.on("data", check);
      check();
    });
    assert.match(seen, /\*\*\* alice joined\n/);
  });
});

describe("chat with Python", { skip: python3() ? false : "python3 is not installed" }, () => {
  it("the tutorial's chat client (port 5000 in the seed) joins and talks", T, async (t) => {
    const { port } = await chatRoom(t);
    const alice = await RawMember.join(t, port, "alice");
    const py = seed("reply_client", [String(port), "127.0.0.1"]);
    t.after(() => py.stop());
    py.child.stdin?.write("pyuser\n");
    await alice.waitFor("*** pyuser joined");
    py.child.stdin?.write("hello from python\n");
    await alice.waitFor("<pyuser> hello from python");
    alice.send("hi, python\n");
    // The client reads only after it sends (one recv per message), as in the tutorial.
    py.child.stdin?.write("me again\n");
    await outputFrom(py, (out) => out.includes("<alice> hi, python"));
    py.child.stdin?.end("bye\n");
    assert.equal(await py.exited, 0, py.stderr());
    await alice.waitFor("*** pyuser left");
  });
});

describe("socketkit chat", () => {
  it(
    "serve prints how to join; join --nick sends stdin's lines, prints the room, leaves at the end; SIGTERM says goodbye",
    T,
    async (t) => {
      const server = socketkit(["chat", "serve", "--port", "0"]);
      t.after(() => server.stop());
      const port = portOf(await listening(server));
      await errorOutputFrom(server, (err) =>
        err.includes(`join with: npx socketkit chat join 127.0.0.1 ${port}`),
      );
      const alice = await RawMember.join(t, Number(port), "alice");
      const bot = socketkit(
        ["chat", "join", "127.0.0.1", port, "--nick", "bot"],
        "hello from a script\n/me beeps\n",
      );
      await alice.waitFor("* bot beeps");
      assert.match(alice.text, /\*\*\* bot joined\r\n.*<bot> hello from a script\r\n/s);
      assert.equal(await bot.exited, 0, bot.stderr());
      const out = bot.stdout().toString();
      assert.match(out, /^\*\*\* Welcome to socketkit chat, room lobby\.\n/);
      assert.match(out, /\*\*\* Choose a nickname: bot\n\*\*\* You are bot\./);
      assert.match(out, /\*\*\* Bye\.\n$/);
      await alice.waitFor("*** bot left (quit)");
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0, server.stderr());
    },
  );

  it("join reconnects when the connection is lost, and --no-reconnect exits 1", T, async (t) => {
    const { port, stop } = await chatRoom(t);
    const alice = await RawMember.join(t, port, "alice");
    const stays = socketkit(["chat", "join", "127.0.0.1", String(port), "--nick", "stays"]);
    const quits = socketkit([
      "chat",
      "join",
      "127.0.0.1",
      String(port),
      "--nick",
      "quits",
      "--no-reconnect",
    ]);
    t.after(() => stays.stop());
    t.after(() => quits.stop());
    await alice.waitFor("*** quits joined");
    await alice.waitFor("*** stays joined");
    await stop();
    assert.equal(await quits.exited, 1);
    assert.match(
      quits.stderr(),
      /^socketkit: Connection to the room lost: the server closed the connection\n$/,
    );
    await errorOutputFrom(stays, (err) =>
      /connection lost \(the server closed the connection\); reconnecting in 1 s/.test(err),
    );
    // A new room on the same port: the client comes back under its nickname.
    const again = await chatRoom(t, { port });
    const watcher = await RawMember.connect(t, again.port);
    await watcher.waitFor("Choose a nickname: ");
    if (!/Online \(\d+\): .*stays/.test(watcher.text)) {
      watcher.send("watcher\n");
      await watcher.waitFor("*** stays joined", 20_000);
    }
    await errorOutputFrom(stays, (err) => err.includes("reconnected to 127.0.0.1:"));
  });
});

describe("chat join against a hostile server", () => {
  /**
   * `chat join --nick bob` (in this process) against a fake room on 127.0.0.1 that sends
   * `greeting`, `afterNick` once bob's nickname comes, and `parting` before it closes on
   * bob's /quit. Returns all the client printed.
   */
  async function joinHostile(
    t: TestContext,
    room: { greeting: string; afterNick: string; parting: string },
    options: { interactive?: boolean } = {},
  ): Promise<string> {
    const input = new PassThrough();
    const { port } = await netServer(t, (s) => {
      s.write(room.greeting);
      let got = "";
      s.on("data", (data: Buffer) => {
        got += data.toString();
        if (got === "/nick bob\n") {
          s.write(room.afterNick);
          input.end(); // the member leaves: the client says /quit
        }
        if (got.endsWith("/quit\n")) s.end(room.parting);
      });
    });
    const output = new PassThrough();
    let shown = "";
    output.on("data", (chunk: Buffer) => {
      shown += chunk.toString();
    });
    await chatJoin("127.0.0.1", port, {
      nick: "bob",
      input,
      output,
      color: true,
      reconnect: false,
      log: () => {},
      interactive: options.interactive,
    });
    return shown;
  }

  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
  const SGR = /\x1b\[[\d;]*m/g;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the controls are what is matched
  const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Bidi_Control}]/u;
  const YOU_ARE = "*** You are bob. Type /help for commands.\r\n";

  it("shows the server's control characters escaped, and colours its own way", T, async (t) => {
    // Lines that would clear the screen, set the terminal's title, reorder text and turn it
    // red, if printed as they are.
    const shown = await joinHostile(t, {
      greeting: "*** Welcome\r\n\u001b[2J*** Choose a nickname: ",
      afterNick: YOU_ARE,
      parting:
        "[12:00:00] <mallory> \u001b]0;owned\u0007 title\r\n" +
        "[12:00:01] <mallory> \u202eexe.txt \u001b[2J \u009b31m\tend\r\n" +
        "\u001b[31munfinished",
    });
    assert.match(shown, SGR, "the client's own colours");
    const plain = shown.replace(SGR, "");
    assert.doesNotMatch(plain, CONTROL);
    assert.match(plain, /\^\[\[2J\*\*\* Choose a nickname: bob\n/);
    assert.match(plain, /\[12:00:00\] <mallory> \^\[\]0;owned\^G title\n/);
    assert.match(plain, /\[12:00:01\] <mallory> <U\+202E>exe\.txt \^\[\[2J <U\+009B>31m end\n/);
    assert.match(plain, /\^\[\[31munfinished\n$/);
  });

  it("shows a server's endless line cut at 64 Ki characters, and goes on", T, async (t) => {
    const shown = await joinHostile(t, {
      greeting: "*** Choose a nickname: ",
      afterNick: `${YOU_ARE}${"x".repeat(64 * 1024 + 100)}${"y".repeat(300_000)}\r\n[12:00:00] <m> after\r\n`,
      parting: "",
    });
    const plain = shown.replace(SGR, "");
    assert.ok(
      plain.includes(
        `\n${"x".repeat(64 * 1024)} [cut: the server's line is longer than 65536 characters]\n[12:00:00] <m> after\n`,
      ),
      `what was shown: ${plain.length} characters`,
    );
    assert.equal(plain.includes("yyy"), false, "the rest of the long line is dropped");
  });

  it(
    "on a terminal, escapes the server's unfinished line where it becomes the prompt",
    T,
    async (t) => {
      const shown = await joinHostile(
        t,
        {
          greeting: "*** Choose a nickname: ",
          afterNick: `${YOU_ARE}\u001b]0;owned\u0007\u202e prompt? `,
          parting: "",
        },
        { interactive: true },
      );
      assert.ok(shown.includes("^[]0;owned^G<U+202E> prompt? "), JSON.stringify(shown));
      assert.equal(shown.includes("\u001b]"), false, "no OSC sequence");
      assert.equal(shown.includes("\u0007"), false, "no BEL");
      assert.equal(shown.includes("\u202e"), false, "no bidirectional override");
    },
  );
});

describe("socketkit chat join on a narrow terminal", { skip: noTerminal() }, () => {
  /** The rows below the welcome: the room's lines, then the prompt and the input. */
  const below = (screen: Screen) => {
    const lines = screen.text().split("\n");
    return lines.slice(lines.findIndex((l) => l.endsWith("or /help.")) + 1);
  };
  const wrap = (text: string, cols: number) =>
    Array.from({ length: Math.ceil(text.length / cols) }, (_, i) =>
      text.slice(i * cols, (i + 1) * cols),
    );

  it(
    "prints the room's lines above an input wider than the terminal, before and after a resize, leaving no stale prompt",
    T,
    async (t) => {
      const { port } = await chatRoom(t);
      const alice = await RawMember.join(t, port, "alice");
      const p = socketkitOnTerminal(["chat", "join", "127.0.0.1", String(port), "--nick", "tty"], {
        cols: 30,
        rows: 20,
      });
      t.after(() => p.stop());
      await alice.waitFor("*** tty joined");
      await p.waitFor((s) => below(s).includes(">"), "the prompt");
      const typed = "abcdefghij".repeat(7);
      p.type(typed);
      await p.waitFor((s) => s.text().includes("abcdefghij".repeat(2).slice(-10)), "the typing");
      await p.waitFor((s) => below(s).join("").includes(typed), "all the typing");
      const shows = (messages: string[], cols: number) => (s: Screen) => {
        const rows = below(s);
        const texts = rows.slice(0, messages.length).map((r) => r.replace(/^\[[\d:]+\] /, ""));
        return (
          JSON.stringify(texts) === JSON.stringify(messages) &&
          JSON.stringify(rows.slice(messages.length)) === JSON.stringify(wrap(`> ${typed}`, cols))
        );
      };
      alice.send("first\n");
      alice.send("second\n");
      const two = ["<alice> first", "<alice> second"];
      await p.waitFor(shows(two, 30), "both lines, then the prompt once");
      // The screen reflows at once; the program redraws once it has the signal (SIGWINCH),
      // and only then is the next line sure to be drawn for the new width.
      // Its redraw starts by clearing the rows below the prompt (CSI 0J): the tail of an
      // earlier redraw still on its way cannot be taken for it.
      const redrawn = (check: (s: Screen) => boolean, since: number) => (s: Screen) =>
        p.raw().slice(since).includes("\x1b[0J") && check(s);
      let since = p.raw().length;
      p.resize(50, 20);
      await p.waitFor(redrawn(shows(two, 50), since), "the prompt redrawn once at 50 columns");
      alice.send("third\n");
      await p.waitFor(shows([...two, "<alice> third"], 50), "the third line above the prompt");
      since = p.raw().length;
      p.resize(26, 20);
      // A line that comes between the terminal's resize and the signal is drawn for the
      // old width, which no program can avoid: the next line comes after the redraw.
      await p.waitFor(
        redrawn(shows([...two, "<alice> third"], 26), since),
        "the prompt redrawn at 26 columns",
      );
      alice.send("fourth\n");
      const four = [...two, "<alice> third", "<alice> fourth"];
      await p.waitFor(shows(four, 26), "the fourth line above the prompt at 26 columns");
      p.type("\r");
      await alice.waitFor(`<tty> ${typed}`);
      p.type("/quit\r");
      await alice.waitFor("*** tty left (quit)");
      assert.equal(await p.exited, 0);
    },
  );
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("socketkit chat join on a terminal", {
  skip: hasScript ? false : "util-linux `script` is not installed",
}, () => {
  /** `chat join` on a terminal of its own; `env` is put before the command. */
  async function tty(port: number, env = ""): Promise<Program> {
    const command = `${env} ${process.execPath} --import tsx ${ROOT}src/cli/main.ts chat join 127.0.0.1 ${port} --nick tty`;
    const p = start("script", ["-qfec", command, "/dev/null"]);
    await outputFrom(p, (out) => out.includes("You are tty."));
    return p;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
  const SGR = /\x1b\[[\d;]*m/g;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
  const ANY_ESCAPE = /\x1b\[[\d;]*[A-Za-z]/g;

  it("prints the room's lines above the line being typed, and keeps that line", T, async (t) => {
    const { port } = await chatRoom(t);
    const alice = await RawMember.join(t, port, "alice");
    const p = await tty(port);
    t.after(() => p.stop());
    await alice.waitFor("*** tty joined");
    p.child.stdin?.write("half-typed");
    await outputFrom(p, (out) => out.includes("half-typed"));
    const mark = p.stdout().length;
    alice.send("interrupting\n");
    await outputFrom(p, (out) => out.slice(mark).replace(ANY_ESCAPE, "").includes("> half-typed"));
    const after = p.stdout().toString().slice(mark);
    assert.match(after, SGR, "coloured on a terminal");
    const plain = after.replace(ANY_ESCAPE, "");
    assert.match(
      plain,
      /<alice> interrupting\r?\n> half-typed/,
      "the line, then the prompt and the typing",
    );
    p.child.stdin?.write(" line\n");
    await alice.waitFor("<tty> half-typed line");
    p.child.stdin?.write("/quit\n");
    await alice.waitFor("*** tty left (quit)");
    assert.equal(await p.exited, 0);
  });

  it("has no colours with NO_COLOR", T, async (t) => {
    const { port } = await chatRoom(t);
    const alice = await RawMember.join(t, port, "alice");
    const p = await tty(port, "env NO_COLOR=1");
    t.after(() => p.stop());
    await alice.waitFor("*** tty joined");
    const mark = p.stdout().length;
    alice.send("plain, please\n");
    await outputFrom(p, (out) => out.slice(mark).includes("<alice> plain, please"));
    assert.doesNotMatch(p.stdout().toString(), SGR);
    p.child.stdin?.write("\x04"); // Ctrl-D leaves too
    await alice.waitFor("*** tty left (quit)");
    assert.equal(await p.exited, 0);
  });
});

describe("socketkit chat serve --nick on a terminal", { skip: noTerminal() }, () => {
  /** The rows of the screen from the listening line on, blank ones left out. */
  const rows = (s: Screen) => {
    const lines = s.text().split("\n");
    return lines.slice(lines.findIndex((l) => l.startsWith("listening on"))).filter((l) => l);
  };
  /** The operator's typed lines, as they stay on the screen after the prompt. */
  const typed = new Set(["> /nick alice", "> one", "> two", "> three"]);
  /**
   * The prompt is the last row, alone, and no other row is a prompt with anything but
   * what was typed on it (a log or room line glued to it).
   */
  const promptLast = (s: Screen) => {
    const r = rows(s);
    return r.at(-1) === ">" && r.slice(0, -1).every((l) => !l.startsWith(">") || typed.has(l));
  };

  it(
    "keeps the operator's prompt below the log, the room's lines, a refused /nick and a pasted block",
    T,
    async (t) => {
      const p = socketkitOnTerminal(["chat", "serve", "--port", "0", "--nick", "host"], {
        cols: 100,
        rows: 40,
      });
      t.after(() => p.stop());
      await p.waitFor((s) => /listening on 127\.0\.0\.1:\d+/.test(s.text()), "the listening line");
      const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(p.screen.text())?.[1]);
      await p.waitFor(promptLast, "the prompt below the start-up lines");
      const alice = await RawMember.join(t, port, "alice");
      await p.waitFor(
        (s) => rows(s).some((l) => l.includes("*** alice joined")) && promptLast(s),
        "alice's arrival above the prompt",
      );
      alice.send("hello host\n");
      await p.waitFor(
        (s) => rows(s).some((l) => /<alice> hello host$/.test(l)) && promptLast(s),
        "alice's line above the prompt",
      );
      // A refused rename: the error is a line of its own, the prompt comes back below it.
      p.type("/nick alice\r");
      await p.waitFor(
        (s) => rows(s).some((l) => /^error: .*alice.*taken/.test(l)) && promptLast(s),
        "the refusal on a line of its own, then the prompt",
      );
      // A block pasted at once: each line is sent, and the prompt stays.
      p.type("one\rtwo\rthree\r");
      await alice.waitFor("<host> three");
      assert.match(alice.text, /<host> one\r\n.*<host> two\r\n.*<host> three\r\n/s);
      await p.waitFor(promptLast, "the prompt after the pasted block");
      // Ctrl-C on the operator's prompt stops the server, as it would without one.
      p.type("\x03");
      assert.equal(await p.exited, 0);
    },
  );
});
