/**
 * The chat room against a hostile peer: one address holding many connections that never
 * choose a nickname, and connections left unnamed.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it, type TestContext } from "node:test";
import { chatRoom, RawMember, WsMember, wsUrl } from "../helpers/chat.ts";
import { ROOT } from "../helpers/proc.ts";

const T = { timeout: 30_000 };

describe("chat room under hostile load", () => {
  it(
    "one address cannot fill the room: unnamed connections count, the next is refused in one line, logged once",
    T,
    async (t) => {
      const { port, logs } = await chatRoom(t, { maxMembers: 100 });
      const held: RawMember[] = [];
      for (let i = 0; i < 20; i++) {
        const conn = await RawMember.connect(t, port);
        await conn.waitFor("Choose a nickname: ");
        held.push(conn);
      }
      const refused: RawMember[] = [];
      for (let i = 0; i < 5; i++) refused.push(await RawMember.connect(t, port));
      for (const conn of refused) {
        await conn.closed;
        assert.equal(
          conn.text,
          "error: too many connections from your address (at most 20)\r\n",
          "refused in one line, with no welcome",
        );
      }
      // Another address still gets in, and the flooding one is logged once.
      const alice = await RawMember.join(t, port, "alice", "127.0.0.2");
      alice.send("/who\r\n");
      await alice.waitFor("*** Online (1): alice");
      const refusals = logs.filter((line) => line.includes("connections from one address"));
      assert.equal(refusals.length, 1, logs.join("\n"));
      assert.match(
        refusals[0] ?? "",
        /^refused 127\.0\.0\.1:\d+ \(over 20 connections from one address\)$/,
      );
      // A slot freed is a slot to take again.
      held[0]?.socket.destroy();
      await held[0]?.closed;
      let again: RawMember | undefined;
      for (;;) {
        again = await RawMember.connect(t, port);
        await Promise.race([again.waitFor("Choose a nickname: "), again.closed]);
        if (again.text.includes("Choose a nickname: ")) break;
      }
      assert.ok(again.text.includes("Welcome"));
    },
  );

  it("members count per address over TCP and the WebSocket alike", T, async (t) => {
    const { port, web } = await chatRoom(t, { maxPerHost: 3, webPort: 0 });
    await RawMember.join(t, port, "alice");
    await WsMember.join(t, web, "bob");
    const third = await RawMember.connect(t, port);
    await third.waitFor("Choose a nickname: ");
    const ws = await WsMember.connect(t, web);
    await ws.closed;
    assert.equal(ws.text, "error: too many connections from your address (at most 3)\n");
    const tcp = await RawMember.connect(t, port);
    await tcp.closed;
    assert.equal(tcp.text, "error: too many connections from your address (at most 3)\r\n");
    await WsMember.join(t, web, "carol", { localAddress: "127.0.0.2" });
  });

  it("closes a connection that does not choose a nickname in time", T, async (t) => {
    const { port } = await chatRoom(t, { nickTimeout: 0.3 });
    const quick = await RawMember.join(t, port, "alice");
    const idle = await RawMember.connect(t, port);
    await idle.waitFor("Choose a nickname: ");
    await idle.closed;
    assert.match(idle.text, /error: no nickname chosen within 0\.3 s\r\n/);
    // The named member stays: it is still answered after the idle one was closed.
    quick.send("/who\r\n");
    await quick.waitFor("*** Online (1): alice");
  });
});

describe("chat nicknames against look-alikes", () => {
  it("refuses as taken what looks like a member's nickname", T, async (t) => {
    const { port } = await chatRoom(t);
    await RawMember.join(t, port, "alice");
    const mallory = await RawMember.connect(t, port);
    await mallory.waitFor("Choose a nickname: ");
    const lookAlikes = [
      "\u0430lice", // Cyrillic а
      "\uff41\uff4c\uff49\uff43\uff45", // fullwidth
      "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}", // mathematical bold
      "ALICE",
      "\u0430l\u0456c\u0435", // Cyrillic а, і, е
    ];
    for (const nick of lookAlikes) {
      mallory.take();
      mallory.send(`${nick}\r\n`);
      await mallory.waitFor(`error: the nickname ${nick} is taken; choose another: `);
    }
    mallory.take();
    mallory.send("bob\r\n");
    await mallory.waitFor("You are bob.");
  });

  it(
    "refuses invisible and filler characters, bidirectional controls and marks without a base, saying why",
    T,
    async (t) => {
      const { port } = await chatRoom(t);
      await RawMember.join(t, port, "alice");
      const mallory = await RawMember.connect(t, port);
      await mallory.waitFor("Choose a nickname: ");
      const cases: [string, string][] = [
        ["alice\u3164", "invisible or filler characters (U+3164)"],
        ["\u3164", "invisible or filler characters (U+3164)"],
        ["\u115f\u1160", "invisible or filler characters (U+115F)"],
        ["al\u200bice", "invisible or filler characters (U+200B)"],
        ["al\u200dice", "invisible or filler characters (U+200D)"],
        ["al\u200cice", "invisible or filler characters (U+200C)"],
        ["al\u2062ice", "invisible or filler characters (U+2062)"],
        ["al\ufeffice", "invisible or filler characters (U+FEFF)"],
        ["al\u00adice", "invisible or filler characters (U+00AD)"],
        ["eve\u202e", "bidirectional controls (U+202E)"],
        ["eve\u2067x", "bidirectional controls (U+2067)"],
        ["eve\u200f", "bidirectional controls (U+200F)"],
        ["eve\u061c", "bidirectional controls (U+061C)"],
        ["\u0301eve", "cannot start with a combining mark"],
      ];
      for (const [nick, why] of cases) {
        mallory.take();
        mallory.send(`${nick}\r\n`);
        await mallory.waitFor(why);
        assert.match(mallory.text, /^error: a nickname .*; choose a nickname: $/);
      }
      // Marks on a letter are letters of their script.
      mallory.take();
      mallory.send("\u0928\u092e\u0938\u094d\u0924\u0947\r\n");
      await mallory.waitFor("You are \u0928\u092e\u0938\u094d\u0924\u0947.");
    },
  );
});

/** A member in a process of its own, so that the server's stall does not stall it: it joins, sends `count` lines `everyMs` apart, and prints what it reads. */
const PACED_MEMBER = `
const net = require("node:net");
const [port, count, everyMs] = process.argv.slice(1).map(Number);
const s = net.connect({ host: "127.0.0.1", port });
let text = "";
s.on("data", (d) => {
  process.stdout.write(d);
  if (text === null) return;
  text += d;
  if (!text.includes("You are probe.")) return;
  text = null;
  let i = 0;
  const timer = setInterval(() => {
    s.write("line " + i + "\\r\\n");
    if (++i === count) clearInterval(timer);
  }, everyMs);
});
s.write("probe\\r\\n");
`;

/** {@link PACED_MEMBER} over the web page's WebSocket. */
const PACED_WS_MEMBER = `
const { WebSocket } = require("ws");
const [url, origin] = process.argv.slice(1, 3);
const [count, everyMs] = process.argv.slice(3).map(Number);
const ws = new WebSocket(url, { origin });
let joined = false;
ws.on("open", () => ws.send("probe"));
ws.on("message", (d) => {
  process.stdout.write(String(d) + "\\n");
  if (joined || !String(d).includes("You are probe.")) return;
  joined = true;
  let i = 0;
  const timer = setInterval(() => {
    ws.send("line " + i);
    if (++i === count) clearInterval(timer);
  }, everyMs);
});
`;

describe("chat rate limit under the server's own delay", () => {
  /**
   * Starts `member` (a paced member in a child process: 16 lines, 4 a second), stalls the
   * server 3.5 s once its first line is in, and checks that none of its lines is refused.
   */
  async function survivesStall(t: TestContext, port: number, member: string[]): Promise<void> {
    const watcher = await RawMember.join(t, port, "watcher");
    const child = spawn(process.execPath, ["-e", ...member, "16", "250"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    t.after(() => child.kill());
    let out = "";
    const refused = new Promise<void>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("too many messages")) resolve();
      });
    });
    await watcher.waitFor("<probe> line 0");
    // The server stalls 3.5 s (as under a burst from everyone): the member's next 14 lines,
    // sent 4 a second, all wait in the kernel and are read at once.
    const until = performance.now() + 3500;
    while (performance.now() < until) {}
    await Promise.race([watcher.waitFor("<probe> line 15"), refused]);
    assert.doesNotMatch(out, /too many messages/);
    assert.match(watcher.text, /<probe> line 15\r\n/);
  }

  it(
    "counts a member's rate by when its lines arrived, not when a stalled server read them",
    T,
    async (t) => {
      const { port } = await chatRoom(t, { rate: 5, burst: 10 });
      await survivesStall(t, port, [PACED_MEMBER, String(port)]);
    },
  );

  it("counts a web member's rate by when its lines arrived, as a TCP member's", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0, rate: 5, burst: 10 });
    await survivesStall(t, port, [PACED_WS_MEMBER, wsUrl(web), web.replace(/\/$/, "")]);
  });
});
