import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import type { Socket as NetSocket } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { deferred } from "../../test/helpers/deferred.ts";
import {
  buffered,
  closedPort,
  closing,
  fullBacklog,
  ipv6LoopbackWorks,
  listener,
  netServer,
  occupy,
  portOf,
  recvAll,
  rejection,
  tcpPair,
  tempDir,
  thrown,
  until,
} from "../../test/helpers/net.ts";
import { errorOutputFrom, type Program, ROOT, start } from "../../test/helpers/proc.ts";
import {
  AddressInUseError,
  AF_INET,
  AF_INET6,
  AF_UNIX,
  BlockingIOError,
  BrokenPipeError,
  ConnectionRefusedError,
  ConnectionResetError,
  createServer,
  GaiError,
  IPPROTO_TCP,
  isDisconnect,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_KEEPALIVE,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOL_SOCKET,
  Socket,
  type SocketAddress,
  SocketError,
  socket,
  TCP_NODELAY,
  TimeoutError,
  UnsupportedError,
} from "../index.ts";
import { hasNative } from "../native/index.ts";
import { hasReactor, reactorMissingReason } from "../native/reactor.ts";
import { kStream } from "./internal.ts";

const T = { timeout: 15_000 };

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A peer that resets the connection (RST) when the first bytes arrive; `reset` resolves after. */
async function resettingPeer(t: TestContext): Promise<{ port: number; reset: Promise<void> }> {
  const { promise: reset, resolve } = deferred();
  const { port } = await netServer(t, (peer) => {
    peer.once("data", () => {
      peer.once("close", () => resolve());
      peer.resetAndDestroy();
    });
  });
  return { port, reset };
}

describe("socket()", () => {
  it("makes AF_INET SOCK_STREAM sockets by default", () => {
    const s = socket();
    assert.ok(s instanceof Socket);
    assert.equal(s.family, AF_INET);
    assert.equal(s.type, SOCK_STREAM);
    assert.equal(s.proto, 0);
  });

  const addonBuilt = hasNative()
    ? "the native addon is built (npm run test:no-native runs this)"
    : false;

  it("raises UnsupportedError for AF_UNIX SOCK_DGRAM without the native addon", {
    skip: addonBuilt,
  }, () => {
    thrown(() => socket(AF_UNIX, SOCK_DGRAM), UnsupportedError, "ERR_UNSUPPORTED");
  });

  it("raises UnsupportedError for SOCK_SEQPACKET and SOCK_RAW without the native addon", {
    skip: addonBuilt,
  }, () => {
    thrown(() => socket(AF_UNIX, SOCK_SEQPACKET), UnsupportedError, "ERR_UNSUPPORTED");
    thrown(() => socket(AF_INET, SOCK_SEQPACKET), UnsupportedError, "ERR_UNSUPPORTED");
    thrown(() => socket(AF_INET, SOCK_RAW), UnsupportedError, "ERR_UNSUPPORTED");
  });

  it("raises UnsupportedError for an unknown address family", () => {
    thrown(() => socket(17, SOCK_STREAM), UnsupportedError, "ERR_UNSUPPORTED");
  });

  it("refuses a protocol that does not go with the type (EPROTONOSUPPORT)", () => {
    thrown(() => socket(AF_INET, SOCK_STREAM, 17), SocketError, "EPROTONOSUPPORT");
    assert.equal(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP).proto, IPPROTO_TCP);
  });
});

describe("bind, listen and accept", () => {
  it('bind(["", 0]) binds every interface on a real port', T, async (t) => {
    const s = closing(t, socket());
    await s.bind(["", 0]);
    const [host, port] = s.getsockname() as [string, number];
    assert.equal(host, "0.0.0.0");
    assert.ok(port > 0 && port < 65536);
    s.listen();
    const c = closing(t, socket());
    await c.connect(["127.0.0.1", port]);
    const [conn] = await s.accept();
    closing(t, conn);
  });

  it(
    "createServer's admit sees each peer as accept() would; refused ones never reach it",
    T,
    async (t) => {
      const asked: SocketAddress[] = [];
      let answer: "no" | "throw" | "yes" = "no";
      const server = closing(
        t,
        await createServer(["127.0.0.1", 0], {
          admit: (peer) => {
            asked.push(peer);
            if (answer === "throw") throw new Error("a broken check");
            return answer === "yes";
          },
        }),
      );
      const port = (server.getsockname() as [string, number])[1];
      const froms: SocketAddress[] = [];
      for (answer of ["no", "throw"] as const) {
        const c = closing(t, socket());
        await c.connect(["127.0.0.1", port]);
        froms.push(c.getsockname());
        c.settimeout(5);
        // Closed by the server without a byte: an end of stream, or a reset.
        const got = await c.recv(16).catch((err: unknown) => {
          assert.ok(err instanceof ConnectionResetError, String(err));
          return Buffer.alloc(0);
        });
        assert.equal(got.length, 0);
      }
      answer = "yes";
      const c = closing(t, socket());
      await c.connect(["127.0.0.1", port]);
      await c.sendall("admitted");
      froms.push(c.getsockname());
      server.settimeout(5);
      const [conn, address] = await server.accept();
      closing(t, conn);
      assert.deepEqual(address, c.getsockname(), "the first accepted is the admitted one");
      assert.equal((await conn.recv(16)).toString(), "admitted");
      assert.deepEqual(asked, froms);
    },
  );

  it('"localhost" binds 127.0.0.1 for AF_INET', T, async (t) => {
    const s = closing(t, socket(AF_INET));
    await s.bind(["localhost", 0]);
    assert.equal((s.getsockname() as [string, number])[0], "127.0.0.1");
  });

  it('"localhost" binds ::1 for AF_INET6', T, async (t) => {
    if (!(await ipv6LoopbackWorks())) {
      t.skip("::1 cannot be bound here (no IPv6 loopback)");
      return;
    }
    const resolved = await lookup("localhost", { family: 6 }).catch(() => null);
    if (resolved?.address !== "::1") {
      t.skip('the resolver gives no ::1 for "localhost" here (Python would fail the same way)');
      return;
    }
    const s = closing(t, socket(AF_INET6));
    await s.bind(["localhost", 0]);
    const name = s.getsockname() as [string, number, number, number];
    assert.equal(name[0], "::1");
    assert.equal(name.length, 4);
  });

  it("accept returns [Socket, [host, port]] matching the client's getsockname", T, async (t) => {
    const { server, port } = await listener(t);
    assert.deepEqual(server.getsockname(), ["127.0.0.1", port]);
    const client = closing(t, socket());
    await client.connect(["127.0.0.1", port]);
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.ok(conn instanceof Socket);
    assert.deepEqual(addr, client.getsockname());
    assert.deepEqual(conn.getpeername(), client.getsockname());
    assert.deepEqual(client.getpeername(), ["127.0.0.1", port]);
    assert.deepEqual(conn.getsockname(), ["127.0.0.1", port]);
  });

  it("accepts over IPv6 with 4-tuple addresses", T, async (t) => {
    if (!(await ipv6LoopbackWorks())) {
      t.skip("::1 cannot be bound here (no IPv6 loopback)");
      return;
    }
    const { server, port } = await listener(t, { family: AF_INET6 });
    const client = closing(t, socket(AF_INET6));
    await client.connect(["::1", port]);
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.deepEqual(addr, client.getsockname());
    assert.equal((addr as unknown[]).length, 4);
    await client.sendall("six");
    assert.equal((await conn.recv(10)).toString(), "six");
  });

  it("a connection made before accept() waits with its bytes for accept()", T, async (t) => {
    const { server, port } = await listener(t);
    const client = closing(t, socket());
    await client.connect(["127.0.0.1", port]);
    await client.sendall("early");
    const [conn] = await server.accept();
    closing(t, conn);
    assert.equal((await conn.recv(100)).toString(), "early");
  });

  it("accept before listen and listen before bind raise EINVAL", T, async (t) => {
    const s = closing(t, socket());
    thrown(() => s.listen(), SocketError, "EINVAL");
    await s.bind(["127.0.0.1", 0]);
    await rejection(s.accept(), SocketError, "EINVAL");
  });

  it("binding a bound socket again raises EINVAL", T, async (t) => {
    const s = closing(t, socket());
    await s.bind(["127.0.0.1", 0]);
    await rejection(s.bind(["127.0.0.1", 0]), SocketError, "EINVAL");
  });

  it("binding a port in use raises AddressInUseError (EADDRINUSE)", T, async (t) => {
    const { port } = await listener(t);
    const s = closing(t, socket());
    const err = await rejection(s.bind(["127.0.0.1", port]), AddressInUseError, "EADDRINUSE");
    assert.ok(err instanceof SocketError);
  });

  it(
    "a listening socket iterates over accepted [Socket, address] pairs and ends on close",
    T,
    async (t) => {
      const { server, port } = await listener(t);
      const seen: Array<[Socket, unknown]> = [];
      const loop = (async () => {
        for await (const [conn, addr] of server) {
          closing(t, conn);
          seen.push([conn, addr]);
          await conn.sendall(`you are ${seen.length}\n`);
        }
      })();
      const clients = [closing(t, socket()), closing(t, socket())];
      for (const [i, c] of clients.entries()) {
        await c.connect(["127.0.0.1", port]);
        assert.equal((await c.recv(100)).toString(), `you are ${i + 1}\n`);
      }
      assert.deepEqual(
        seen.map(([, addr]) => addr),
        clients.map((c) => c.getsockname()),
      );
      await server.close();
      await loop;
    },
  );

  it("accept raises TimeoutError when no one connects within the timeout", T, async (t) => {
    const { server } = await listener(t);
    server.settimeout(0.2);
    const started = performance.now();
    await rejection(server.accept(), TimeoutError, "ETIMEDOUT");
    assert.ok(performance.now() - started >= 190);
  });

  it("accept in non-blocking mode raises BlockingIOError when no one waits", T, async (t) => {
    const { server } = await listener(t);
    server.settimeout(0);
    await rejection(server.accept(), BlockingIOError, "EAGAIN");
  });
});

describe("recv and send", () => {
  it("recv returns the bytes available without waiting for bufsize", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const pending = conn.recv(1024);
    await client.sendall("hello");
    assert.equal((await pending).toString(), "hello");
  });

  it("recv returns at most bufsize bytes and keeps the rest", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    await client.sendall("0123456789");
    await until(() => buffered(conn) === 10, "10 bytes buffered");
    assert.equal((await conn.recv(4)).toString(), "0123");
    assert.equal((await conn.recv(100)).toString(), "456789");
  });

  it("recv returns an empty Buffer at end of stream, every time", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    await client.sendall("last");
    await client.close();
    assert.equal((await recvAll(conn)).toString(), "last");
    assert.equal((await conn.recv(10)).length, 0);
    assert.equal((await conn.recv(10)).length, 0);
  });

  it("recv(0) resolves with an empty Buffer at once and consumes nothing", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const empty = await conn.recv(0);
    assert.ok(Buffer.isBuffer(empty));
    assert.equal(empty.length, 0);
    await client.sendall("x");
    await until(() => buffered(conn) === 1, "1 byte buffered");
    assert.equal((await conn.recv(0)).length, 0);
    assert.equal((await conn.recv(5)).toString(), "x");
  });

  it("recv rejects a negative or fractional bufsize with EINVAL", T, async (t) => {
    const { conn } = await tcpPair(t);
    await rejection(conn.recv(-1), SocketError, "EINVAL");
    await rejection(conn.recv(1.5), SocketError, "EINVAL");
  });

  it("send returns how many bytes it took, at most the length given", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const data = randomBytes(1024 * 1024);
    const n = await client.send(data);
    assert.ok(n > 0 && n <= data.length, `send returned ${n}`);
    const small = await client.send("abc");
    assert.ok(small > 0 && small <= 3);
    client.shutdown(SHUT_WR);
    const got = await recvAll(conn);
    assert.deepEqual(
      got,
      Buffer.concat([data.subarray(0, n), Buffer.from("abc").subarray(0, small)]),
    );
  });

  it("send takes no more than SO_SNDBUF bytes at a time", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    client.setsockopt(SOL_SOCKET, SO_SNDBUF, 1000);
    const n = await client.send(Buffer.alloc(5000, 7));
    assert.ok(n > 0 && n <= 1000, `send returned ${n}`);
    client.shutdown(SHUT_WR);
    assert.equal((await recvAll(conn)).length, n);
  });

  it("sendall of 10 MB arrives byte-exact", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const data = randomBytes(10 * 1024 * 1024);
    const received = recvAll(conn);
    await client.sendall(data);
    client.shutdown(SHUT_WR);
    const got = await received;
    assert.equal(got.length, data.length);
    assert.equal(sha256(got), sha256(data));
  });

  it("sendall takes strings and Uint8Arrays", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    await client.sendall("héllo ");
    await client.sendall(new Uint8Array([0x77, 0x6f, 0x72, 0x6c, 0x64]));
    client.shutdown(SHUT_WR);
    assert.equal((await recvAll(conn)).toString(), "héllo world");
  });

  it(
    "sendall to a peer that does not read raises TimeoutError, leaves at most one slice queued, and the stream continues",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const data = randomBytes(32 * 1024 * 1024);
      client.settimeout(0.5);
      const started = performance.now();
      await rejection(client.sendall(data), TimeoutError, "ETIMEDOUT");
      const took = performance.now() - started;
      assert.ok(took >= 490 && took < 5000, `sendall gave up after ${took} ms`);
      // Retrying in a loop must not pile data up: what waits in our queue stays bounded.
      for (let i = 0; i < 3; i++) await rejection(client.sendall(data), TimeoutError, "ETIMEDOUT");
      assert.ok(client[kStream]().socket.writableLength <= 64 * 1024);
      const received = recvAll(conn);
      client.settimeout(null);
      await client.sendall("tail");
      client.shutdown(SHUT_WR);
      const got = await received;
      // As in Python, a timed-out sendall sent an unknown prefix; the stream stays in order.
      const sent = got.length - 4;
      assert.ok(sent > 0 && sent < data.length, `${sent} bytes of the timed-out sendall arrived`);
      assert.ok(got.subarray(0, sent).equals(data.subarray(0, sent)), "the prefix is intact");
      assert.equal(got.subarray(sent).toString(), "tail");
    },
  );

  it("non-blocking sendall raises BlockingIOError when the send buffer is full", T, async (t) => {
    const { client } = await tcpPair(t);
    client.settimeout(0);
    let raised: unknown;
    for (let i = 0; i < 10_000 && raised === undefined; i++) {
      await client.sendall(Buffer.alloc(64 * 1024)).catch((err) => {
        raised = err;
      });
    }
    assert.ok(raised instanceof BlockingIOError, `raised ${String(raised)}`);
    assert.ok(client[kStream]().socket.writableLength <= 2 * 64 * 1024);
  });

  it("recvfrom on a stream socket gives the data and the peer's address", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    await client.sendall("hi");
    const [data, addr] = await conn.recvfrom(10);
    assert.equal(data.toString(), "hi");
    assert.deepEqual(addr, client.getsockname());
  });

  it("sendto on a stream socket is refused", T, async (t) => {
    const { client } = await tcpPair(t);
    await rejection(client.sendto("x", ["127.0.0.1", 9]), SocketError, "EISCONN");
  });

  it(
    "sendallEach sends the same bytes to every socket, native or not, and fails only those that fail",
    T,
    async (t) => {
      const native = await Promise.all(Array.from({ length: 3 }, () => tcpPair(t)));
      const net = await tcpPair(t, { client: { nativeIO: false }, server: { nativeIO: false } });
      const closed = await tcpPair(t);
      await closed.client.close();
      const unconnected = closing(t, socket());
      const senders = [...native.map((p) => p.client), net.client, closed.client, unconnected];
      const sent = Socket.sendallEach(senders, "to everyone\n");
      assert.equal(sent.length, 6);
      await rejection(sent[4] as Promise<void>, SocketError, "EBADF");
      await rejection(sent[5] as Promise<void>, SocketError, "ENOTCONN");
      await Promise.all(sent.slice(0, 4));
      for (const p of [...native, net])
        assert.equal((await p.conn.recv(100)).toString(), "to everyone\n");
      // More than the kernel takes at once: each gets every byte, in order, after what came before.
      const big = randomBytes(8 * 1024 * 1024);
      const more = Socket.sendallEach(senders.slice(0, 4), big);
      const got = await Promise.all(
        [...native, net].map(async (p) => {
          const parts: Buffer[] = [];
          let n = 0;
          while (n < big.length) {
            const chunk = await p.conn.recv(1024 * 1024);
            parts.push(chunk);
            n += chunk.length;
          }
          return Buffer.concat(parts);
        }),
      );
      await Promise.all(more);
      for (const g of got) assert.equal(sha256(g), sha256(big));
    },
  );

  it("recv on a socket that is not connected raises ENOTCONN", T, async (t) => {
    const s = closing(t, socket());
    await rejection(s.recv(10), SocketError, "ENOTCONN");
    await rejection(s.sendall("x"), SocketError, "ENOTCONN");
    thrown(() => s.getpeername(), SocketError, "ENOTCONN");
  });

  it("connecting a connected socket raises EISCONN", T, async (t) => {
    const { client, port } = await tcpPair(t);
    await rejection(client.connect(["127.0.0.1", port]), SocketError, "EISCONN");
  });
});

describe("half-close", () => {
  it(
    "after the client's shutdown(SHUT_WR) the server reads EOF and can still send to the client",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      await client.sendall("request");
      client.shutdown(SHUT_WR);
      assert.equal((await recvAll(conn)).toString(), "request");
      const reply = randomBytes(256 * 1024);
      await conn.sendall(reply);
      await conn.close();
      assert.deepEqual(await recvAll(client), reply);
    },
  );

  it(
    "after the server's shutdown(SHUT_WR) the client reads EOF and can still send to the server",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      await conn.sendall("banner");
      conn.shutdown(SHUT_WR);
      assert.equal((await recvAll(client)).toString(), "banner");
      const upload = randomBytes(256 * 1024);
      await client.sendall(upload);
      await client.close();
      assert.deepEqual(await recvAll(conn), upload);
    },
  );

  it("sending after shutdown(SHUT_WR) raises BrokenPipeError (EPIPE)", T, async (t) => {
    const { client } = await tcpPair(t);
    client.shutdown(SHUT_WR);
    await rejection(client.sendall("x"), BrokenPipeError, "EPIPE");
    await rejection(client.send("x"), BrokenPipeError, "EPIPE");
  });

  it(
    "shutdown(SHUT_RD) makes recv return empty, buffered bytes and later ones alike",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      await client.sendall("dropped");
      await until(() => buffered(conn) === 7, "7 bytes buffered");
      conn.shutdown(SHUT_RD);
      assert.equal((await conn.recv(100)).length, 0);
      await client.sendall("also dropped");
      assert.equal((await conn.recv(100)).length, 0);
      await conn.sendall("still writable");
      assert.equal((await client.recv(100)).toString(), "still writable");
    },
  );

  it("shutdown(SHUT_RDWR) ends both directions", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    conn.shutdown(SHUT_RDWR);
    assert.equal((await conn.recv(10)).length, 0);
    assert.equal((await client.recv(10)).length, 0);
    await rejection(conn.sendall("x"), BrokenPipeError, "EPIPE");
  });

  it("shutdown checks its argument and that the socket is connected", T, async (t) => {
    const { client } = await tcpPair(t);
    thrown(() => client.shutdown(7), SocketError, "EINVAL");
    thrown(() => socket().shutdown(SHUT_WR), SocketError, "ENOTCONN");
  });
});

describe("close", () => {
  it("is idempotent", T, async (t) => {
    const { client } = await tcpPair(t);
    const first = client.close();
    const second = client.close();
    await Promise.all([first, second]);
    await client.close();
    assert.equal(client.closed, true);
  });

  it("makes every later operation raise EBADF", T, async (t) => {
    const { client, server, port } = await tcpPair(t);
    await client.close();
    await rejection(client.recv(1), SocketError, "EBADF");
    await rejection(client.send("x"), SocketError, "EBADF");
    await rejection(client.sendall("x"), SocketError, "EBADF");
    await rejection(client.connect(["127.0.0.1", port]), SocketError, "EBADF");
    await rejection(client.bind(["127.0.0.1", 0]), SocketError, "EBADF");
    thrown(() => client.getsockname(), SocketError, "EBADF");
    thrown(() => client.getpeername(), SocketError, "EBADF");
    thrown(() => client.shutdown(SHUT_WR), SocketError, "EBADF");
    thrown(() => client.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1), SocketError, "EBADF");
    thrown(() => client.getsockopt(SOL_SOCKET, SO_KEEPALIVE), SocketError, "EBADF");
    thrown(() => client.makefile("r"), SocketError, "EBADF");
    await server.close();
    await rejection(server.accept(), SocketError, "EBADF");
    thrown(() => server.listen(), SocketError, "EBADF");
  });

  it("sends EOF to the peer after the bytes already sent", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    await client.sendall("bye");
    await client.close();
    assert.equal((await recvAll(conn)).toString(), "bye");
  });

  it("wakes a recv that is waiting with EBADF", T, async (t) => {
    const { conn } = await tcpPair(t);
    const pending = rejection(conn.recv(10), SocketError, "EBADF");
    await conn.close();
    await pending;
  });

  it("`await using` closes the socket at the end of the block", T, async (t) => {
    const { server, port } = await listener(t);
    let inner: Socket | undefined;
    {
      await using c = socket();
      inner = c;
      await c.connect(["127.0.0.1", port]);
      await c.sendall("scoped");
    }
    assert.equal(inner.closed, true);
    const [conn] = await server.accept();
    closing(t, conn);
    assert.equal((await recvAll(conn)).toString(), "scoped");
  });

  it("close() resolves promptly even while bytes are queued for a peer that does not read", {
    ...T,
  }, async (t) => {
    const { client, conn } = await tcpPair(t);
    client.settimeout(0.3);
    await rejection(client.sendall(Buffer.alloc(32 * 1024 * 1024)), TimeoutError, "ETIMEDOUT");
    const closed = client.close().then(() => "closed");
    const outcome = await Promise.race([closed, delay(2000, "still open")]);
    // Let the socket go either way, so the test does not leave it behind.
    await conn.close();
    await closed;
    assert.equal(outcome, "closed");
  });
});

describe("timeouts", () => {
  it("settimeout sets what gettimeout returns; null blocks, 0 is non-blocking", () => {
    const s = socket();
    assert.equal(s.gettimeout(), null);
    s.settimeout(1.5);
    assert.equal(s.gettimeout(), 1.5);
    s.settimeout(0);
    assert.equal(s.gettimeout(), 0);
    s.settimeout(null);
    assert.equal(s.gettimeout(), null);
    s.setblocking(false);
    assert.equal(s.gettimeout(), 0);
    s.setblocking(true);
    assert.equal(s.gettimeout(), null);
  });

  it("settimeout rejects a negative or non-finite value with EINVAL", () => {
    const s = socket();
    thrown(() => s.settimeout(-1), SocketError, "EINVAL");
    thrown(() => s.settimeout(Number.NaN), SocketError, "EINVAL");
    thrown(() => s.settimeout(Number.POSITIVE_INFINITY), SocketError, "EINVAL");
  });

  it("recv raises TimeoutError when nothing arrives in time", T, async (t) => {
    const { conn } = await tcpPair(t);
    conn.settimeout(0.2);
    const started = performance.now();
    const err = await rejection(conn.recv(10), TimeoutError, "ETIMEDOUT");
    assert.ok(performance.now() - started >= 190);
    assert.ok(err instanceof SocketError);
  });

  it("data arriving after a timed-out recv is not lost: the next recv gets it", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    conn.settimeout(0.1);
    await rejection(conn.recv(10), TimeoutError, "ETIMEDOUT");
    await client.sendall("late");
    await until(() => buffered(conn) === 4, "the late bytes buffered");
    assert.equal((await conn.recv(10)).toString(), "late");
  });

  it(
    "settimeout(0): recv raises BlockingIOError with nothing buffered and returns what is",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      conn.settimeout(0);
      const err = await rejection(conn.recv(10), BlockingIOError, "EAGAIN");
      assert.ok(err instanceof SocketError);
      await client.sendall("now");
      await until(() => buffered(conn) === 3, "3 bytes buffered");
      assert.equal((await conn.recv(10)).toString(), "now");
      await rejection(conn.recv(10), BlockingIOError, "EAGAIN");
    },
  );

  it(
    "settimeout(null) lets recv wait past an earlier timeout for data that comes later",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      conn.settimeout(0.05);
      conn.settimeout(null);
      const pending = conn.recv(10);
      // Time has to pass beyond the old timeout for the test to mean anything.
      await delay(200);
      await client.sendall("patience");
      assert.equal((await pending).toString(), "patience");
    },
  );

  it("connect raises TimeoutError when the listener's queue is full", {
    timeout: 30_000,
  }, async (t) => {
    const full = await fullBacklog(t);
    if ("skip" in full) {
      t.skip(full.skip);
      return;
    }
    const s = closing(t, socket());
    s.settimeout(0.5);
    const started = performance.now();
    await rejection(s.connect(["127.0.0.1", full.port]), TimeoutError, "ETIMEDOUT");
    const took = performance.now() - started;
    assert.ok(took >= 490 && took < 5000, `connect gave up after ${took} ms`);
    await rejection(s.recv(1), SocketError, "ENOTCONN");
  });

  it(
    "a non-blocking connect raises BlockingIOError (EINPROGRESS) and completes in the background",
    T,
    async (t) => {
      const { server, port } = await listener(t);
      const s = closing(t, socket());
      s.settimeout(0);
      await rejection(s.connect(["127.0.0.1", port]), BlockingIOError, "EINPROGRESS");
      const [conn] = await server.accept();
      closing(t, conn);
      s.settimeout(null);
      await s.sendall("done");
      assert.equal((await conn.recv(10)).toString(), "done");
    },
  );
});

describe("connection errors", () => {
  it(
    "connect to a closed port raises ConnectionRefusedError naming the action and address",
    T,
    async (t) => {
      const port = await closedPort();
      const s = closing(t, socket());
      const err = await rejection(
        s.connect(["127.0.0.1", port]),
        ConnectionRefusedError,
        "ECONNREFUSED",
      );
      assert.equal(err.errno, 111);
      assert.ok(err instanceof SocketError);
      assert.match(err.message, /connect to 127\.0\.0\.1:\d+/);
    },
  );

  it("a reset by the peer raises ConnectionResetError from recv", T, async (t) => {
    const { port, reset } = await resettingPeer(t);
    const s = closing(t, socket());
    await s.connect(["127.0.0.1", port]);
    await s.sendall("go");
    await reset;
    const err = await rejection(s.recv(100), ConnectionResetError, "ECONNRESET");
    assert.ok(isDisconnect(err));
    assert.ok(err instanceof SocketError);
  });

  it("bytes received before a reset are returned before ConnectionResetError", T, async (t) => {
    let resetDone!: () => void;
    const reset = new Promise<void>((resolve) => {
      resetDone = resolve;
    });
    const { port } = await netServer(t, (peer) => {
      peer.on("data", (d: Buffer) => {
        if (d.toString() === "go") peer.write("before the reset");
        else {
          peer.once("close", () => resetDone());
          peer.resetAndDestroy();
        }
      });
    });
    const s = closing(t, socket());
    await s.connect(["127.0.0.1", port]);
    await s.sendall("go");
    assert.equal((await s.recv(100)).toString(), "before the reset");
    await s.sendall("reset now");
    await reset;
    await rejection(s.recv(100), ConnectionResetError, "ECONNRESET");
  });

  it("bytes still pending when the reset arrives are returned, then ConnectionResetError", {
    ...T,
  }, async (t) => {
    let resetDone!: () => void;
    const reset = new Promise<void>((resolve) => {
      resetDone = resolve;
    });
    const { port } = await netServer(t, (peer) => {
      peer.once("data", () => {
        peer.write("before the reset", () => {
          peer.once("close", () => resetDone());
          peer.resetAndDestroy();
        });
      });
    });
    const s = closing(t, socket());
    await s.connect(["127.0.0.1", port]);
    await s.sendall("go");
    await reset;
    assert.equal((await s.recv(100)).toString(), "before the reset");
    await rejection(s.recv(100), ConnectionResetError, "ECONNRESET");
  });

  it("sending to a peer that reset raises a disconnect error, never crashes", T, async (t) => {
    const { port, reset } = await resettingPeer(t);
    const s = closing(t, socket());
    await s.connect(["127.0.0.1", port]);
    await s.sendall("go");
    await reset;
    let err: unknown;
    try {
      for (let i = 0; i < 100; i++) await s.sendall(Buffer.alloc(64 * 1024));
    } catch (e) {
      err = e;
    }
    assert.ok(isDisconnect(err), `expected a disconnect error, got ${String(err)}`);
  });

  it("connect to a name that does not resolve raises GaiError", T, async (t) => {
    const s = closing(t, socket());
    const err = await rejection(s.connect(["bad host name!", 80]), GaiError, "EAI_NONAME");
    assert.ok(err.errno < 0);
  });

  it("connect with a malformed address raises EINVAL", T, async (t) => {
    const s = closing(t, socket());
    await rejection(s.connect(["127.0.0.1", 70000]), SocketError, "EINVAL");
    await rejection(
      s.connect("127.0.0.1:80" as unknown as [string, number]),
      SocketError,
      "EINVAL",
    );
  });
});

describe("setsockopt and getsockopt", () => {
  it("read back SO_REUSEADDR, SO_KEEPALIVE and TCP_NODELAY as set", T, async (t) => {
    const { client } = await tcpPair(t);
    for (const [level, option] of [
      [SOL_SOCKET, SO_REUSEADDR],
      [SOL_SOCKET, SO_KEEPALIVE],
      [IPPROTO_TCP, TCP_NODELAY],
    ] as const) {
      assert.equal(client.getsockopt(level, option), 0);
      client.setsockopt(level, option, 1);
      assert.equal(client.getsockopt(level, option), 1);
      client.setsockopt(level, option, false);
      assert.equal(client.getsockopt(level, option), 0);
    }
  });

  it(
    "SO_RCVBUF and SO_SNDBUF read back as set on stream sockets (64 KiB by default)",
    T,
    async (t) => {
      const { client } = await tcpPair(t);
      assert.equal(client.getsockopt(SOL_SOCKET, SO_RCVBUF), 65536);
      assert.equal(client.getsockopt(SOL_SOCKET, SO_SNDBUF), 65536);
      client.setsockopt(SOL_SOCKET, SO_RCVBUF, 8192);
      client.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384);
      assert.equal(client.getsockopt(SOL_SOCKET, SO_RCVBUF), 8192);
      assert.equal(client.getsockopt(SOL_SOCKET, SO_SNDBUF), 16384);
    },
  );

  it("SO_RCVBUF bounds how much a stream socket buffers unread", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    conn.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096);
    const data = randomBytes(4 * 1024 * 1024);
    let max = 0;
    const sending = client.sendall(data);
    // Watch the queue while the sender pushes; it must stay near the limit.
    const deadline = performance.now() + 300;
    while (performance.now() < deadline) {
      max = Math.max(max, buffered(conn));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(max <= 4096 + 65536, `queue reached ${max} bytes`);
    const got = recvAll(conn);
    await sending;
    client.shutdown(SHUT_WR);
    assert.equal(sha256(await got), sha256(data));
  });

  it("a listening TCP socket reports SO_REUSEADDR on (libuv sets it)", T, async (t) => {
    const { server } = await listener(t);
    assert.equal(server.getsockopt(SOL_SOCKET, SO_REUSEADDR), 1);
  });

  it("raise UnsupportedError for any other option", T, async (t) => {
    const s = closing(t, socket());
    thrown(() => s.setsockopt(IPPROTO_TCP, 99, 1), UnsupportedError, "ERR_UNSUPPORTED");
    const udp = closing(t, socket(AF_INET, SOCK_DGRAM));
    thrown(() => udp.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1), UnsupportedError, "ERR_UNSUPPORTED");
    if (!hasNative()) {
      // Node's UDP sockets cannot take SO_REUSEPORT: it needs the native addon.
      thrown(
        () => udp.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1),
        UnsupportedError,
        "ERR_UNSUPPORTED",
      );
    }
  });

  it("SO_REUSEPORT on a TCP socket is recorded for bind", T, async (t) => {
    const s = closing(t, socket());
    s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    assert.equal(s.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
  });

  it("setsockopt rejects a negative value with EINVAL", () => {
    thrown(() => socket().setsockopt(SOL_SOCKET, SO_KEEPALIVE, -1), SocketError, "EINVAL");
  });
});

describe("AF_UNIX stream sockets", () => {
  it("bind a path, connect, exchange both ways; getpeername is the path", T, async (t) => {
    const path = join(await tempDir(t), "s.sock");
    const server = closing(t, socket(AF_UNIX, SOCK_STREAM));
    await server.bind(path);
    server.listen(1);
    assert.equal(server.getsockname(), path);
    const client = closing(t, socket(AF_UNIX, SOCK_STREAM));
    await client.connect(path);
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.equal(addr, "");
    assert.equal(client.getpeername(), path);
    assert.equal(conn.getsockname(), path);
    await client.sendall("ping");
    assert.equal((await conn.recv(10)).toString(), "ping");
    await conn.sendall("pong");
    conn.shutdown(SHUT_WR);
    assert.equal((await recvAll(client)).toString(), "pong");
  });

  it("a second bind of the same path raises AddressInUseError", T, async (t) => {
    const path = join(await tempDir(t), "s.sock");
    const first = closing(t, socket(AF_UNIX, SOCK_STREAM));
    await first.bind(path);
    const second = closing(t, socket(AF_UNIX, SOCK_STREAM));
    await rejection(second.bind(path), AddressInUseError, "EADDRINUSE");
  });

  it("a path held by another program is in use too", T, async (t) => {
    const path = join(await tempDir(t), "other.sock");
    await occupy(t, path);
    await rejection(socket(AF_UNIX).bind(path), AddressInUseError, "EADDRINUSE");
  });

  it("connect to a path nobody listens on fails with ENOENT", T, async (t) => {
    const path = join(await tempDir(t), "none.sock");
    const s = closing(t, socket(AF_UNIX));
    await rejection(s.connect(path), SocketError, "ENOENT");
  });
});

describe("getsockname before binding", () => {
  it("is the unspecified address, as Python shows it", () => {
    assert.deepEqual(socket(AF_INET).getsockname(), ["0.0.0.0", 0]);
    assert.deepEqual(socket(AF_INET6).getsockname(), ["::", 0, 0, 0]);
    assert.equal(socket(AF_UNIX).getsockname(), "");
  });

  it("after connect is the local address the kernel chose", T, async (t) => {
    const { client } = await tcpPair(t);
    const [host, port] = client.getsockname() as [string, number];
    assert.equal(host, "127.0.0.1");
    assert.ok(portOf([host, port]) > 0);
  });
});

describe("a recv that is waiting", () => {
  it(
    "gets the next bytes, at most bufsize, and leaves the rest for the next recv",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const waiting = conn.recv(4);
      await client.sendall("abcdefgh");
      assert.equal((await waiting).toString(), "abcd");
      assert.equal((await conn.recv(100)).toString(), "efgh");
    },
  );

  it(
    "gets an empty Buffer when the peer half-closes, and EOF when we shut down reading",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const atEof = conn.recv(10);
      client.shutdown(SHUT_WR);
      assert.equal((await atEof).length, 0);
      const { client: c2, conn: other } = await tcpPair(t);
      const shut = other.recv(10);
      other.shutdown(SHUT_RD);
      assert.equal((await shut).length, 0);
      assert.ok(c2);
    },
  );

  it("gets ConnectionResetError when the peer resets", T, async (t) => {
    const { port, reset } = await resettingPeer(t);
    const s = closing(t, socket());
    await s.connect(["127.0.0.1", port]);
    const waiting = s.recv(10);
    await s.sendall("go");
    await reset;
    await rejection(waiting, ConnectionResetError, "ECONNRESET");
  });

  it("two waiting at once each get bytes, none lost", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const first = conn.recv(3);
    const second = conn.recv(3);
    await client.sendall("123");
    assert.equal((await first).toString(), "123");
    await client.sendall("456");
    assert.equal((await second).toString(), "456");
  });
});

describe("makefile (test_socket.FileObjectClassTestCase)", () => {
  it("testCloseAfterMakefile: the file keeps the socket open after close()", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("rb");
    await conn.close();
    assert.equal(conn.closed, false, "open while its file is");
    await client.sendall("Michael Gilfix was here\n");
    client.shutdown(SHUT_WR);
    assert.equal((await rfile.read()).toString(), "Michael Gilfix was here\n");
    await rfile.close();
    assert.equal(conn.closed, true);
  });

  it("testMakefileAfterMakefileClose: what the file did not read stays for recv", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await rfile.close();
    await client.sendall("after the file\n");
    assert.equal((await conn.recv(1024)).toString(), "after the file\n");
  });

  it("testClosedAttr: files say whether they are closed", T, async (t) => {
    const { conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    const wfile = conn.makefile("w");
    assert.equal(rfile.closed, false);
    assert.equal(wfile.closed, false);
    await rfile.close();
    await wfile.close();
    assert.equal(rfile.closed, true);
    assert.equal(wfile.closed, true);
  });

  it(
    "testRealClose: a closed file refuses reads; the socket then closes for real",
    T,
    async (t) => {
      const { conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      await rfile.close();
      await rejection(rfile.readline(), SocketError, "EBADF");
      await conn.close();
      thrown(() => conn.getsockname(), SocketError, "EBADF");
    },
  );

  it("testMakefileClose: recv works until the last file closes", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    const wfile = conn.makefile("w");
    await conn.close();
    await client.sendall("still here");
    assert.equal((await conn.recv(1024)).toString(), "still here");
    await rfile.close();
    assert.equal(conn.closed, false, "the writer still holds it");
    await wfile.close();
    await rejection(conn.recv(1024), SocketError, "EBADF");
  });

  it(
    'makefile("rw") is one file that reads and writes (BufferedRWPair); write returns the count',
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const file = conn.makefile("rw");
      assert.equal(await file.write("héllo\n"), 7);
      await file.flush();
      assert.equal((await client.recv(1024)).toString(), "héllo\n");
      await client.sendall("back\n");
      assert.equal((await file.readline()).toString(), "back\n");
      await conn.close();
      assert.equal(conn.closed, false);
      await file.close();
      assert.equal(file.closed, true);
      assert.equal(conn.closed, true);
      thrown(() => conn.makefile("r"), SocketError, "EBADF");
    },
  );

  it("refuses a mode that is not r, w, rw (with b)", T, async (t) => {
    const { conn } = await tcpPair(t);
    for (const mode of ["x", "rr", "", "b", "ra"]) {
      thrown(() => conn.makefile(mode as "r"), SocketError, "EINVAL");
    }
  });
});

describe("into a caller's buffer (test_socket.BufferIOTest)", () => {
  it(
    "testRecvIntoArray: recv_into fills the caller's buffer and returns the count",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      await client.sendall("Michael Gilfix was here\n");
      const buf = Buffer.alloc(1024);
      const n = await conn.recv_into(buf);
      assert.equal(buf.subarray(0, n).toString(), "Michael Gilfix was here\n");
      const small = new Uint8Array(4);
      await client.sendall("abcdefgh");
      assert.equal(await conn.recv_into(small, 3), 3);
      assert.equal(Buffer.from(small).toString("latin1"), "abc\0");
      client.shutdown(SHUT_WR);
      assert.equal(await conn.recv_into(Buffer.alloc(16)), 5, "the rest, then");
      assert.equal(await conn.recv_into(Buffer.alloc(16)), 0, "0 at end of stream");
    },
  );

  it(
    "testRecvFromIntoSmallBuffer, testRecvFromIntoEmptyBuffer: nbytes beyond the buffer is refused; 0 bytes is 0",
    T,
    async (t) => {
      const { conn } = await tcpPair(t);
      await rejection(conn.recv_into(Buffer.alloc(2), 3), SocketError, "EINVAL");
      await rejection(conn.recvfrom_into(Buffer.alloc(2), 1024), SocketError, "EINVAL");
      await rejection(conn.recv_into(Buffer.alloc(2), -1), SocketError, "EINVAL");
      assert.deepEqual(await conn.recvfrom_into(Buffer.alloc(0)), [0, conn.getpeername()]);
    },
  );

  it("testRecvFromIntoArray: a datagram and its sender", T, async (t) => {
    const a = closing(t, socket(AF_INET, SOCK_DGRAM));
    const b = closing(t, socket(AF_INET, SOCK_DGRAM));
    await a.bind(["127.0.0.1", 0]);
    await b.bind(["127.0.0.1", 0]);
    await b.sendto("a datagram too long", a.getsockname());
    const buf = Buffer.alloc(10);
    const [n, from] = await a.recvfrom_into(buf);
    assert.equal(n, 10);
    assert.equal(buf.toString(), "a datagram");
    assert.deepEqual(from, b.getsockname());
  });
});

describe("descriptors (test_socket.BasicTCPTest)", () => {
  it(
    "fileno is the descriptor, -1 once closed; getblocking follows the timeout (testSetBlocking)",
    T,
    async (t) => {
      const { conn } = await tcpPair(t);
      const fd = conn.fileno();
      assert.ok(fd > 2, `a descriptor: ${fd}`);
      assert.equal(conn.getblocking(), true);
      conn.setblocking(false);
      assert.equal(conn.getblocking(), false);
      conn.settimeout(1.5);
      assert.equal(conn.getblocking(), true);
      const udp = closing(t, socket(AF_INET, SOCK_DGRAM));
      await udp.bind(["127.0.0.1", 0]);
      assert.ok(udp.fileno() > 2);
      await conn.close();
      assert.equal(conn.fileno(), -1);
    },
  );

  it("testDup: a duplicate reads and writes the same connection", {
    ...T,
    skip: hasNative() ? false : "needs the native addon",
  }, async (t) => {
    const { client, conn } = await tcpPair(t);
    const copy = closing(t, await conn.dup());
    assert.notEqual(copy.fileno(), conn.fileno());
    await client.sendall("to the copy");
    assert.equal((await copy.recv(1024)).toString(), "to the copy");
    await copy.sendall("from the copy");
    assert.equal((await client.recv(1024)).toString(), "from the copy");
    await conn.close();
    await copy.sendall("still open");
    assert.equal((await client.recv(1024)).toString(), "still open");
  });

  it("testDetach: the object closes, the connection stays, owned by the descriptor", {
    ...T,
    skip: hasNative() ? false : "needs the native addon",
  }, async (t) => {
    const { client, conn } = await tcpPair(t);
    const fd = await conn.detach();
    assert.equal(conn.closed, true);
    thrown(() => conn.getsockname(), SocketError, "EBADF");
    const { writeSync, closeSync } = await import("node:fs");
    writeSync(fd, "through the descriptor");
    assert.equal((await client.recv(1024)).toString(), "through the descriptor");
    closeSync(fd);
    assert.equal((await client.recv(1024)).length, 0, "closing it ends the connection");
  });
});

describe("sendfile (test_socket.SendfileUsingSendTest)", () => {
  const content = randomBytes(300_000);
  const withFile = async (t: TestContext) => {
    const path = join(await tempDir(t), "file.bin");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(path, content);
    return path;
  };

  for (const [how, timeout] of [
    ["zero-copy where the addon is", null],
    ["read and sent, with a timeout", 10],
  ] as const) {
    it(`testRegularFile, testOffset, testCount, testCountWithOffset (${how})`, T, async (t) => {
      const path = await withFile(t);
      for (const [offset, count, expect] of [
        [0, undefined, content],
        [5000, undefined, content.subarray(5000)],
        [0, 5000, content.subarray(0, 5000)],
        [2007, 5000, content.subarray(2007, 7007)],
      ] as const) {
        const { client, conn } = await tcpPair(t);
        client.settimeout(timeout);
        const reading = recvAll(conn);
        assert.equal(await client.sendfile(path, offset, count), expect.length);
        client.shutdown(SHUT_WR);
        assert.ok((await reading).equals(expect), `offset ${offset}, count ${count}`);
      }
    });
  }

  it(
    "testEmptyFileSend, and a FileHandle or descriptor; datagram sockets are refused",
    T,
    async (t) => {
      const dir = await tempDir(t);
      const { writeFile, open } = await import("node:fs/promises");
      await writeFile(join(dir, "empty"), "");
      const { client, conn } = await tcpPair(t);
      assert.equal(await client.sendfile(join(dir, "empty")), 0);
      const fh = await open(await withFile(t), "r");
      t.after(() => fh.close());
      assert.equal(await client.sendfile(fh, 0, 10), 10);
      assert.equal(await client.sendfile(fh.fd, 10, 10), 10);
      client.shutdown(SHUT_WR);
      assert.ok((await recvAll(conn)).equals(content.subarray(0, 20)));
      const udp = closing(t, socket(AF_INET, SOCK_DGRAM));
      await rejection(udp.sendfile(fh), SocketError, "EINVAL");
    },
  );
});

describe("connect_ex (test_socket.GeneralModuleTests)", () => {
  it("test_connect_ex_error: an errno instead of an exception, 0 when connected", T, async (t) => {
    const port = await closedPort();
    const s = closing(t, socket());
    assert.equal(await s.connect_ex(["127.0.0.1", port]), 111);
    const { port: open } = await listener(t);
    const ok = closing(t, socket());
    assert.equal(await ok.connect_ex(["127.0.0.1", open]), 0);
    await rejection(closing(t, socket()).connect_ex(["127.0.0.1", 70000]), SocketError, "EINVAL");
  });
});

describe("unref and ref", () => {
  /**
   * Runs a program that makes a socket, unref's it (and ref's it again when `ref`), starts
   * a receive with a 60 s timeout on it and says "waiting". Only the socket can keep that
   * process alive.
   */
  function waiter(
    kind: "tcp" | "udp" | "listener" | "unix",
    port: number | string,
    ref: boolean,
  ): Program {
    const index = JSON.stringify(join(ROOT, "src/index.ts"));
    const code = `
      import { AF_INET, AF_UNIX, SOCK_DGRAM, SOCK_STREAM, createConnection, socket } from ${index};
      const [kind, port, ref] = process.argv.slice(1);
      let s;
      if (kind === "tcp") s = await createConnection(["127.0.0.1", Number(port)]);
      else if (kind === "unix") {
        s = socket(AF_UNIX, SOCK_DGRAM);
        await s.bind(port);
      } else {
        s = socket(AF_INET, kind === "udp" ? SOCK_DGRAM : SOCK_STREAM);
        await s.bind(["127.0.0.1", 0]);
        if (kind === "listener") s.listen();
      }
      s.settimeout(60);
      s.unref();
      if (ref === "ref") s.ref();
      const wait = kind === "listener" ? s.accept() : kind === "tcp" ? s.recv(10) : s.recvfrom(10);
      wait.then(() => process.stderr.write("received\\n"));
      process.stderr.write("waiting\\n");
    `;
    return start(process.execPath, [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      code,
      kind,
      String(port),
      ref ? "ref" : "",
    ]);
  }

  for (const kind of ["tcp", "udp", "listener"] as const) {
    it(
      `an unref'd ${kind} socket waiting to receive, with a timeout, lets the process exit`,
      T,
      async (t) => {
        const { port } = await netServer(t, () => {});
        const program = waiter(kind, port, false);
        t.after(() => program.stop());
        assert.equal(await program.exited, 0, program.stderr());
        assert.equal(program.stderr(), "waiting\n");
      },
    );
  }

  it("ref() undoes unref(): the process waits for the socket", T, async (t) => {
    const peers: NetSocket[] = [];
    const { port } = await netServer(t, (peer) => peers.push(peer));
    const program = waiter("tcp", port, true);
    t.after(() => program.stop());
    await errorOutputFrom(program, (err) => err.includes("waiting"));
    await until(() => peers.length === 1, "the connection");
    (peers[0] as NetSocket).end("x");
    assert.equal(await program.exited, 0, program.stderr());
    assert.equal(program.stderr(), "waiting\nreceived\n");
  });

  const noReactor = !hasNative()
    ? "the native addon is not built"
    : hasReactor() && !process.env.SOCKETKIT_NO_NATIVE_IO
      ? false
      : `the native I/O path is off (${reactorMissingReason() ?? "SOCKETKIT_NO_NATIVE_IO is set"})`;

  it("an unref'd Unix datagram socket waiting to receive, with a timeout, lets the process exit", {
    ...T,
    skip: noReactor,
  }, async (t) => {
    const program = waiter("unix", join(await tempDir(t), "w.sock"), false);
    t.after(() => program.stop());
    assert.equal(await program.exited, 0, program.stderr());
    assert.equal(program.stderr(), "waiting\n");
  });

  it("a Unix datagram socket keeps the process alive while a receive waits on it, and only then", {
    ...T,
    skip: noReactor,
  }, async (t) => {
    const path = join(await tempDir(t), "w.sock");
    // unref() then ref(): the socket, open and never closed, is all the program has; it
    // exits once the receive has its datagram.
    const program = waiter("unix", path, true);
    t.after(() => program.stop());
    await errorOutputFrom(program, (err) => err.includes("waiting"));
    await closing(t, socket(AF_UNIX, SOCK_DGRAM)).sendto("x", path);
    assert.deepEqual([await program.exited, program.stderr()], [0, "waiting\nreceived\n"]);
  });

  it(
    "a socket of the native addon's per-socket path cannot be unref'd: UnsupportedError",
    T,
    (t) => {
      if (!hasNative()) {
        t.skip("the native addon is not built");
        return;
      }
      const s = socket(AF_UNIX, SOCK_SEQPACKET);
      t.after(() => s.close());
      thrown(() => s.unref(), UnsupportedError, "ERR_UNSUPPORTED");
      assert.equal(s.ref(), s);
    },
  );
});
