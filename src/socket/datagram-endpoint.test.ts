/**
 * Datagram sockets (UDP) through the Socket API: DatagramEndpoint keeps datagrams whole,
 * bounds its receive queue and counts what it drops.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import {
  closing,
  ipv6LoopbackWorks,
  portOf,
  rejection,
  thrown,
  until,
} from "../../test/helpers/net.ts";
import {
  AddressInUseError,
  AF_INET,
  AF_INET6,
  BlockingIOError,
  MAX_UDP_PAYLOAD,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOL_SOCKET,
  type Socket,
  SocketError,
  type SocketOptions,
  socket,
  TimeoutError,
} from "../index.ts";

const T = { timeout: 10_000 };

/** A UDP socket bound to 127.0.0.1 (or ::1) on a free port, closed when the test ends. */
async function udp(t: TestContext, options: SocketOptions = {}, family = AF_INET): Promise<Socket> {
  const s = closing(t, socket(family, SOCK_DGRAM, 0, options));
  await s.bind([family === AF_INET6 ? "::1" : "127.0.0.1", 0]);
  return s;
}

describe("UDP sendto and recvfrom", () => {
  it("recvfrom returns the datagram and the sender's address", T, async (t) => {
    const receiver = await udp(t);
    const sender = await udp(t);
    const n = await sender.sendto("Hello, World", receiver.getsockname() as [string, number]);
    assert.equal(n, 12);
    const [data, from] = await receiver.recvfrom(1024);
    assert.equal(data.toString(), "Hello, World");
    assert.deepEqual(from, sender.getsockname());
  });

  it("a reply sent to the address recvfrom gave reaches the sender", T, async (t) => {
    const server = await udp(t);
    const client = await udp(t);
    await client.sendto("ping", server.getsockname() as [string, number]);
    const [data, from] = await server.recvfrom(100);
    await server.sendto(Buffer.concat([data, Buffer.from("/pong")]), from as [string, number]);
    const [reply, replyFrom] = await client.recvfrom(100);
    assert.equal(reply.toString(), "ping/pong");
    assert.deepEqual(replyFrom, server.getsockname());
  });

  it("keeps datagram boundaries: each recvfrom returns one datagram", T, async (t) => {
    const receiver = await udp(t);
    const sender = await udp(t);
    const to = receiver.getsockname() as [string, number];
    for (const word of ["one", "two", "three"]) await sender.sendto(word, to);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push((await receiver.recvfrom(100))[0].toString());
    assert.deepEqual(got, ["one", "two", "three"]);
  });

  it(`a ${MAX_UDP_PAYLOAD}-byte datagram arrives whole`, T, async (t) => {
    const receiver = await udp(t);
    const sender = await udp(t);
    const data = randomBytes(MAX_UDP_PAYLOAD);
    assert.equal(
      await sender.sendto(data, receiver.getsockname() as [string, number]),
      MAX_UDP_PAYLOAD,
    );
    const [got] = await receiver.recvfrom(65535);
    assert.equal(got.length, MAX_UDP_PAYLOAD);
    assert.deepEqual(got, data);
  });

  it("a datagram over the IPv4 maximum raises EMSGSIZE", T, async (t) => {
    const sender = await udp(t);
    const receiver = await udp(t);
    await rejection(
      sender.sendto(Buffer.alloc(MAX_UDP_PAYLOAD + 1), receiver.getsockname() as [string, number]),
      SocketError,
      "EMSGSIZE",
    );
  });

  it("recvfrom(n) truncates the datagram to n bytes and drops the rest of it", T, async (t) => {
    const receiver = await udp(t);
    const sender = await udp(t);
    const to = receiver.getsockname() as [string, number];
    await sender.sendto("0123456789", to);
    await sender.sendto("next", to);
    assert.equal((await receiver.recvfrom(4))[0].toString(), "0123");
    assert.equal((await receiver.recvfrom(100))[0].toString(), "next");
  });

  it("recv on a datagram socket returns one datagram", T, async (t) => {
    const receiver = await udp(t);
    const sender = await udp(t);
    await sender.sendto("solo", receiver.getsockname() as [string, number]);
    assert.equal((await receiver.recv(100)).toString(), "solo");
  });

  it("recvfrom raises TimeoutError when nothing arrives in time", T, async (t) => {
    const receiver = await udp(t);
    receiver.settimeout(0.2);
    const started = performance.now();
    await rejection(receiver.recvfrom(100), TimeoutError, "ETIMEDOUT");
    assert.ok(performance.now() - started >= 190);
  });

  it("a datagram arriving after a timed-out recvfrom is kept for the next one", T, async (t) => {
    const receiver = await udp(t);
    const sender = await udp(t);
    receiver.settimeout(0.1);
    await rejection(receiver.recvfrom(100), TimeoutError, "ETIMEDOUT");
    await sender.sendto("late", receiver.getsockname() as [string, number]);
    receiver.settimeout(5);
    assert.equal((await receiver.recvfrom(100))[0].toString(), "late");
  });

  it("settimeout(0): recvfrom raises BlockingIOError when no datagram is queued", T, async (t) => {
    const receiver = await udp(t);
    receiver.settimeout(0);
    await rejection(receiver.recvfrom(100), BlockingIOError, "EAGAIN");
  });

  it(
    "recvfrom on a socket never bound waits as Linux does: its timeout, or a datagram once sendto binds it",
    T,
    async (t) => {
      const s = closing(t, socket(AF_INET, SOCK_DGRAM));
      s.settimeout(0.05);
      await rejection(s.recvfrom(100), TimeoutError, "ETIMEDOUT");
      s.settimeout(0);
      await rejection(s.recvfrom(100), BlockingIOError, "EAGAIN");
      s.settimeout(null);
      const waiting = s.recvfrom(100);
      const peer = await udp(t);
      await s.sendto("hello", peer.getsockname() as [string, number]); // binds s
      const [, from] = await peer.recvfrom(100);
      await peer.sendto("back", from as [string, number]);
      assert.equal((await waiting)[0].toString(), "back");
      const closed = closing(t, socket(AF_INET, SOCK_DGRAM));
      const pending = rejection(closed.recvfrom(100), SocketError, "EBADF");
      await closed.close();
      await pending;
    },
  );

  it("send without a destination raises EDESTADDRREQ", T, async (t) => {
    const s = await udp(t);
    await rejection(s.send("x"), SocketError, "EDESTADDRREQ");
  });

  it("binding a UDP port in use raises AddressInUseError", T, async (t) => {
    const first = await udp(t);
    const second = closing(t, socket(AF_INET, SOCK_DGRAM));
    await rejection(
      second.bind(["127.0.0.1", portOf(first.getsockname())]),
      AddressInUseError,
      "EADDRINUSE",
    );
  });

  it("a failed bind leaves no stale error behind for the next recvfrom", {
    ...T,
  }, async (t) => {
    const first = await udp(t);
    const s = closing(t, socket(AF_INET, SOCK_DGRAM));
    await rejection(
      s.bind(["127.0.0.1", portOf(first.getsockname())]),
      AddressInUseError,
      "EADDRINUSE",
    );
    // sendto binds implicitly, as Python does after a failed bind.
    await s.sendto("hello", first.getsockname() as [string, number]);
    const [, from] = await first.recvfrom(100);
    await first.sendto("back", from as [string, number]);
    s.settimeout(5);
    assert.equal((await s.recvfrom(100))[0].toString(), "back");
  });

  it("SO_REUSEADDR lets two datagram sockets bind one port", T, async (t) => {
    const a = closing(t, socket(AF_INET, SOCK_DGRAM));
    a.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    assert.equal(a.getsockopt(SOL_SOCKET, SO_REUSEADDR), 1);
    await a.bind(["127.0.0.1", 0]);
    const b = closing(t, socket(AF_INET, SOCK_DGRAM));
    b.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    await b.bind(["127.0.0.1", portOf(a.getsockname())]);
    assert.deepEqual(b.getsockname(), a.getsockname());
  });

  it(
    "SO_RCVBUF and SO_SNDBUF set the kernel's buffers (Linux reports at least what was asked)",
    T,
    async (t) => {
      const s = await udp(t);
      s.setsockopt(SOL_SOCKET, SO_RCVBUF, 100_000);
      s.setsockopt(SOL_SOCKET, SO_SNDBUF, 100_000);
      assert.ok(s.getsockopt(SOL_SOCKET, SO_RCVBUF) >= 100_000);
      assert.ok(s.getsockopt(SOL_SOCKET, SO_SNDBUF) >= 100_000);
    },
  );
});

describe("UDP connect", () => {
  it("connect sets the destination for send and recv", T, async (t) => {
    const server = await udp(t);
    const client = await udp(t);
    await client.connect(server.getsockname() as [string, number]);
    assert.deepEqual(client.getpeername(), server.getsockname());
    assert.equal(await client.send("via send"), 8);
    const [data, from] = await server.recvfrom(100);
    assert.equal(data.toString(), "via send");
    assert.deepEqual(from, client.getsockname());
    await server.sendto("answer", from as [string, number]);
    assert.equal((await client.recv(100)).toString(), "answer");
  });

  it("a connected socket receives only from its peer", T, async (t) => {
    const server = await udp(t);
    const stranger = await udp(t);
    const client = await udp(t);
    await client.connect(server.getsockname() as [string, number]);
    const me = client.getsockname() as [string, number];
    await stranger.sendto("intruder", me);
    await server.sendto("peer", me);
    assert.equal((await client.recv(100)).toString(), "peer");
  });

  it(
    "sendto on a connected socket sends to its peer, and raises EISCONN for another address (Node.js)",
    T,
    async (t) => {
      const server = await udp(t);
      const other = await udp(t);
      const client = await udp(t);
      await client.connect(server.getsockname() as [string, number]);
      assert.equal(
        await client.sendto("to the peer", server.getsockname() as [string, number]),
        11,
      );
      assert.equal((await server.recv(100)).toString(), "to the peer");
      await rejection(
        client.sendto("x", other.getsockname() as [string, number]),
        SocketError,
        "EISCONN",
      );
    },
  );
});

describe("UDP receive queue", () => {
  it(
    "drops datagrams beyond maxQueuedDatagrams and counts them in droppedDatagrams",
    T,
    async (t) => {
      const receiver = await udp(t, { maxQueuedDatagrams: 2 });
      const sender = await udp(t);
      const to = receiver.getsockname() as [string, number];
      assert.equal(receiver.droppedDatagrams, 0);
      for (let i = 0; i < 5; i++) await sender.sendto(`d${i}`, to);
      await until(() => receiver.droppedDatagrams === 3, "3 datagrams dropped");
      assert.equal((await receiver.recvfrom(10))[0].toString(), "d0");
      assert.equal((await receiver.recvfrom(10))[0].toString(), "d1");
      receiver.settimeout(0);
      await rejection(receiver.recvfrom(10), BlockingIOError, "EAGAIN");
      // Room again: the next datagram is queued, not dropped.
      receiver.settimeout(5);
      await sender.sendto("d5", to);
      assert.equal((await receiver.recvfrom(10))[0].toString(), "d5");
      assert.equal(receiver.droppedDatagrams, 3);
    },
  );

  it("drops datagrams beyond maxQueuedBytes", T, async (t) => {
    const receiver = await udp(t, { maxQueuedBytes: 1000 });
    const sender = await udp(t);
    const to = receiver.getsockname() as [string, number];
    for (let i = 0; i < 3; i++) await sender.sendto(Buffer.alloc(400, i), to);
    await until(() => receiver.droppedDatagrams === 1, "1 datagram dropped");
    assert.equal((await receiver.recvfrom(1000))[0][0], 0);
    assert.equal((await receiver.recvfrom(1000))[0][0], 1);
  });
});

describe("UDP over IPv6", () => {
  it("sendto and recvfrom with [host, port, flowinfo, scopeId] addresses", T, async (t) => {
    if (!(await ipv6LoopbackWorks())) {
      t.skip("::1 cannot be bound here (no IPv6 loopback)");
      return;
    }
    const receiver = await udp(t, {}, AF_INET6);
    const sender = await udp(t, {}, AF_INET6);
    const name = receiver.getsockname();
    assert.equal((name as unknown[]).length, 4);
    await sender.sendto("six", name as [string, number, number, number]);
    const [data, from] = await receiver.recvfrom(10);
    assert.equal(data.toString(), "six");
    assert.deepEqual(from, sender.getsockname());
  });
});

describe("UDP close", () => {
  it("is idempotent and makes later operations raise EBADF", T, async (t) => {
    const s = await udp(t);
    const other = await udp(t);
    await Promise.all([s.close(), s.close()]);
    await rejection(s.recvfrom(10), SocketError, "EBADF");
    await rejection(s.sendto("x", other.getsockname() as [string, number]), SocketError, "EBADF");
    await rejection(s.bind(["127.0.0.1", 0]), SocketError, "EBADF");
    thrown(() => s.getsockname(), SocketError, "EBADF");
  });

  it("send on a closed unconnected socket raises EBADF", {
    ...T,
  }, async (t) => {
    const s = await udp(t);
    await s.close();
    await rejection(s.send("x"), SocketError, "EBADF");
  });

  it("wakes a recvfrom that is waiting with EBADF", T, async (t) => {
    const s = await udp(t);
    const pending = rejection(s.recvfrom(10), SocketError, "EBADF");
    await s.close();
    await pending;
  });
});

describe("UDP connect", () => {
  it("connecting again moves the socket to the new peer, as in Python", {
    timeout: 10_000,
  }, async (t) => {
    const a = await udp(t);
    const b = await udp(t);
    const s = closing(t, socket(AF_INET, SOCK_DGRAM));
    s.settimeout(5);
    await s.connect(a.getsockname());
    await s.send("to a");
    assert.equal((await a.recvfrom(100))[0].toString(), "to a");
    await s.connect(b.getsockname());
    await s.send("to b");
    assert.equal((await b.recvfrom(100))[0].toString(), "to b");
    assert.deepEqual(s.getpeername(), b.getsockname());
  });
});
