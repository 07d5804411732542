/**
 * `socketkit listen` run as a child process with the seeds' Python clients: the raw file
 * server (`--send`, 10 MB of binary byte for byte), the collecting server (`--output`),
 * a two-way pipe, UDP, and the failure cases.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AF_INET, createConnection, SOCK_DGRAM, socket } from "../../src/index.ts";
import { fileTempDir, recvAll } from "../helpers/net.ts";
import {
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

const skip = python3() ? false : "python3 is not installed: these tests use Python clients";
const dir = fileTempDir("cli-listen");

const cli = socketkit;

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("socketkit listen", { skip }, () => {
  it("--send serves a 10 MB binary file to the seed's Python file client, byte for byte", async () => {
    const source = join(dir, "test.bin");
    const payload = randomBytes(10 * 1024 * 1024);
    writeFileSync(source, payload);
    const server = cli(["listen", "0", "--send", source]);
    try {
      const where = await listening(server);
      assert.match(server.stderr(), /listening on 127\.0\.0\.1:\d+ \(tcp\)/);
      const target = join(dir, "recv.bin");
      const client = seed("file_client", [portOf(where), "127.0.0.1", target]);
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(sha256(readFileSync(target)), sha256(payload));
      assert.equal(await server.exited, 0, "one client served, then it exits");
    } finally {
      await server.stop();
    }
  });

  it("--output collects what the seed's client sends (the Russian tutorial's server)", async () => {
    const target = join(dir, "collected.txt");
    const server = cli(["listen", "0", "--output", target]);
    try {
      const where = await listening(server);
      const client = seed("hello_world_client", [portOf(where), "127.0.0.1"]);
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(await server.exited, 0, server.stderr());
      assert.equal(readFileSync(target, "utf8"), "hello, world!");
    } finally {
      await server.stop();
    }
  });

  it("copies its input to the client and what the client sends to its output", async () => {
    const server = cli(["listen", "0"], "reply from the listener");
    try {
      const port = portOf(await listening(server));
      const client = start(python3() as string, [
        "-c",
        `import socket,sys
s=socket.create_connection(("127.0.0.1",${port}))
s.sendall(b"request from python")
d=b""
while True:
    c=s.recv(65536)
    if not c: break
    d+=c
sys.stdout.write(d.decode())
s.close()`,
      ]);
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(client.stdout().toString(), "reply from the listener");
      assert.equal(await server.exited, 0, server.stderr());
      assert.equal(server.stdout().toString(), "request from python");
    } finally {
      await server.stop();
    }
  });

  it("--udp prints datagrams and answers the sender with its input", async () => {
    const server = cli(["listen", "0", "--udp"]);
    try {
      const port = Number(portOf(await listening(server)));
      await using c = socket(AF_INET, SOCK_DGRAM);
      await c.sendto("datagram one", ["127.0.0.1", port]);
      await outputFrom(server, (out) => out.includes("datagram one"));
      assert.equal(server.stdout().toString(), "datagram one");
    } finally {
      await server.stop();
    }
  });

  it("--keep-open serves clients at once: stdin to all of them, all they send to stdout", async () => {
    const server = cli(["listen", "0", "--keep-open"]);
    try {
      const port = Number(portOf(await listening(server)));
      await using a = await createConnection(["127.0.0.1", port]);
      await using b = await createConnection(["127.0.0.1", port]);
      await a.sendall("from a\n");
      await b.sendall("from b\n");
      await outputFrom(server, (out) => out.includes("from a") && out.includes("from b"));
      server.child.stdin?.end("to everyone\n");
      assert.equal((await recvAll(a)).toString(), "to everyone\n");
      assert.equal((await recvAll(b)).toString(), "to everyone\n");
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0, server.stderr());
    } finally {
      await server.stop();
    }
  });

  it("--keep-open --send sends the file to clients that connect at once", async () => {
    const source = join(dir, "shared.bin");
    const payload = randomBytes(2 * 1024 * 1024);
    writeFileSync(source, payload);
    const server = cli(["listen", "0", "--keep-open", "--send", source]);
    try {
      const port = Number(portOf(await listening(server)));
      const clients = await Promise.all([1, 2, 3].map(() => createConnection(["127.0.0.1", port])));
      const got = await Promise.all(clients.map((c) => recvAll(c)));
      for (const g of got) assert.equal(sha256(g), sha256(payload));
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await server.stop();
    }
  });

  it("--keep-open --max-conns closes a client over the limit; --idle-timeout a silent one", async () => {
    const server = cli(["listen", "0", "--keep-open", "--max-conns", "1", "--idle-timeout", "1"]);
    try {
      const port = Number(portOf(await listening(server)));
      await using held = await createConnection(["127.0.0.1", port]);
      await held.sendall("held\n");
      await outputFrom(server, (out) => out.includes("held"));
      await using over = await createConnection(["127.0.0.1", port]);
      assert.equal((await over.recv(100)).length, 0, "closed at once");
      // Nothing moves on the held connection: closed after the idle timeout.
      assert.equal((await held.recv(100)).length, 0, "closed when idle");
      await errorOutputFrom(server, (err) => err.includes("idle for 1 s"));
      const lines = server.stderr().trimEnd().split("\n");
      assert.match(lines[1] as string, /^refused 127\.0\.0\.1:\d+ \(1 clients already\)$/);
      assert.match(lines[2] as string, /^127\.0\.0\.1:\d+: Cannot receive from .*: idle for 1 s$/);
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0, server.stderr());
    } finally {
      await server.stop();
    }
  });

  it("stops on SIGTERM with exit 0", async () => {
    const server = cli(["listen", "0", "--keep-open"]);
    try {
      await listening(server);
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0, server.stderr());
    } finally {
      await server.stop();
    }
  });
});

describe("socketkit listen, netcat's ways", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`exits 0 on ${signal} within the grace period while a client reads nothing of --send`, async () => {
      const source = join(dir, "big.bin");
      writeFileSync(source, randomBytes(32 * 1024 * 1024));
      const server = cli(["listen", "0", "--send", source], null);
      const port = Number(portOf(await listening(server)));
      await using idle = await createConnection(["127.0.0.1", port]);
      await idle.recv(1); // the file is on its way, and the client reads no more
      server.child.kill(signal);
      assert.equal(await within(server, 8000), 0, server.stderr());
    });
  }

  it("takes the port as PORT, --port P or -p P, and HOST PORT as nc -l does", async () => {
    for (const args of [
      ["--port", "0"],
      ["-p", "0"],
      ["127.0.0.1", "0"],
      ["-s", "127.0.0.1", "-p", "0"],
    ]) {
      const server = cli(["listen", ...args], "hi\n");
      try {
        const port = Number(portOf(await listening(server)));
        await using c = await createConnection(["127.0.0.1", port]);
        assert.equal((await recvAll(c)).toString(), "hi\n", args.join(" "));
      } finally {
        await server.stop();
      }
    }
    const both = cli(["listen", "5000", "--port", "5001"]);
    assert.equal(await within(both, 20_000), 2);
    assert.match(both.stderr(), /two ports/);
  });

  it("-v says who connected; with -k it says whose bytes come next", async () => {
    const server = cli(["listen", "0", "-k", "-v"]);
    try {
      const port = Number(portOf(await listening(server)));
      await using a = await createConnection(["127.0.0.1", port]);
      await errorOutputFrom(server, (err) => err.includes("Connection from"));
      await a.sendall("from a\n");
      await outputFrom(server, (out) => out.includes("from a"));
      const [, aPort] = a.getsockname() as [string, number];
      assert.match(server.stderr(), new RegExp(`Connection from 127\\.0\\.0\\.1:${aPort}\n`));
      assert.match(server.stderr(), new RegExp(`from 127\\.0\\.0\\.1:${aPort}:\n`));
      assert.equal(server.stdout().toString(), "from a\n", "stdout stays the clients' bytes");
    } finally {
      await server.stop();
    }
  });

  it("--udp keeps the input that comes before the first datagram for its sender", async () => {
    const server = cli(["listen", "0", "--udp"], "early input\n");
    try {
      const port = Number(portOf(await listening(server)));
      await using c = socket(AF_INET, SOCK_DGRAM);
      await c.connect(["127.0.0.1", port]);
      c.settimeout(10);
      await c.send("hello");
      assert.equal((await c.recv(100)).toString(), "early input\n");
    } finally {
      await server.stop();
    }
  });

  it("says no such file or directory for a --unix path in a folder that does not exist", async () => {
    const p = cli(["listen", "--unix", join(dir, "no-such-folder", "s.sock")]);
    assert.equal(await within(p, 20_000), 1);
    assert.match(p.stderr(), /^socketkit: Cannot bind .*: no such file or directory\n$/);
  });
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("socketkit listen on a terminal", {
  skip: !python3()
    ? "python3 is not installed"
    : hasScript
      ? false
      : "util-linux `script` is not installed",
}, () => {
  it("sends each typed line to the client, as the seed's chat server, and q ends it", async () => {
    const command = `${process.execPath} --import tsx ${ROOT}src/cli/main.ts listen 0`;
    const tty = start("script", ["-qfec", command, "/dev/null"]);
    try {
      await outputFrom(tty, (out) => /listening on 127\.0\.0\.1:\d+/.test(out));
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(tty.stdout().toString())?.[1] as string;
      const client = start(python3() as string, [
        "-c",
        `import socket
s = socket.create_connection(("127.0.0.1", ${port}))
s.sendall(b"hello from python\\n")
print(s.makefile("rb").readline().decode(), end="")`,
      ]);
      await outputFrom(tty, (out) => out.includes("hello from python"));
      tty.child.stdin?.write("hi, python\n");
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(client.stdout().toString(), "hi, python\n");
      tty.child.stdin?.write("q\n");
      assert.equal(await tty.exited, 0, tty.stdout().toString());
    } finally {
      await tty.stop();
    }
  });

  it("stops with exit 0 at the first Ctrl-C while a client stays connected", async () => {
    const command = `${process.execPath} --import tsx ${ROOT}src/cli/main.ts listen 0`;
    const tty = start("script", ["-qfec", command, "/dev/null"]);
    try {
      await outputFrom(tty, (out) => /listening on 127\.0\.0\.1:\d+/.test(out));
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(tty.stdout().toString())?.[1] as string;
      await using c = await createConnection(["127.0.0.1", Number(port)]);
      await c.sendall("here\n");
      await outputFrom(tty, (out) => out.includes("here"));
      tty.child.stdin?.write("\x03");
      assert.equal(await within(tty, 10_000), 0, tty.stdout().toString());
    } finally {
      await tty.stop();
    }
  });
});

describe("socketkit listen failures", () => {
  it("says the address is in use in one line and exits 1", async () => {
    const first = cli(["listen", "0", "--keep-open"]);
    try {
      const port = portOf(await listening(first));
      const second = cli(["listen", port]);
      assert.equal(await second.exited, 1);
      assert.match(
        second.stderr(),
        /^socketkit: Cannot bind 127\.0\.0\.1:\d+: address already in use\n$/,
      );
    } finally {
      await first.stop();
    }
  });

  it("exits 2 without a port, in one line and where to read more", async () => {
    const p = cli(["listen"]);
    assert.equal(await p.exited, 2);
    assert.equal(
      p.stderr(),
      "error: listen needs PORT, --port P or --unix PATH\nsee 'socketkit listen --help'\n",
    );
  });
});
