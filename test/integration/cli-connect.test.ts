/**
 * `socketkit connect` run as a child process against Python peers: bytes exact both ways,
 * half-close at the end of input with the whole reply still printed, the peer closing
 * first, UDP and Unix sockets, and the failure messages and exit codes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { closedPort } from "../helpers/net.ts";
import {
  blob,
  listening,
  outputFrom,
  portOf,
  python3,
  ROOT,
  seed,
  socketkit,
  start,
} from "../helpers/proc.ts";

const skip = python3() ? false : "python3 is not installed: these tests use Python peers";
const dir = mkdtempSync(join(tmpdir(), "socketkit-cli-connect-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = socketkit;

describe("socketkit connect", { skip }, () => {
  it("sends its input, half-closes, and prints the whole echo of 5 MB of binary", async () => {
    const server = blob(["tcp-echo", "127.0.0.1", "0"]);
    try {
      const port = portOf(await listening(server));
      const payload = randomBytes(5 * 1024 * 1024);
      const p = cli(["connect", "127.0.0.1", port], payload);
      assert.equal(await p.exited, 0, p.stderr());
      assert.ok(p.stdout().equals(payload), "the reply is complete and exact");
    } finally {
      await server.stop();
    }
  });

  it("ends when the peer closes first, with its input still open (the seed's thank-you server)", async () => {
    const server = seed("thanks_server", ["0", "127.0.0.1"]);
    try {
      const port = portOf(await listening(server));
      const p = cli(["connect", "127.0.0.1", port], null);
      assert.equal(await p.exited, 0, p.stderr());
      assert.equal(p.stdout().toString(), "Thank you for connecting");
    } finally {
      await server.stop();
    }
  });

  it("talks to a Unix stream socket with --unix", async () => {
    const path = join(dir, "echo.sock");
    const server = blob(["unix-echo", path]);
    try {
      await listening(server);
      const p = cli(["connect", "--unix", path], "over a unix socket\n");
      assert.equal(await p.exited, 0, p.stderr());
      assert.equal(p.stdout().toString(), "over a unix socket\n");
    } finally {
      await server.stop();
    }
  });

  it("sends datagrams with --udp and prints the replies that come within --timeout", async () => {
    const server = blob(["udp-echo", "127.0.0.1", "0"]);
    try {
      const port = portOf(await listening(server));
      const p = cli(["connect", "--udp", "127.0.0.1", port, "--timeout", "0.5"], "ping");
      assert.equal(await p.exited, 0, p.stderr());
      assert.equal(p.stdout().toString(), "ping");
    } finally {
      await server.stop();
    }
  });

  it("sends CRLF line ends with --crlf", async () => {
    const server = blob(["tcp-echo", "127.0.0.1", "0"]);
    try {
      const port = portOf(await listening(server));
      const p = cli(["connect", "--crlf", "127.0.0.1", port], "a\nb\r\nc\n");
      assert.equal(await p.exited, 0, p.stderr());
      assert.equal(p.stdout().toString(), "a\r\nb\r\nc\r\n");
    } finally {
      await server.stop();
    }
  });
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("socketkit connect on a terminal", {
  skip: hasScript ? false : "util-linux `script` is not installed: it gives the command a terminal",
}, () => {
  it("is line-interactive: a prompt, each line sent as typed, q alone quits", async () => {
    const server = cli(["serve", "upper"], null);
    try {
      const port = portOf(await listening(server));
      const command = `${process.execPath} --import tsx ${ROOT}src/cli/main.ts connect 127.0.0.1 ${port}`;
      const tty = start("script", ["-qfec", command, "/dev/null"]);
      try {
        tty.child.stdin?.write("hello there\n");
        await outputFrom(tty, (out) => out.includes("HELLO THERE"));
        assert.match(tty.stdout().toString(), /> /, "a prompt is shown");
        tty.child.stdin?.write("q\n");
        assert.equal(await tty.exited, 0, tty.stdout().toString());
        assert.doesNotMatch(tty.stdout().toString(), /\bQ\b/, "q is not sent to the server");
      } finally {
        await tty.stop();
      }
    } finally {
      await server.stop();
    }
  });
});

describe("socketkit connect failures", () => {
  it("says the connection was refused in one line and exits 1", async () => {
    const p = cli(["connect", "127.0.0.1", String(await closedPort())], "");
    assert.equal(await p.exited, 1);
    assert.match(
      p.stderr(),
      /^socketkit: Cannot connect to 127\.0\.0\.1:\d+: connection refused\n$/,
    );
  });

  it("says an unknown host cannot be resolved and exits 1", async () => {
    const p = cli(["connect", "bad host!", "80"], "");
    assert.equal(await p.exited, 1);
    assert.match(p.stderr(), /^socketkit: Cannot resolve "bad host!": /);
    assert.equal(p.stderr().trim().split("\n").length, 1, "one line, no stack trace");
  });

  it("exits 2 on a usage error", async () => {
    const p = cli(["connect", "127.0.0.1", "99999"], "");
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /Port must be 0-65535/);
  });
});
