import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { describe, it, type TestContext } from "node:test";
import { closing, ipv6LoopbackWorks, recvAll, rejection, tempDir } from "../../test/helpers/net.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  Socket,
  SocketError,
  socketpair,
} from "../index.ts";
import { hasNative, nativeMissingReason } from "../native/index.ts";

const T = { timeout: 15_000 };
const MSG = Buffer.from("Michael Gilfix was here\u1234\r\n");

async function pair(t: TestContext, ...args: number[]): Promise<[Socket, Socket]> {
  const [serv, cli] = await socketpair(...args);
  closing(t, serv);
  closing(t, cli);
  return [serv, cli];
}

const native = {
  ...T,
  skip: hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`,
};

describe("socketpair", () => {
  it("testDefaults (BasicSocketPairTest): AF_UNIX, SOCK_STREAM, proto 0", T, async (t) => {
    for (const sock of await pair(t)) {
      assert.ok(sock instanceof Socket);
      assert.equal(sock.family, AF_UNIX);
      assert.equal(sock.type, SOCK_STREAM);
      assert.equal(sock.proto, 0);
    }
  });

  it("testRecv (BasicSocketPairTest): what one end sends the other receives", T, async (t) => {
    const [serv, cli] = await pair(t);
    await cli.send(MSG);
    assert.deepEqual(await serv.recv(1024), MSG);
  });

  it("testSend (BasicSocketPairTest): and the other way", T, async (t) => {
    const [serv, cli] = await pair(t);
    await serv.sendall(MSG);
    assert.deepEqual(await cli.recv(1024), MSG);
  });

  it("half-closes: a FIN from one end is an empty recv at the other", T, async (t) => {
    const [serv, cli] = await pair(t);
    await cli.sendall("last words");
    cli.shutdown(SHUT_WR);
    assert.equal((await recvAll(serv)).toString(), "last words");
    await serv.sendall("reply");
    assert.equal((await cli.recv(10)).toString(), "reply");
  });

  it("leaves no file behind", T, async (t) => {
    const dir = await tempDir(t);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    try {
      await pair(t);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    assert.deepEqual(await readdir(dir), []);
  });

  it("makes a TCP pair over 127.0.0.1 for AF_INET, as Python's fallback", T, async (t) => {
    const [serv, cli] = await pair(t, AF_INET);
    assert.equal(serv.family, AF_INET);
    assert.deepEqual(serv.getpeername(), cli.getsockname());
    assert.deepEqual(cli.getpeername(), serv.getsockname());
    assert.equal((cli.getpeername() as [string, number])[0], "127.0.0.1");
    await cli.sendall(MSG);
    assert.deepEqual(await serv.recv(1024), MSG);
  });

  it("makes a TCP pair over ::1 for AF_INET6", T, async (t) => {
    if (!(await ipv6LoopbackWorks())) {
      t.skip("::1 cannot be bound here");
      return;
    }
    const [serv, cli] = await pair(t, AF_INET6);
    assert.equal((serv.getsockname() as [string, number])[0], "::1");
    await serv.sendall(MSG);
    assert.deepEqual(await cli.recv(1024), MSG);
  });

  it("refuses an IP pair of another type (EOPNOTSUPP) and another family", T, async () => {
    await rejection(socketpair(AF_INET, SOCK_DGRAM), SocketError, "EOPNOTSUPP");
    await rejection(socketpair(17, SOCK_STREAM), SocketError, "EAFNOSUPPORT");
  });

  it("makes AF_UNIX SOCK_SEQPACKET pairs that keep message boundaries", native, async (t) => {
    const [serv, cli] = await pair(t, AF_UNIX, SOCK_SEQPACKET);
    await cli.send("one");
    await cli.send("two");
    assert.equal((await serv.recv(100)).toString(), "one");
    assert.equal((await serv.recv(100)).toString(), "two");
  });

  it("makes AF_UNIX SOCK_DGRAM pairs connected both ways", native, async (t) => {
    const [a, b] = await pair(t, AF_UNIX, SOCK_DGRAM);
    await a.send("ping");
    assert.equal((await b.recv(100)).toString(), "ping");
    await b.send("pong");
    assert.equal((await a.recv(100)).toString(), "pong");
  });
});
