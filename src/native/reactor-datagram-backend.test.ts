import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { closing, portOf, rejection, tempDir, thrown, until } from "../../test/helpers/net.ts";
import { AF_INET, AF_UNIX, SHUT_RD, SO_SNDBUF, SOCK_DGRAM, SOL_SOCKET } from "../core/constants.ts";
import {
  BlockingIOError,
  ConnectionRefusedError,
  SocketError,
  TimeoutError,
  UnsupportedError,
} from "../core/errors.ts";
import { type Socket, type SocketOptions, socket } from "../socket/socket.ts";
import "./register.ts";
import { native } from "./index.ts";
import { hasReactor, MAX_MESSAGES, Reactor, reactorMissingReason } from "./reactor.ts";

const skip =
  !hasReactor() || process.env.SOCKETKIT_NO_NATIVE_IO
    ? `the native I/O path is off (${reactorMissingReason() ?? "SOCKETKIT_NO_NATIVE_IO is set"})`
    : false;
const T = { timeout: 10_000 };

async function udp(t: TestContext, options: SocketOptions = {}): Promise<Socket> {
  const s = closing(t, socket(AF_INET, SOCK_DGRAM, 0, options));
  await s.bind(["127.0.0.1", 0]);
  return s;
}

/** A bare non-blocking UDP socket of the addon, read synchronously (nothing in between). */
function rawReceiver(t: TestContext): { fd: number; port: number; take: () => string | null } {
  const addon = native("a test receiver");
  const fd = addon.socket(AF_INET, SOCK_DGRAM, 0);
  t.after(() => addon.close(fd));
  addon.bind(fd, { family: "inet", host: "127.0.0.1", port: 0 });
  const { port } = addon.getsockname(fd, false) as { port: number };
  return {
    fd,
    port,
    take: () => {
      const got = addon.recvfrom(fd, 100000);
      return got === null ? null : got[0].toString();
    },
  };
}

describe("UDP sockets on the native I/O path", { skip }, () => {
  it("run on the reactor by default, and on node:dgram with nativeIO: false", T, async (t) => {
    for (const [options, onReactor] of [
      [{}, true],
      [{ nativeIO: false }, false],
    ] as const) {
      const receiver = await udp(t, options);
      const sender = await udp(t, options);
      const before = Reactor.shared().stats().records;
      await sender.sendto("hello", receiver.getsockname());
      const [data, from] = await receiver.recvfrom(100);
      assert.equal(data.toString(), "hello");
      assert.deepEqual(from, sender.getsockname());
      assert.equal(Reactor.shared().stats().records > before, onReactor);
    }
  });

  it(
    "sends a datagram at once, and the ones sent right after it together in a microtask, in order",
    T,
    async (t) => {
      const receiver = rawReceiver(t);
      const s = await udp(t);
      const to: [string, number] = ["127.0.0.1", receiver.port];
      const sends = ["one", "two", "three"].map((word) => s.sendto(word, to));
      assert.equal(receiver.take(), "one", "the first went at once");
      assert.equal(receiver.take(), null, "the others wait for the microtask");
      assert.deepEqual(await Promise.all(sends), [3, 3, 5]);
      assert.equal(receiver.take(), "two");
      assert.equal(receiver.take(), "three");
      // After it, the next goes at once again.
      const next = s.sendto("four", to);
      assert.equal(receiver.take(), "four");
      assert.equal(await next, 4);
    },
  );

  it(
    "a staged datagram the kernel refuses fails alone; the ones after it are sent",
    T,
    async (t) => {
      const receiver = rawReceiver(t);
      const s = await udp(t);
      const to: [string, number] = ["127.0.0.1", receiver.port];
      const first = s.sendto("first", to);
      const tooBig = s.sendto(Buffer.alloc(65508), to);
      const last = s.sendto("last", to);
      assert.equal(await first, 5);
      await rejection(tooBig, SocketError, "EMSGSIZE");
      assert.equal(await last, 4);
      assert.equal(receiver.take(), "first");
      assert.equal(receiver.take(), "last");
    },
  );

  it("close sends what is staged first", T, async (t) => {
    const receiver = rawReceiver(t);
    const s = await udp(t);
    const to: [string, number] = ["127.0.0.1", receiver.port];
    const sends = [s.sendto("a", to), s.sendto("b", to), s.sendto("c", to)];
    await s.close();
    assert.deepEqual(await Promise.all(sends), [1, 1, 1]);
    assert.deepEqual([receiver.take(), receiver.take(), receiver.take()], ["a", "b", "c"]);
  });

  it("a small datagram does not hold the batch it came in", T, async (t) => {
    const receiver = await udp(t);
    const sender = await udp(t);
    const to = receiver.getsockname();
    // Sent before the receiver's next wake-up: they come in batches of many (32 of them
    // make 80 KB, more than a slab of Node's Buffer pool on any line).
    await Promise.all(
      Array.from({ length: 32 }, (_, i) => sender.sendto(Buffer.alloc(2500, i), to)),
    );
    // A slab of the pool, as this Node.js line makes them (8 KiB; 64 KiB and a little on
    // newer lines).
    const slab = Buffer.allocUnsafe(1).buffer.byteLength;
    for (let i = 0; i < 32; i++) {
      const [data] = await receiver.recvfrom(4000);
      assert.equal(data[0], i);
      // Its own memory: a slice of Node's Buffer pool, or its batch when it is most of it.
      assert.ok(data.buffer.byteLength <= slab, `holds ${data.buffer.byteLength} bytes`);
    }
  });

  it("counts what the bounded queue drops, and queues again once read", T, async (t) => {
    const receiver = await udp(t, { maxQueuedDatagrams: 3 });
    const sender = await udp(t);
    const to = receiver.getsockname();
    await Promise.all(Array.from({ length: 10 }, (_, i) => sender.sendto(`d${i}`, to)));
    await until(() => receiver.droppedDatagrams === 7, "7 datagrams dropped");
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await receiver.recvfrom(10))[0].toString());
    assert.deepEqual(got, ["d0", "d1", "d2"]);
    await sender.sendto("again", to);
    assert.equal((await receiver.recvfrom(10))[0].toString(), "again");
    assert.equal(receiver.droppedDatagrams, 7);
  });

  it("the fileno is the descriptor once the socket exists, -1 before and after", T, async (t) => {
    const s = closing(t, socket(AF_INET, SOCK_DGRAM));
    assert.equal(s.fileno(), -1);
    await s.bind(["127.0.0.1", 0]);
    assert.ok(s.fileno() > 2);
    assert.ok(portOf(s.getsockname()) > 0);
    await s.close();
    assert.equal(s.fileno(), -1);
  });
});

/** A bound Unix datagram socket at `name` in `dir`. */
async function unixBound(
  t: TestContext,
  dir: string,
  name: string,
  options: SocketOptions = {},
): Promise<Socket> {
  const s = closing(t, socket(AF_UNIX, SOCK_DGRAM, 0, options));
  await s.bind(join(dir, name));
  return s;
}

/** A Unix datagram socket bound in a new directory, its path, and an unbound sender. */
async function unixReceiver(
  t: TestContext,
  options: SocketOptions = {},
): Promise<{ dir: string; receiver: Socket; to: string; sender: Socket }> {
  const dir = await tempDir(t);
  const receiver = await unixBound(t, dir, "in", options);
  return { dir, receiver, to: join(dir, "in"), sender: closing(t, socket(AF_UNIX, SOCK_DGRAM)) };
}

describe("Unix datagram sockets on the native I/O path", { skip }, () => {
  it(
    "run on the reactor by default, and on the per-socket path with nativeIO: false",
    T,
    async (t) => {
      const dir = await tempDir(t);
      for (const [options, onReactor] of [
        [{}, true],
        [{ nativeIO: false }, false],
      ] as const) {
        const tag = onReactor ? "r" : "p";
        const receiver = await unixBound(t, dir, `${tag}-in`, options);
        const sender = await unixBound(t, dir, `${tag}-out`, options);
        const before = Reactor.shared().stats().records;
        await sender.sendto("hello", join(dir, `${tag}-in`));
        const [data, from] = await receiver.recvfrom(100);
        assert.equal(data.toString(), "hello");
        assert.equal(from, join(dir, `${tag}-out`));
        assert.equal(Reactor.shared().stats().records > before, onReactor);
        // The unref of the per-socket path is refused; the reactor's sockets have one.
        if (onReactor) assert.equal(receiver.unref(), receiver);
        else thrown(() => receiver.unref(), UnsupportedError, "ERR_UNSUPPORTED");
      }
    },
  );

  it(
    "read a datagram longer than the reactor's slots whole, and cut it only to recv's bufsize",
    T,
    async (t) => {
      const { receiver, to, sender } = await unixReceiver(t);
      sender.setsockopt(SOL_SOCKET, SO_SNDBUF, 1 << 20);
      const big = randomBytes(200_000);
      await sender.sendto(big, to);
      await sender.sendto(big, to);
      await sender.sendto("after", to);
      const [whole, from] = await receiver.recvfrom(1 << 20);
      assert.ok(whole.equals(big), `got ${whole.length} bytes of ${big.length}`);
      assert.equal(from, "", "an unbound sender has no name (Python: None)");
      assert.ok((await receiver.recv(70_000)).equals(big.subarray(0, 70_000)));
      assert.equal((await receiver.recv(100)).toString(), "after");
      // The longest the system lets this sender make, up to 4 MiB: past the reactor's
      // own buffer for a batch (3 MiB) where net.core.wmem_max allows it.
      sender.setsockopt(SOL_SOCKET, SO_SNDBUF, 8 << 20);
      let huge = randomBytes(4 << 20);
      for (;;) {
        try {
          await sender.sendto(huge, to);
          break;
        } catch (err) {
          assert.equal((err as SocketError).code, "EMSGSIZE");
          huge = huge.subarray(0, huge.length >> 1);
        }
      }
      const got = await receiver.recv(8 << 20);
      assert.ok(got.equals(huge), `got ${got.length} bytes of ${huge.length}`);
    },
  );

  it(
    "raise what Python raises: a missing path, a closed peer, too long a datagram, no peer",
    T,
    async (t) => {
      const dir = await tempDir(t);
      const s = closing(t, socket(AF_UNIX, SOCK_DGRAM));
      await rejection(s.sendto("x", join(dir, "nobody")), SocketError, "ENOENT");
      const gone = await unixBound(t, dir, "gone");
      await gone.close();
      await rejection(s.sendto("x", join(dir, "gone")), ConnectionRefusedError, "ECONNREFUSED");
      await rejection(s.connect(join(dir, "nobody")), SocketError, "ENOENT");
      await unixBound(t, dir, "there");
      s.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
      await rejection(s.sendto(Buffer.alloc(100_000), join(dir, "there")), SocketError, "EMSGSIZE");
      await rejection(s.send("x"), SocketError, "ENOTCONN");
    },
  );

  it(
    "time out, and raise BlockingIOError when non-blocking, with nothing to read",
    T,
    async (t) => {
      const { receiver, to, sender } = await unixReceiver(t);
      receiver.settimeout(0.05);
      await rejection(receiver.recvfrom(10), TimeoutError, "ETIMEDOUT");
      receiver.settimeout(0);
      await rejection(receiver.recv(10), BlockingIOError, "EAGAIN");
      await sender.sendto("late", to);
      await until(() => receiver.recvfromNow(10) !== undefined, "the datagram");
    },
  );

  it(
    "lose nothing in a flood: a full queue stops reading, the sender waits, all arrive in order",
    T,
    async (t) => {
      const queued = 16;
      const { dir, receiver, to } = await unixReceiver(t, { maxQueuedDatagrams: queued });
      // Connected: its send waits for room in the receiver's queue (poll says when).
      const sender = await unixBound(t, dir, "fast");
      await sender.connect(to);
      sender.settimeout(0.5);
      let sent = 0;
      // The receiver reads nothing: once its queue and the kernel's are full, the sender's
      // send waits, and times out.
      for (;;) {
        try {
          await sender.send(Buffer.alloc(1000, sent % 251));
          sent++;
        } catch (err) {
          assert.ok(err instanceof TimeoutError, String(err));
          break;
        }
        assert.ok(sent < 100_000, "the sender was never held back");
      }
      // What the process holds is bounded: its queue, one batch past it, the kernel's queue.
      const kernelQueue = Number(readFileSync("/proc/sys/net/unix/max_dgram_qlen", "utf8"));
      assert.ok(
        sent <= queued + MAX_MESSAGES + kernelQueue + 1,
        `${sent} datagrams were taken while nothing was read`,
      );
      for (let i = 0; i < sent; i++) {
        const data = await receiver.recv(2000);
        assert.equal(data.length, 1000);
        assert.equal(data[0], i % 251, `datagram ${i} in order`);
      }
      assert.equal(receiver.droppedDatagrams, 0);
      // Reading again: the sender goes on.
      sender.settimeout(5);
      await sender.send("more");
      assert.equal((await receiver.recv(10)).toString(), "more");
    },
  );

  it(
    "a peer that reads nothing holds back only what is sent to it, not the datagrams for others",
    T,
    async (t) => {
      const { dir, receiver, to, sender } = await unixReceiver(t);
      // A peer on the per-socket path reads only when asked: its kernel queue fills.
      const stuck = closing(t, socket(AF_UNIX, SOCK_DGRAM, 0, { nativeIO: false }));
      await stuck.bind(join(dir, "stuck"));
      sender.settimeout(0);
      let queued = 0;
      for (;;) {
        try {
          await sender.sendto(`q${queued}`, join(dir, "stuck"));
          queued++;
        } catch (err) {
          assert.ok(err instanceof BlockingIOError, String(err));
          break;
        }
      }
      sender.settimeout(null);
      // In one turn, as a server's handlers answer a batch: the one for the stuck peer waits.
      const first = sender.sendto("one", to);
      const held = sender.sendto("held", join(dir, "stuck"));
      const second = sender.sendto("two", to);
      receiver.settimeout(5);
      assert.equal((await receiver.recv(10)).toString(), "one");
      assert.equal((await receiver.recv(10)).toString(), "two");
      assert.deepEqual(await Promise.all([first, second]), [3, 3]);
      // The stuck peer reads: what waited for it goes.
      for (let i = 0; i < queued; i++) assert.equal((await stuck.recv(10)).toString(), `q${i}`);
      assert.equal(await held, 4);
      assert.equal((await stuck.recv(10)).toString(), "held");
    },
  );

  it(
    "a shut down receiving side gives what came before, then waits as Python's does, without spinning",
    T,
    async (t) => {
      const { receiver, to, sender } = await unixReceiver(t);
      await sender.sendto("before", to);
      receiver.shutdown(SHUT_RD);
      assert.equal((await receiver.recv(100)).toString(), "before");
      receiver.settimeout(0.3);
      const wakes = Reactor.shared().stats().wakes;
      await rejection(receiver.recv(100), TimeoutError, "ETIMEDOUT");
      // The kernel says "readable" for ever after the shutdown: watched no more, not read in a loop.
      const spent = Reactor.shared().stats().wakes - wakes;
      assert.ok(spent < 30, `${spent} wake-ups in 0.3 s`);
    },
  );
});
