/**
 * `socketkit connect` run as a child process against Python peers: bytes exact both ways,
 * half-close at the end of input with the whole reply still printed, the peer closing
 * first, UDP and Unix sockets, and the failure messages and exit codes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  AF_INET,
  AF_INET6,
  createConnection,
  SOCK_DGRAM,
  SOCK_STREAM,
  socket,
} from "../../src/index.ts";
import { closedPort, closing, fileTempDir, portOf as portNumber, recvAll } from "../helpers/net.ts";
import {
  blob,
  errorOutputFrom,
  listening,
  outputFrom,
  portOf,
  python3,
  ROOT,
  seed,
  socketkit,
  start,
  within,
} from "../helpers/proc.ts";

const skip = python3() ? false : "python3 is not installed: these tests use Python peers";
const dir = fileTempDir("cli-connect");

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

  it("takes nc's -C, -N, -4, -n and -i: CRLF, shutdown at the end of input, IPv4, no lookup, idle limit", async (t) => {
    const server = blob(["tcp-echo", "127.0.0.1", "0"]);
    t.after(() => server.stop());
    const port = portOf(await listening(server));
    const crlf = cli(["connect", "-C", "-N", "-4", "localhost", port], "a\nb\n");
    assert.equal(await crlf.exited, 0, crlf.stderr());
    assert.equal(crlf.stdout().toString(), "a\r\nb\r\n");
    // -n: a name is refused before anything is looked up.
    const named = cli(["connect", "-n", "localhost", port], "");
    assert.notEqual(await named.exited, 0);
    assert.match(named.stderr(), /localhost/);
    // -i 1: quiet both ways for a second (standard input left open), the command ends.
    await using quiet = socket(AF_INET, SOCK_STREAM);
    await quiet.bind(["127.0.0.1", 0]);
    quiet.listen(5);
    const idle = cli(
      ["connect", "-i", "1", "127.0.0.1", String(portNumber(quiet.getsockname()))],
      null,
    );
    const [conn] = await quiet.accept();
    t.after(() => conn.close());
    assert.notEqual(await within(idle, 20_000), null);
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

  it("prints what the peer sends above the prompt line, not after the prompt", async () => {
    const server = cli(["serve", "upper"], null);
    try {
      const port = portOf(await listening(server));
      const command = `${process.execPath} --import tsx ${ROOT}src/cli/main.ts connect 127.0.0.1 ${port}`;
      const tty = start("script", ["-qfec", command, "/dev/null"]);
      try {
        tty.child.stdin?.write("hello there\n");
        await outputFrom(tty, (out) => /HELLO THERE\r?\n.*> /s.test(out));
        assert.doesNotMatch(tty.stdout().toString(), /> HELLO THERE/);
        tty.child.stdin?.write("q\n");
        assert.equal(await tty.exited, 0, tty.stdout().toString());
      } finally {
        await tty.stop();
      }
    } finally {
      await server.stop();
    }
  });
});

describe("socketkit connect, netcat's flags", () => {
  it("--udp --timeout 1 ends when nothing ever answers", async () => {
    // A bound UDP socket that never answers: no ICMP refusal, no reply.
    await using silent = socket(AF_INET, SOCK_DGRAM);
    await silent.bind(["127.0.0.1", 0]);
    const port = String(portNumber(silent.getsockname()));
    const p = cli(["connect", "--udp", "--timeout", "1", "127.0.0.1", port], "ping\n");
    const code = await within(p, 10_000);
    assert.equal(code, 0, p.stderr());
  });

  it("-v -z reports an open port and exits 0, a closed one exits 1 (as nc -v -z)", async () => {
    await using server = socket(AF_INET, SOCK_STREAM);
    await server.bind(["127.0.0.1", 0]);
    server.listen(5);
    const port = portNumber(server.getsockname());
    const open = cli(["connect", "-v", "-z", "127.0.0.1", String(port)], null);
    assert.equal(await within(open, 20_000), 0, open.stderr());
    assert.equal(open.stderr(), `Connected to 127.0.0.1:${port}\n`);
    assert.equal(open.stdout().length, 0);
    const closed = cli(["connect", "-vz", "127.0.0.1", String(await closedPort())], null);
    assert.equal(await within(closed, 20_000), 1);
    assert.match(
      closed.stderr(),
      /^socketkit: Cannot connect to 127\.0\.0\.1:\d+: connection refused\n$/,
    );
  });

  it("takes ::1 and [::1] as the host, and -s/-p as the source address and port", async (t) => {
    const server = closing(t, socket(AF_INET6, SOCK_STREAM));
    try {
      await server.bind(["::1", 0]);
    } catch {
      t.skip("no IPv6 loopback here");
      return;
    }
    server.listen(5);
    const port = String(portNumber(server.getsockname()));
    for (const host of ["::1", "[::1]"]) {
      const p = cli(["connect", "-6", "-n", host, port], `to ${host}\n`);
      const [conn] = await server.accept();
      assert.equal((await recvAll(conn)).toString(), `to ${host}\n`);
      await conn.close();
      assert.equal(await within(p, 20_000), 0, p.stderr());
    }
    const sourcePort = await closedPort();
    const p = cli(["connect", "-s", "::1", "-p", String(sourcePort), "::1", port], "");
    const [conn, from] = await server.accept();
    assert.deepEqual([from[0], from[1]], ["::1", sourcePort]);
    await conn.close();
    assert.equal(await within(p, 20_000), 0, p.stderr());
  });

  it("-q 0 quits at the end of its input though the peer stays open", async () => {
    await using server = socket(AF_INET, SOCK_STREAM);
    await server.bind(["127.0.0.1", 0]);
    server.listen(5);
    const p = cli(
      ["connect", "-q", "0", "127.0.0.1", String(portNumber(server.getsockname()))],
      "x",
    );
    const [conn] = await server.accept();
    try {
      assert.equal(await within(p, 20_000), 0, p.stderr());
      assert.equal((await recvAll(conn)).toString(), "x");
    } finally {
      await conn.close();
    }
  });

  it("-l listens, as nc -l: connect -l PORT is listen PORT", async () => {
    const server = cli(["connect", "-lv", "0"], "hello from -l\n");
    try {
      const port = Number(portOf(await listening(server)));
      await using c = await createConnection(["127.0.0.1", port]);
      assert.equal((await recvAll(c)).toString(), "hello from -l\n");
      await errorOutputFrom(server, (err) => /Connection from 127\.0\.0\.1:\d+/.test(err));
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

  it("exits 2 on a usage error, with one line and where to read more", async () => {
    const p = cli(["connect", "127.0.0.1", "99999"], "");
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /Port must be 0-65535/);
    assert.match(p.stderr(), /^error: .*\nsee 'socketkit connect --help'\n$/);
  });

  it("refuses port 0 as a usage error", async () => {
    const p = cli(["connect", "127.0.0.1", "0"], "");
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /Port must be 1-65535/);
  });
});
