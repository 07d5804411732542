/**
 * socketkit with the tools people use instead: socat and ncat as clients of
 * `socketkit serve` and as servers for `socketkit connect`; telnet (on a terminal made by
 * `script`) with the services and `listen`. Each test skips, saying why,
 * when its tool is not installed (`.ci/run` installs them where it can).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { chatRoom, RawMember } from "../helpers/chat.ts";
import { closedPort } from "../helpers/net.ts";
import {
  errorOutputFrom,
  listening,
  outputFrom,
  type Program,
  portOf,
  socketkit,
  start,
} from "../helpers/proc.ts";

function tool(name: string): string | false {
  return spawnSync(name, ["-V"]).error === undefined
    ? false
    : `${name} is not installed (apt-get install -y ${name})`;
}
const noSocat = tool("socat");
const noNcat = tool("ncat");

const cli = socketkit;

describe("socat", { skip: noSocat }, () => {
  it("as a client of socketkit serve echo gets 1 MB of binary back exactly", async () => {
    const server = cli(["serve", "echo"]);
    try {
      const port = portOf(await listening(server));
      const payload = randomBytes(1024 * 1024);
      const client = start("socat", ["-t", "5", "-", `TCP:127.0.0.1:${port}`], { stdin: payload });
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload));
    } finally {
      await server.stop();
    }
  });

  it("as an echo server for socketkit connect returns 1 MB of binary exactly", async () => {
    const port = await closedPort();
    const server = start("socat", [
      "-d",
      "-d",
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
      "EXEC:cat",
    ]);
    try {
      await errorOutputFrom(server, (err) => /listening on/.test(err));
      const payload = randomBytes(1024 * 1024);
      const client = cli(["connect", "127.0.0.1", String(port)], payload);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload));
    } finally {
      await server.stop();
    }
  });
});

describe("ncat", { skip: noNcat }, () => {
  it("as a client of socketkit serve command gets its answers", async () => {
    const server = cli(["serve", "command"]);
    try {
      const port = portOf(await listening(server));
      const client = start("ncat", ["127.0.0.1", port], { stdin: "echo from ncat\nquit\n" });
      assert.equal(await client.exited, 0, client.stderr());
      assert.match(client.stdout().toString(), /> from ncat\r\n> bye\r\n$/);
    } finally {
      await server.stop();
    }
  });

  it("joins socketkit chat and talks", async (t) => {
    const { port } = await chatRoom(t);
    const alice = await RawMember.join(t, port, "alice");
    const client = start("ncat", ["127.0.0.1", String(port)]);
    try {
      await outputFrom(client, (out) => out.includes("Choose a nickname: "));
      client.child.stdin?.write("ncatter\nhello from ncat\n");
      await alice.waitFor("<ncatter> hello from ncat\r\n");
      alice.send("hi, ncat\n");
      await outputFrom(client, (out) => out.includes("<alice> hi, ncat"));
      client.child.stdin?.end("/quit\n");
      assert.equal(await client.exited, 0, client.stderr());
      assert.match(client.stdout().toString(), /\*\*\* Bye\.\r\n$/);
    } finally {
      await client.stop();
    }
  });

  it("as a listener receives what socketkit connect sends", async () => {
    const port = await closedPort();
    const server = start("ncat", ["-v", "-l", "127.0.0.1", String(port)]);
    try {
      await errorOutputFrom(server, (err) => /Listening on/.test(err));
      const client = cli(["connect", "127.0.0.1", String(port)], "hello ncat\n");
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(await server.exited, 0, server.stderr());
      assert.equal(server.stdout().toString(), "hello ncat\n");
    } finally {
      await server.stop();
    }
  });
});

const noTelnet =
  spawnSync("telnet", ["--version"]).error === undefined
    ? spawnSync("script", ["--version"]).error === undefined
      ? false
      : "util-linux `script` is not installed (telnet needs a terminal)"
    : "telnet is not installed (apt-get install -y telnet)";

/** telnet to 127.0.0.1:PORT on a terminal of its own (it reads the keyboard, not a pipe). */
async function telnet(port: string): Promise<Program> {
  const tty = start("script", ["-qfec", `telnet 127.0.0.1 ${port}`, "/dev/null"]);
  await outputFrom(tty, (out) => out.includes("Escape character is"));
  return tty;
}

describe("telnet", { skip: noTelnet }, () => {
  it("talks to socketkit serve command: the greeting, an answer, and quit closes", async () => {
    const server = cli(["serve", "command"]);
    let tty: Program | null = null;
    try {
      tty = await telnet(portOf(await listening(server)));
      const t = tty;
      await outputFrom(t, (out) => out.includes("Hello! Type a command, or help.\r\n> "));
      t.child.stdin?.write("upper hello from telnet\n");
      await outputFrom(t, (out) => out.includes("HELLO FROM TELNET\r\n> "));
      t.child.stdin?.write("quit\n");
      await outputFrom(t, (out) => out.includes("bye\r\nConnection closed by foreign host."));
      await t.exited;
    } finally {
      await tty?.stop();
      await server.stop();
    }
  });

  it("gets socketkit serve greet's line, then the server closes", async () => {
    // The greeting has no line end (byte for byte the seed's), so telnet's notice follows it.
    const server = cli(["serve", "greet"]);
    let tty: Program | null = null;
    try {
      tty = await telnet(portOf(await listening(server)));
      const t = tty;
      await outputFrom(t, (out) =>
        out.includes("Thank you for connectingConnection closed by foreign host."),
      );
      await t.exited;
    } finally {
      await tty?.stop();
      await server.stop();
    }
  });

  it("joins socketkit chat: nickname, a message to the room, and /quit", async (t) => {
    const { port } = await chatRoom(t);
    const alice = await RawMember.join(t, port, "alice");
    const tty = await telnet(String(port));
    try {
      await outputFrom(tty, (out) => out.includes("Choose a nickname: "));
      tty.child.stdin?.write("telnetter\n");
      await alice.waitFor("*** telnetter joined");
      tty.child.stdin?.write("hello from telnet\n");
      await alice.waitFor("<telnetter> hello from telnet\r\n");
      alice.send("hi, telnet\n");
      await outputFrom(tty, (out) => out.includes("<alice> hi, telnet"));
      tty.child.stdin?.write("/quit\n");
      await alice.waitFor("*** telnetter left (quit)");
      await outputFrom(tty, (out) => out.includes("Connection closed by foreign host."));
    } finally {
      await tty.stop();
    }
  });

  it("types lines to socketkit listen, which sends its stdin back (CRLF from telnet arrives as sent)", async () => {
    const server = cli(["listen", "0"]);
    let tty: Program | null = null;
    try {
      tty = await telnet(portOf(await listening(server)));
      const t = tty;
      t.child.stdin?.write("line from telnet\n");
      await outputFrom(server, (out) => out.includes("line from telnet"));
      assert.equal(server.stdout().toString(), "line from telnet\r\n", "telnet ends lines in CRLF");
      server.child.stdin?.end("reply from listen\r\n");
      await outputFrom(t, (out) => out.includes("reply from listen"));
      t.child.stdin?.write("\x1dquit\n"); // Ctrl-] then quit: telnet closes, listen ends
      assert.equal(await server.exited, 0, server.stderr());
    } finally {
      await tty?.stop();
      await server.stop();
    }
  });
});
