/**
 * select(), test by test after CPython's Lib/test/test_select.py (SelectTestCase), then
 * on each kind of socketkit socket: TCP and Unix streams, listening sockets, UDP, a
 * non-blocking connect, and the native addon's sockets. Python's tests use pipes and
 * `socketpair()`; these use connected sockets over 127.0.0.1 and Unix paths.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import {
  buffered,
  closing,
  listener,
  portOf,
  rejection,
  tcpPair,
  tempDir,
  until,
} from "../../test/helpers/net.ts";
import {
  AF_INET,
  AF_UNIX,
  SHUT_WR,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { ArgumentError, BlockingIOError, SocketError } from "../core/errors.ts";
import { hasNative, nativeMissingReason } from "../native/index.ts";
import "../native/register.ts";
import { type Socket, socket } from "../socket/socket.ts";
import { select } from "./select.ts";

/** What `run` resolves with, and how many milliseconds it took. */
async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const result = await run();
  return [result, performance.now() - t0];
}

describe("select (test_select)", () => {
  it("test_error_conditions (test_select.SelectTestCase): lists that are not lists of sockets, and a timeout that is not seconds, are ArgumentError", async () => {
    const bad = (...args: unknown[]) =>
      (select as (...a: unknown[]) => Promise<unknown>)(...args) as Promise<unknown>;
    await rejection(bad(1, 2, 3), ArgumentError, "ERR_INVALID_ARGUMENT");
    await rejection(bad(undefined, [], []), ArgumentError, "ERR_INVALID_ARGUMENT");
    await rejection(bad([{}], [], []), ArgumentError, "ERR_INVALID_ARGUMENT");
    await rejection(
      bad([{ fileno: () => "fileno" }], [], []),
      ArgumentError,
      "ERR_INVALID_ARGUMENT",
    );
    await rejection(bad([], [], [], "not a number"), ArgumentError, "ERR_INVALID_ARGUMENT");
    await rejection(bad([], [], [], -1), ArgumentError, "ERR_INVALID_ARGUMENT");
  });

  it("test_errno (test_select.SelectTestCase): a closed socket is EBADF", async (t) => {
    const { client } = await tcpPair(t);
    await client.close();
    await rejection(select([client], [], [], 0), SocketError, "EBADF");
    await rejection(select([], [client], [], 0), SocketError, "EBADF");
    await rejection(select([], [], [client], 0), SocketError, "EBADF");
  });

  it("test_returned_list_identity (test_select.SelectTestCase): three new lists, even when all are empty", async () => {
    const rlist: Socket[] = [];
    const [[r, w, x], took] = await timed(() => select(rlist, [], [], 0.05));
    assert.notEqual(r, w);
    assert.notEqual(r, x);
    assert.notEqual(w, x);
    assert.notEqual(r, rlist);
    assert.deepEqual([r, w, x], [[], [], []]);
    assert.ok(took >= 50, `select with nothing to wait for returned after ${took} ms`);
  });

  it("test_select (test_select.SelectTestCase): lines read as select reports them, with timeouts 0, 1, 2, 4... and none, until end of stream", async (t) => {
    const { client: writer, conn: reader } = await tcpPair(t);
    let sent = 0;
    const sendNext = async () => {
      if (sent === 10) writer.shutdown(SHUT_WR);
      else {
        sent++;
        await writer.sendall("testing...\n");
      }
    };
    await sendNext();
    const lines: string[] = [];
    let eof = false;
    for (const timeout of [0, 1, 2, 4, 8, 16, ...Array(10).fill(null)] as (number | null)[]) {
      const [rfd, wfd, xfd] = await select([reader], [], [], timeout);
      assert.deepEqual(wfd, []);
      assert.deepEqual(xfd, []);
      if (rfd.length === 0) continue;
      assert.deepEqual(rfd, [reader]);
      const line = await reader.recv(1024);
      if (line.length === 0) {
        eof = true;
        break;
      }
      lines.push(line.toString());
      await sendNext();
    }
    assert.ok(eof, "end of stream was reported readable");
    assert.deepEqual(lines, Array(10).fill("testing...\n"));
  });
});

/** A connected TCP pair over 127.0.0.1. */
async function tcpSockets(t: TestContext): Promise<[Socket, Socket]> {
  const { client, conn } = await tcpPair(t);
  return [client, conn];
}

/** A connected Unix stream pair in a temporary folder. */
async function unixPair(t: TestContext): Promise<[Socket, Socket]> {
  const path = join(await tempDir(t), "s");
  const server = closing(t, socket(AF_UNIX, SOCK_STREAM));
  await server.bind(path);
  server.listen(1);
  const client = closing(t, socket(AF_UNIX, SOCK_STREAM));
  await client.connect(path);
  const [conn] = await server.accept();
  return [client, closing(t, conn)];
}

describe("select on socketkit sockets", () => {
  for (const [kind, pair] of [
    ["TCP", tcpSockets],
    ["Unix stream", unixPair],
  ] as const) {
    it(`test_select (test_select.SelectTestCase), ${kind}: readable once the peer sends, writable at once, and the bytes stay for recv()`, async (t) => {
      const [a, b] = await pair(t);
      const [r0, w0] = await select([a, b], [a, b], [a, b], 0);
      assert.deepEqual(r0, [], "nothing to read yet");
      assert.deepEqual(w0, [a, b], "both can send");
      const waiting = select([a, b], [], [a, b]);
      await b.sendall("ping");
      const [r1, w1, x1] = await waiting;
      assert.deepEqual([r1, w1, x1], [[a], [], []]);
      assert.equal(buffered(a), 4, "select consumed nothing");
      assert.equal((await a.recv(1024)).toString(), "ping");
    });
  }

  it("test_select (test_select.SelectTestCase), EOF: a peer's FIN is readable and recv() returns b''", async (t) => {
    const { client, conn } = await tcpPair(t);
    const waiting = select([conn], [], []);
    client.shutdown(SHUT_WR);
    assert.deepEqual(await waiting, [[conn], [], []]);
    assert.equal((await conn.recv(1024)).length, 0);
  });

  it("test_select (test_select.SelectTestCase), listening: readable when a client connects; accept() then does not wait", async (t) => {
    const { server, port } = await listener(t);
    assert.deepEqual(await select([server], [server], [], 0), [[], [], []]);
    const waiting = select([server], [], []);
    const client = closing(t, socket());
    await client.connect(["127.0.0.1", port]);
    assert.deepEqual(await waiting, [[server], [], []]);
    server.settimeout(0);
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.deepEqual(addr, client.getsockname());
    assert.deepEqual(await select([server], [], [], 0), [[], [], []], "accepted: none left");
  });

  it("test_select (test_select.SelectTestCase), UDP: readable when a datagram is queued (recvfrom gets it whole), writable always", async (t) => {
    const rd = closing(t, socket(AF_INET, SOCK_DGRAM));
    await rd.bind(["127.0.0.1", 0]);
    const wr = closing(t, socket(AF_INET, SOCK_DGRAM));
    assert.deepEqual(await select([rd], [wr, rd], [], 0), [[], [wr, rd], []]);
    const waiting = select([rd], [], []);
    await wr.sendto("datagram", ["127.0.0.1", portOf(rd.getsockname())]);
    assert.deepEqual(await waiting, [[rd], [], []]);
    rd.settimeout(0);
    const [data, from] = await rd.recvfrom(1024);
    assert.equal(data.toString(), "datagram");
    assert.equal(portOf(from), portOf(wr.getsockname()));
    assert.deepEqual(await select([rd], [], [], 0), [[], [], []]);
  });

  it("test_select (test_select.SelectTestCase), send buffer: not writable while SO_SNDBUF is queued, writable again once the peer reads", async (t) => {
    const { client, conn } = await tcpPair(t, { server: { highWaterMark: 1024 } });
    client.settimeout(0);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let queued = 0;
    for (;;) {
      try {
        queued += await client.send(chunk);
      } catch (err) {
        assert.ok(err instanceof BlockingIOError, String(err));
        break;
      }
    }
    assert.deepEqual(await select([], [client], [], 0), [[], [], []], "send would wait");
    const waiting = select([], [client], []);
    let read = 0;
    while (read < queued) read += (await conn.recv(1 << 20)).length;
    assert.deepEqual(await waiting, [[], [client], []]);
  });

  it("test_select (test_select.SelectTestCase), non-blocking connect: writable once connected, as Python's connect_ex-then-select", async (t) => {
    const { server, port } = await listener(t);
    const s = closing(t, socket());
    s.settimeout(0);
    await rejection(s.connect(["127.0.0.1", port]), BlockingIOError, "EINPROGRESS");
    const [, w] = await select([], [s], [], 5);
    assert.deepEqual(w, [s]);
    s.settimeout(null);
    await s.sendall("hi");
    const [conn] = await server.accept();
    closing(t, conn);
    assert.equal((await conn.recv(10)).toString(), "hi");
  });

  it("test_errno (test_select.SelectTestCase), while waiting: a socket closed meanwhile is reported, and its next call is EBADF", async (t) => {
    const { conn } = await tcpPair(t);
    const waiting = select([conn], [], []);
    await conn.close();
    assert.deepEqual(await waiting, [[conn], [], []]);
    await rejection(conn.recv(10), SocketError, "EBADF");
  });

  it("test_select (test_select.SelectTestCase), many sockets: of 100 pairs, only the one whose peer sent is readable", async (t) => {
    const { server, port } = await listener(t);
    const readers: Socket[] = [];
    const writers: Socket[] = [];
    for (let i = 0; i < 100; i++) {
      const wr = closing(t, socket());
      await wr.connect(["127.0.0.1", port]);
      const [rd] = await server.accept();
      readers.push(closing(t, rd));
      writers.push(wr);
    }
    assert.deepEqual(await select(readers, [], [], 0), [[], [], []]);
    const waiting = select(readers, [], []);
    await (writers[57] as Socket).sendall("x");
    assert.deepEqual(await waiting, [[readers[57]], [], []]);
    // A second sender, seen by a later select, with the first still unread.
    await (writers[3] as Socket).sendall("y");
    await until(() => buffered(readers[3] as Socket) === 1, "the byte at reader 3");
    assert.deepEqual(await select(readers, [], [], 0), [[readers[3], readers[57]], [], []]);
  });

  it("test_select (test_select.SelectTestCase), timeout: nothing ready, [] after at least the timeout", async (t) => {
    const { conn } = await tcpPair(t);
    const [result, took] = await timed(() => select([conn], [], [conn], 0.25));
    assert.deepEqual(result, [[], [], []]);
    assert.ok(took >= 250, `returned after ${took} ms`);
  });

  const noNative = hasNative() ? false : `the native addon is not there: ${nativeMissingReason()}`;

  it("test_select (test_select.SelectTestCase), native: an AF_UNIX SOCK_DGRAM socket of the addon is readable when a datagram comes", {
    skip: noNative,
  }, async (t) => {
    const dir = await tempDir(t);
    const rd = closing(t, socket(AF_UNIX, SOCK_DGRAM));
    await rd.bind(join(dir, "rd"));
    const wr = closing(t, socket(AF_UNIX, SOCK_DGRAM));
    assert.deepEqual(await select([rd], [wr], [], 0), [[], [wr], []]);
    const waiting = select([rd], [], []);
    await wr.sendto("native", join(dir, "rd"));
    assert.deepEqual(await waiting, [[rd], [], []]);
    rd.settimeout(0);
    assert.equal((await rd.recv(100)).toString(), "native");
    assert.deepEqual(await select([rd], [], [], 0), [[], [], []]);
  });

  it("test_select (test_select.SelectTestCase), native: an AF_UNIX SOCK_SEQPACKET listener is readable when a client connects, its connection when a packet comes", {
    skip: noNative,
  }, async (t) => {
    const path = join(await tempDir(t), "seq");
    const server = closing(t, socket(AF_UNIX, SOCK_SEQPACKET));
    await server.bind(path);
    server.listen(1);
    assert.deepEqual(await select([server], [], [], 0), [[], [], []]);
    const waiting = select([server], [], []);
    const client = closing(t, socket(AF_UNIX, SOCK_SEQPACKET));
    await client.connect(path);
    assert.deepEqual(await waiting, [[server], [], []]);
    server.settimeout(0);
    const [conn] = await server.accept();
    closing(t, conn);
    const reading = select([conn], [], []);
    await client.send("packet");
    assert.deepEqual(await reading, [[conn], [], []]);
    assert.equal((await conn.recv(100)).toString(), "packet");
  });

  it("test_select (test_select.SelectTestCase), native: a UDP socket carried by the addon for SO_REUSEPORT is readable when a datagram comes", {
    skip: noNative,
  }, async (t) => {
    const rd = closing(t, socket(AF_INET, SOCK_DGRAM));
    rd.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    await rd.bind(["127.0.0.1", 0]);
    const waiting = select([rd], [], []);
    const wr = closing(t, socket(AF_INET, SOCK_DGRAM));
    await wr.sendto("reuseport", ["127.0.0.1", portOf(rd.getsockname())]);
    assert.deepEqual(await waiting, [[rd], [], []]);
    rd.settimeout(0);
    assert.equal((await rd.recv(100)).toString(), "reuseport");
  });
});
