/** `socketkit serve SERVICE` run as a child process, against Python peers and socketkit clients. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, it } from "node:test";
import { chargenLine } from "../../src/apps/services/chargen.ts";
import { createConnection, SHUT_WR, type Socket } from "../../src/index.ts";
import { fileTempDir } from "../helpers/net.ts";
import {
  blob,
  listening,
  type Program,
  portOf,
  python3,
  ROOT,
  rssOf,
  seed,
  start,
} from "../helpers/proc.ts";

const skip = python3() ? false : "python3 is not installed: these tests use Python peers";
const dir = fileTempDir("cli-serve");

function serve(args: string[]): Program {
  return start(process.execPath, ["--import", "tsx", `${ROOT}src/cli/main.ts`, "serve", ...args]);
}

async function withServer(
  args: string[],
  body: (where: string, server: Program) => Promise<void>,
): Promise<void> {
  const server = serve(args);
  try {
    await body(await listening(server), server);
  } finally {
    await server.stop();
  }
}

async function readAll(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let d = await s.recv(65536); d.length > 0; d = await s.recv(65536)) parts.push(d);
  return Buffer.concat(parts);
}

describe("socketkit serve with Python peers", { skip }, () => {
  it("echo over TCP returns 1 MB of binary exactly", () =>
    withServer(["echo"], async (where) => {
      const payload = randomBytes(1024 * 1024);
      const client = blob(["tcp-client", "127.0.0.1", portOf(where)], payload);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload));
    }));

  it("echo over UDP returns the datagram", () =>
    withServer(["echo", "--udp"], async (where) => {
      assert.match(where, /:\d+$/);
      const payload = randomBytes(8000);
      const client = blob(["udp-client", "127.0.0.1", portOf(where)], payload);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload));
    }));

  it("echo over a Unix socket", () => {
    const path = join(dir, "echo.sock");
    return withServer(["echo", "--unix", path], async () => {
      const client = blob(["unix-client", path], Buffer.from("over unix"));
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(client.stdout().toString(), "over unix");
    });
  });

  it("discard reads everything and sends nothing", () =>
    withServer(["discard"], async (where) => {
      const client = blob(["tcp-client", "127.0.0.1", portOf(where)], randomBytes(1024 * 1024));
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(client.stdout().length, 0);
    }));

  it("greet answers the Spanish seed's client as the seed's server does", () =>
    withServer(["greet"], async (where) => {
      const client = seed("thanks_client", [portOf(where), "127.0.0.1"]);
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(client.stdout().toString(), "b'Thank you for connecting'\n");
    }));

  it("upper answers the seed's interactive client, UTF-8 included", () =>
    withServer(["upper"], async (where) => {
      const client = seed("upper_client", [portOf(where), "127.0.0.1"], {
        stdin: "olá mundo\ncomo vai\nq\n",
      });
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(
        client.stdout().toString(),
        "type message: Received from server: OLÁ MUNDO\ntype message: Received from server: COMO VAI\ntype message: ",
      );
    }));
});

describe("socketkit serve with socketkit clients", () => {
  it("daytime sends the date and closes", () =>
    withServer(["daytime"], async (where) => {
      await using s = await createConnection(["127.0.0.1", Number(portOf(where))]);
      assert.match(
        (await readAll(s)).toString(),
        /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n$/,
      );
    }));

  it("chargen streams the RFC 864 pattern until the client closes, and keeps serving", () =>
    withServer(["chargen"], async (where) => {
      const port = Number(portOf(where));
      for (let round = 0; round < 2; round++) {
        await using s = await createConnection(["127.0.0.1", port]);
        s.shutdown(SHUT_WR); // a half-close does not stop the pattern
        const lines = Buffer.concat(Array.from({ length: 200 }, (_, i) => chargenLine(i)));
        const rfile = s.makefile("r");
        assert.ok((await rfile.readexactly(lines.length)).equals(lines));
      }
    }));

  it("chargen does not grow with clients that stop reading", () =>
    withServer(["chargen"], async (where, server) => {
      const rss = () => rssOf(server.child.pid as number);
      const port = Number(portOf(where));
      const before = rss();
      // 20 clients that never read: each can hold back at most one block plus the kernel's buffers.
      const clients = await Promise.all(
        Array.from({ length: 20 }, () => createConnection(["127.0.0.1", port])),
      );
      try {
        let peak = 0;
        // Observe for 2 s: without backpressure the server would queue hundreds of MB by then.
        for (let i = 0; i < 20; i++) {
          await new Promise((r) => setTimeout(r, 100));
          peak = Math.max(peak, rss() - before);
        }
        assert.ok(peak < 40 * 1024 * 1024, `server RSS grew ${Math.round(peak / 1048576)} MB`);
        // And it still serves: a reading client gets the pattern.
        await using reader = await createConnection(["127.0.0.1", port]);
        assert.ok((await reader.makefile("r").readexactly(74)).equals(chargenLine(0)));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    }));

  it("command answers commands, reports an over-long line, and goes on", () =>
    withServer(["command"], async (where) => {
      await using s = await createConnection(["127.0.0.1", Number(portOf(where))]);
      await s.sendall(`echo hi\n${"x".repeat(5000)}\nupper ok\nquit\n`);
      const out = (await readAll(s)).toString();
      assert.equal(
        out,
        "Hello! Type a command, or help.\r\n> hi\r\n> error: line longer than 1024 bytes\r\n> OK\r\n> bye\r\n",
      );
    }));

  it("--max-conns closes connections beyond the limit at once", () =>
    withServer(["discard", "--max-conns", "1"], async (where) => {
      const port = Number(portOf(where));
      await using first = await createConnection(["127.0.0.1", port]);
      await first.sendall("hold");
      // The first is being handled; a second one is closed by the server.
      let closed = false;
      for (let i = 0; i < 50 && !closed; i++) {
        await using extra = await createConnection(["127.0.0.1", port]);
        extra.settimeout(2);
        closed = (await extra.recv(10).catch(() => Buffer.from("timeout"))).length === 0;
      }
      assert.ok(closed, "an extra connection was closed");
    }));

  it("stops on SIGTERM with exit 0", () =>
    withServer(["echo"], async (_where, server) => {
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0, server.stderr());
    }));

  it("stops quietly with exit 0 on SIGINT or SIGTERM while an idle session is open", async () => {
    await Promise.all(
      (["SIGINT", "SIGTERM"] as const).map((signal) =>
        withServer(["echo"], async (where, server) => {
          await using idle = await createConnection(["127.0.0.1", Number(portOf(where))]);
          await idle.sendall("x");
          assert.equal((await idle.recv(10)).toString(), "x", "the session is being handled");
          server.child.kill(signal);
          assert.equal(await server.exited, 0, server.stderr());
          assert.equal(
            server.stderr(),
            `listening on ${where} (tcp)\n`,
            "nothing but the listening line, after the grace period closed the idle session",
          );
        }),
      ),
    );
  });

  it("rejects an unknown service with exit 2", async () => {
    const p = serve(["frobnicate"]);
    assert.equal(await p.exited, 2);
    assert.match(
      p.stderr(),
      /Allowed choices are echo, discard, daytime, chargen, upper, greet, command/,
    );
  });
});
