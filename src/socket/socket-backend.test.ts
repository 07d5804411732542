import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { recvAll, rejection, tcpPair, thrown } from "../../test/helpers/net.ts";
import { ROOT } from "../../test/helpers/proc.ts";
import {
  AF_INET,
  AF_UNIX,
  SO_LINGER,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { SocketError, TimeoutError, UnsupportedError } from "../core/errors.ts";
import { hasNative, nativeMissingReason } from "../native/index.ts";
import "../native/register.ts";
import { select } from "../select/select.ts";
import { createConnection } from "./create-connection.ts";
import { createServer } from "./create-server.ts";
import { Socket, socket } from "./socket.ts";

const needsNative = hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`;

/** The TypeScript files under `src/DIR`, tests aside, with their text. */
function sources(dir: string): [string, string][] {
  const base = join(ROOT, "src", dir);
  return readdirSync(base, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .map((f) => [`src/${dir}/${f}`, readFileSync(join(base, f), "utf8")]);
}

describe("SocketBackend: one facade over the backends", () => {
  it("the socket layer (and the layers under it) never import the native layer", () => {
    const offenders = ["core", "codec", "socket", "select"]
      .flatMap(sources)
      .filter(([, text]) => /from "\.\.\/native\/|import "\.\.\/native\//.test(text))
      .map(([file]) => file);
    assert.deepEqual(offenders, []);
  });

  it("the servers and apps use public calls, not the socket's internal symbols, to bind, read datagrams, set idle timeouts and reset", () => {
    const offenders = ["server", "apps"]
      .flatMap(sources)
      .filter(([, text]) => /kBindServer|kTakeDatagram|kStream/.test(text))
      .map(([file]) => file);
    assert.deepEqual(offenders, []);
  });

  it("a socket of a type Node.js lacks is a Socket made by Socket's own constructor", {
    skip: needsNative,
  }, async () => {
    await using s = socket(AF_UNIX, SOCK_DGRAM);
    assert.equal(Object.getPrototypeOf(s), Socket.prototype);
    assert.ok(s.fileno() >= 0);
    await using t = new Socket(AF_UNIX, SOCK_DGRAM);
    assert.equal(Object.getPrototypeOf(t), Socket.prototype);
  });

  it("the package's entry alone is enough for the native types (no other import)", {
    skip: needsNative,
  }, () => {
    const script =
      'import { socket, AF_UNIX, SOCK_DGRAM } from "./src/index.ts"; const s = socket(AF_UNIX, SOCK_DGRAM); console.log(s.fileno() >= 0); await s.close();';
    const server =
      'import { UnixDatagramServer, DatagramRequestHandler } from "./src/server/index.ts"; console.log(typeof UnixDatagramServer, typeof DatagramRequestHandler);';
    for (const [code, expected] of [
      [script, "true"],
      [server, "function function"],
    ] as const) {
      const run = spawnSync(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", code],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 30_000,
        },
      );
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), expected);
    }
  });

  it("a UDP socket with SO_REUSEPORT checks its timeout, counts drops and closes everything, as any socket", async (t) => {
    await using a = socket(AF_INET, SOCK_DGRAM);
    try {
      a.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    } catch (err) {
      t.skip(`SO_REUSEPORT on UDP is not available here: ${(err as Error).message}`);
      return;
    }
    a.settimeout(2);
    thrown(() => a.settimeout(-1), SocketError, "EINVAL");
    assert.equal(a.gettimeout(), 2, "a refused timeout leaves the old one");
    await a.bind(["127.0.0.1", 0]);
    const port = (a.getsockname() as [string, number])[1];
    await using b = socket(AF_INET, SOCK_DGRAM);
    b.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    await b.bind(["127.0.0.1", port]);
    assert.equal(a.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
    assert.equal(typeof a.droppedDatagrams, "number");
    await a.close();
    assert.equal(a.fileno(), -1);
    await assert.rejects(a.recvfrom(10), { code: "EBADF" });
  });
});

describe("Socket's own calls for servers", () => {
  for (const nativeIO of [true, false]) {
    it(`SO_LINGER on with 0 seconds: close() resets the connection at once (${nativeIO ? "native I/O path" : "node:net"})`, async (t) => {
      const { client, conn } = await tcpPair(t, { server: { nativeIO } });
      conn.setsockopt(SOL_SOCKET, SO_LINGER, Buffer.from(new Int32Array([1, 0]).buffer));
      assert.equal(conn.getsockopt(SOL_SOCKET, SO_LINGER), 1);
      await conn.sendall("sent before the reset\n");
      assert.equal((await client.recv(64)).toString(), "sent before the reset\n");
      await conn.close();
      await rejection(client.recv(64), SocketError, "ECONNRESET");
    });
  }

  it("SO_LINGER takes Python's 8 bytes, and off closes as before; other values are refused", async (t) => {
    const { client, conn } = await tcpPair(t);
    const linger = (on: number, seconds: number) =>
      Buffer.from(new Int32Array([on, seconds]).buffer);
    thrown(() => conn.setsockopt(SOL_SOCKET, SO_LINGER, 1), SocketError, "EINVAL");
    thrown(() => conn.setsockopt(SOL_SOCKET, SO_LINGER, Buffer.alloc(4)), SocketError, "EINVAL");
    thrown(() => conn.setsockopt(SOL_SOCKET, SO_REUSEPORT, linger(1, 0)), SocketError, "EINVAL");
    assert.throws(() => conn.setsockopt(SOL_SOCKET, SO_LINGER, linger(1, 5)), UnsupportedError);
    conn.setsockopt(SOL_SOCKET, SO_LINGER, linger(1, 0));
    conn.setsockopt(SOL_SOCKET, SO_LINGER, linger(0, 0));
    assert.equal(conn.getsockopt(SOL_SOCKET, SO_LINGER), 0);
    await conn.sendall("bye\n");
    await conn.close();
    assert.equal(
      (await recvAll(client)).toString(),
      "bye\n",
      "an orderly close: the bytes, then the end",
    );
  });

  it("setIdleTimeout closes a connection silent that long: its recv fails with TimeoutError", async () => {
    await using server = await createServer(["127.0.0.1", 0]);
    await using c = await createConnection(server.getsockname() as [string, number]);
    const [conn] = await server.accept();
    await using _conn = conn;
    conn.setIdleTimeout(0.2);
    const started = performance.now();
    await assert.rejects(conn.recv(10), TimeoutError);
    assert.ok(performance.now() - started >= 150, "not before the idle time");
    thrown(() => conn.setIdleTimeout(-1), SocketError, "EINVAL");
    await c.close();
  });

  it("setIdleTimeout is refused on a socket that is not connected", async () => {
    await using s = socket(AF_INET, SOCK_STREAM);
    thrown(() => s.setIdleTimeout(5), SocketError, "ENOTCONN");
  });

  it("recvfromNow takes a datagram already received without waiting, and gives undefined when none is", async () => {
    await using s = socket(AF_INET, SOCK_DGRAM);
    await s.bind(["127.0.0.1", 0]);
    assert.equal(s.recvfromNow(100), undefined);
    await using c = socket(AF_INET, SOCK_DGRAM);
    await c.sendto("hello", s.getsockname() as [string, number]);
    const [readable] = await select([s], [], [], 5);
    assert.deepEqual(readable, [s]);
    const got = s.recvfromNow(3);
    assert.ok(got !== undefined);
    assert.equal(got[0].toString(), "hel");
    assert.deepEqual(got[1], ["127.0.0.1", (c.getsockname() as [string, number])[1]]);
    assert.equal(s.recvfromNow(100), undefined);
  });

  it("bind takes socketkit's options: SO_REUSEPORT for two listening sockets on one port", async (t) => {
    await using a = socket(AF_INET, SOCK_STREAM);
    try {
      await a.bind(["127.0.0.1", 0], { reusePort: true });
    } catch (err) {
      t.skip(`SO_REUSEPORT is not available here: ${(err as Error).message}`);
      return;
    }
    a.listen();
    await using b = socket(AF_INET, SOCK_STREAM);
    await b.bind(a.getsockname() as [string, number], { reusePort: true });
    b.listen();
    assert.deepEqual(b.getsockname(), a.getsockname());
    assert.equal(b.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
  });
});
