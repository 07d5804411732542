import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  buffered,
  closing,
  netServer,
  rejection,
  tcpPair,
  thrown,
  until,
} from "../../test/helpers/net.ts";
import {
  AF_INET,
  BufferedReader,
  ConnectionResetError,
  DEFAULT_MAX_LINE_LENGTH,
  IncompleteReadError,
  LineTooLongError,
  SHUT_WR,
  SO_RCVBUF,
  SOCK_DGRAM,
  SOL_SOCKET,
  type Socket,
  SocketError,
  socket,
  TimeoutError,
} from "../index.ts";
import { kStream } from "./internal.ts";

const T = { timeout: 10_000 };

/** Sends `data` and waits until the reader side has it all buffered, so it is one chunk apart from what follows. */
async function deliver(from: Socket, to: Socket, data: string): Promise<void> {
  const before = buffered(to);
  await from.sendall(data);
  await until(
    () => buffered(to) >= before + Buffer.byteLength(data),
    `${JSON.stringify(data)} buffered`,
  );
}

describe("BufferedReader.readline", () => {
  it('keeps the "\\n", returns the unterminated rest at EOF, then empty Buffers', T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    assert.ok(rfile instanceof BufferedReader);
    await client.sendall("first\nsecond\r\nrest");
    client.shutdown(SHUT_WR);
    assert.equal((await rfile.readline()).toString(), "first\n");
    assert.equal((await rfile.readline()).toString(), "second\r\n");
    assert.equal((await rfile.readline()).toString(), "rest");
    assert.equal((await rfile.readline()).length, 0);
    assert.equal((await rfile.readline()).length, 0);
  });

  it("assembles a line that arrives in several chunks", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await deliver(client, conn, "par");
    const line = rfile.readline();
    await deliver(client, conn, "ti");
    await client.sendall("al\nnext");
    assert.equal((await line).toString(), "partial\n");
  });

  it(
    "raises LineTooLongError (ERR_LINE_TOO_LONG) past maxLength, and the next readline returns the following line intact",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      await client.sendall(`${"x".repeat(100)}\nnext line\n`);
      const err = await rejection(
        rfile.readline({ maxLength: 10 }),
        LineTooLongError,
        "ERR_LINE_TOO_LONG",
      );
      assert.equal(err.limit, 10);
      assert.ok(err instanceof SocketError);
      assert.equal((await rfile.readline({ maxLength: 10 })).toString(), "next line\n");
    },
  );

  it("skips the rest of an over-long line that is still arriving", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await deliver(client, conn, "y".repeat(50));
    await rejection(rfile.readline({ maxLength: 10 }), LineTooLongError, "ERR_LINE_TOO_LONG");
    await client.sendall(`${"y".repeat(50)}\nafter\n`);
    assert.equal((await rfile.readline()).toString(), "after\n");
  });

  it("accepts a line of exactly maxLength bytes before the newline", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await client.sendall(`${"z".repeat(10)}\n`);
    assert.equal((await rfile.readline({ maxLength: 10 })).length, 11);
  });

  it("limits lines to 64 KiB by default, or to the reader's maxLineLength", T, async (t) => {
    assert.equal(DEFAULT_MAX_LINE_LENGTH, 65536);
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await client.sendall(`${"a".repeat(70_000)}\nok\n${"b".repeat(30)}\n`);
    const err = await rejection(rfile.readline(), LineTooLongError, "ERR_LINE_TOO_LONG");
    assert.equal(err.limit, 65536);
    assert.equal((await rfile.readline()).toString(), "ok\n");
    const strict = conn.makefile("r", { maxLineLength: 20 });
    await rejection(strict.readline(), LineTooLongError, "ERR_LINE_TOO_LONG");
  });

  it("applies the socket's timeout, and bytes that come later are not lost", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    conn.settimeout(0.2);
    await deliver(client, conn, "half");
    await rejection(rfile.readline(), TimeoutError, "ETIMEDOUT");
    await client.sendall(" a line\n");
    assert.equal((await rfile.readline()).toString(), "half a line\n");
  });
});

describe("BufferedReader.read and readexactly", () => {
  it("read(n) returns n bytes, fewer only at EOF; read() reads to EOF", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    const data = randomBytes(300_000);
    const sending = client.sendall(data).then(() => client.shutdown(SHUT_WR));
    assert.deepEqual(await rfile.read(100_000), data.subarray(0, 100_000));
    assert.deepEqual(await rfile.read(), data.subarray(100_000));
    await sending;
    assert.equal((await rfile.read(10)).length, 0);
  });

  it("readexactly waits for all n bytes across chunks", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await deliver(client, conn, "ab");
    const four = rfile.readexactly(4);
    await client.sendall("cdef");
    assert.equal((await four).toString(), "abcd");
    assert.equal((await rfile.readexactly(2)).toString(), "ef");
  });

  it("readexactly raises IncompleteReadError carrying the partial bytes at EOF", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await client.sendall("abc");
    client.shutdown(SHUT_WR);
    const err = await rejection(rfile.readexactly(10), IncompleteReadError, "ERR_INCOMPLETE_READ");
    assert.deepEqual(err.partial, Buffer.from("abc"));
    assert.equal(err.expected, 10);
    assert.ok(err instanceof SocketError);
  });
});

describe("BufferedReader.readuntil", () => {
  it("returns the bytes up to and including the separator", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await client.sendall("key: value\r\n\r\nbody");
    assert.equal((await rfile.readuntil("\r\n\r\n")).toString(), "key: value\r\n\r\n");
    assert.equal((await rfile.readuntil(Buffer.from("dy"))).toString(), "body");
  });

  it("finds a separator split across chunks", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await deliver(client, conn, "abc\r");
    const until1 = rfile.readuntil("\r\n");
    await client.sendall("\n");
    assert.equal((await until1).toString(), "abc\r\n");
    await deliver(client, conn, "--");
    const until2 = rfile.readuntil("---");
    await client.sendall("-");
    assert.equal((await until2).toString(), "---");
    await client.sendall("tail---");
    assert.equal((await rfile.readuntil("---")).toString(), "tail---");
  });

  it("raises IncompleteReadError with what was read when EOF comes first", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await client.sendall("no end");
    client.shutdown(SHUT_WR);
    const err = await rejection(rfile.readuntil("\n"), IncompleteReadError, "ERR_INCOMPLETE_READ");
    assert.equal(err.partial.toString(), "no end");
    assert.equal(err.expected, null);
  });

  it(
    "skips a too-long line to its separator even with a receive limit under the separator's length",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      conn.setsockopt(SOL_SOCKET, SO_RCVBUF, 1);
      const rfile = conn.makefile("r");
      await client.sendall("xxxxxxab");
      await rejection(
        rfile.readuntil("abc", { maxLength: 2 }),
        LineTooLongError,
        "ERR_LINE_TOO_LONG",
      );
      // "ab" is kept in case it begins the separator; the rest of it comes later.
      const next = rfile.readuntil("abc", { maxLength: 8 });
      await client.sendall("cnextabc");
      assert.equal((await next).toString(), "nextabc");
    },
  );

  it("raises LineTooLongError when maxLength bytes pass without the separator", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await client.sendall(`${"q".repeat(40)}END`);
    await rejection(
      rfile.readuntil("END", { maxLength: 16 }),
      LineTooLongError,
      "ERR_LINE_TOO_LONG",
    );
  });

  it(
    "drops every byte of an over-long tail at end of stream: the next partial is empty",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      // The "a" could begin the separator "ab", so it is held past the LineTooLongError.
      await deliver(client, conn, "xxxxa");
      client.shutdown(SHUT_WR);
      await rejection(
        rfile.readuntil("ab", { maxLength: 2 }),
        LineTooLongError,
        "ERR_LINE_TOO_LONG",
      );
      const err = await rejection(
        rfile.readuntil("ab"),
        IncompleteReadError,
        "ERR_INCOMPLETE_READ",
      );
      assert.equal(err.partial.length, 0);
    },
  );

  it(
    "ends an over-long line at a separator that completes a byte held past the error",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      await deliver(client, conn, "xxxxa");
      await rejection(
        rfile.readuntil("ab", { maxLength: 2 }),
        LineTooLongError,
        "ERR_LINE_TOO_LONG",
      );
      await client.sendall("bnext");
      client.shutdown(SHUT_WR);
      const err = await rejection(
        rfile.readuntil("ab"),
        IncompleteReadError,
        "ERR_INCOMPLETE_READ",
      );
      assert.equal(err.partial.toString(), "next");
    },
  );

  it("rejects an empty separator with EINVAL", T, async (t) => {
    const { conn } = await tcpPair(t);
    await rejection(conn.makefile("r").readuntil(""), SocketError, "EINVAL");
  });
});

describe("BufferedReader line iteration", () => {
  it("`for await` yields each line with its newline until EOF", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    await client.sendall("one\ntwo\n");
    await client.sendall("three");
    client.shutdown(SHUT_WR);
    const lines: string[] = [];
    for await (const line of rfile) lines.push(line.toString());
    assert.deepEqual(lines, ["one\n", "two\n", "three"]);
  });
});

describe("makefile", () => {
  it("is only for stream sockets and modes r and w", T, async (t) => {
    const udp = closing(t, socket(AF_INET, SOCK_DGRAM));
    thrown(() => udp.makefile("r"), SocketError, "EOPNOTSUPP");
    thrown(() => socket().makefile("x" as "r"), SocketError, "EINVAL");
  });

  it("reading from a socket that is not connected raises ENOTCONN", T, async (t) => {
    const s = closing(t, socket());
    await rejection(s.makefile("r").readline(), SocketError, "ENOTCONN");
  });
});

describe("BufferedReader after a timeout", () => {
  it(
    "read(n) that times out loses nothing: the bytes it had read come back first",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      await deliver(client, conn, "abc");
      conn.settimeout(0.1);
      await rejection(rfile.readexactly(10), TimeoutError, "ETIMEDOUT");
      conn.settimeout(null);
      await client.sendall("defghij");
      assert.equal((await rfile.readexactly(10)).toString(), "abcdefghij");
    },
  );

  it(
    "a readline with a large maxLength raises the buffer limit for that call only",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      await client.sendall("short line\n");
      await rfile.readline({ maxLength: 10 * 1024 * 1024 });
      assert.equal(
        conn[kStream]().highWaterMark,
        64 * 1024,
        "the flood limit is back to its default",
      );
    },
  );
});

describe("a readline that is waiting", () => {
  it("assembles a line that arrives in pieces", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    const waiting = rfile.readline();
    await deliver(client, conn, "hel");
    await client.sendall("lo\nnext\n");
    assert.equal((await waiting).toString(), "hello\n");
    assert.equal((await rfile.readline()).toString(), "next\n");
  });

  it("raises LineTooLongError when the line outgrows maxLength while it waits", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    const waiting = rfile.readline({ maxLength: 8 });
    await client.sendall("0123456789abcdef\nok\n");
    await rejection(waiting, LineTooLongError, "ERR_LINE_TOO_LONG");
    assert.equal((await rfile.readline()).toString(), "ok\n");
  });

  it(
    "returns the unterminated rest when the peer closes, and EBADF when we close",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      const waiting = rfile.readline();
      await client.sendall("tail");
      client.shutdown(SHUT_WR);
      assert.equal((await waiting).toString(), "tail");
      // Closing the socket leaves it open for its file (Python); closing the file ends both.
      const other = await tcpPair(t);
      const file = other.conn.makefile("r");
      const late = file.readline();
      await other.conn.close();
      await other.client.sendall("late\n");
      assert.equal((await late).toString(), "late\n");
      await file.close();
      assert.equal(other.conn.closed, true);
      await rejection(file.readline(), SocketError, "EBADF");
    },
  );

  it("holds a line longer than the buffer limit when maxLength allows it", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const rfile = conn.makefile("r");
    const long = `${"x".repeat(200 * 1024)}\n`;
    const waiting = rfile.readline({ maxLength: 256 * 1024 });
    await client.sendall(long);
    assert.equal((await waiting).toString(), long);
  });
});

describe("line iteration that is waiting", () => {
  it(
    "gets each line as it arrives, then the peer's reset as ConnectionResetError",
    T,
    async (t) => {
      const { port } = await netServer(t, (peer) => {
        peer.on("data", (d: Buffer) => {
          if (d.toString() === "reset") peer.resetAndDestroy();
          else peer.write(`${d.toString()}\n`);
        });
      });
      const s = closing(t, socket());
      await s.connect(["127.0.0.1", port]);
      const lines = s.makefile("r")[Symbol.asyncIterator]();
      for (const word of ["one", "two"]) {
        const next = lines.next(); // waiting before the line is even asked for
        await s.sendall(word);
        assert.deepEqual(await next, { value: Buffer.from(`${word}\n`), done: false });
      }
      const last = lines.next();
      await s.sendall("reset");
      await rejection(last, ConnectionResetError, "ECONNRESET");
    },
  );

  it(
    "a recv waiting alongside a readline gets the first bytes; the readline the line after",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const rfile = conn.makefile("r");
      const received = conn.recv(100);
      const line = rfile.readline();
      await client.sendall("first");
      assert.equal((await received).toString(), "first");
      await client.sendall("second\n");
      assert.equal((await line).toString(), "second\n");
    },
  );
});
