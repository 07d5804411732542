import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { closing, ipv6LoopbackWorks, portOf, rejection, tempDir } from "../../test/helpers/net.ts";
import {
  AddressInUseError,
  AF_INET,
  AF_INET6,
  AF_UNIX,
  createConnection,
  createServer,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOL_SOCKET,
  SocketError,
  socket,
  UnsupportedError,
} from "../index.ts";
import { hasNative } from "../native/index.ts";

const T = { timeout: 10_000 };

function nodeHasReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

describe("createServer", () => {
  it("binds and listens on AF_INET by default, with SO_REUSEADDR", T, async (t) => {
    const server = closing(t, await createServer(["127.0.0.1", 0]));
    assert.equal(server.family, AF_INET);
    const [host, port] = server.getsockname() as [string, number];
    assert.equal(host, "127.0.0.1");
    assert.ok(port > 0);
    assert.equal(server.getsockopt(SOL_SOCKET, SO_REUSEADDR), 1);
    const client = closing(t, await createConnection(["127.0.0.1", port]));
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.deepEqual(addr, client.getsockname());
  });

  it('resolves "localhost" for AF_INET to 127.0.0.1', T, async (t) => {
    const server = closing(t, await createServer(["localhost", 0]));
    assert.equal((server.getsockname() as [string, number])[0], "127.0.0.1");
  });

  it("serves accepted connections through async iteration", T, async (t) => {
    const server = closing(t, await createServer(["127.0.0.1", 0]));
    const port = portOf(server.getsockname());
    const serving = (async () => {
      for await (const [conn] of server) {
        await conn.sendall("hi\n");
        await conn.close();
      }
    })();
    const client = closing(t, await createConnection(["127.0.0.1", port]));
    assert.equal((await client.recv(10)).toString(), "hi\n");
    await server.close();
    await serving;
  });

  it("listens on IPv6 only by default for AF_INET6", T, async (t) => {
    if (!(await ipv6LoopbackWorks())) {
      t.skip("::1 cannot be bound here (no IPv6 loopback)");
      return;
    }
    const server = closing(t, await createServer(["::1", 0], { family: AF_INET6 }));
    assert.equal(server.family, AF_INET6);
    const client = closing(t, socket(AF_INET6));
    await client.connect(["::1", portOf(server.getsockname())]);
    const [conn] = await server.accept();
    closing(t, conn);
    // IPv4-mapped addresses need dual-stack: without it the kernel refuses them.
    await rejection(
      createServer(["::ffff:127.0.0.1", 0], { family: AF_INET6 }),
      SocketError,
      "EINVAL",
    );
  });

  it("with dualstackIpv6 accepts IPv4 clients on an AF_INET6 socket", T, async (t) => {
    if (!(await ipv6LoopbackWorks())) {
      t.skip("::1 cannot be bound here (no IPv6 loopback)");
      return;
    }
    const server = closing(
      t,
      await createServer(["::ffff:127.0.0.1", 0], { family: AF_INET6, dualstackIpv6: true }),
    );
    const port = portOf(server.getsockname());
    const client = closing(t, socket(AF_INET));
    await client.connect(["127.0.0.1", port]);
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.deepEqual(addr, ["::ffff:127.0.0.1", portOf(client.getsockname()), 0, 0]);
    await conn.sendall("mapped");
    assert.equal((await client.recv(10)).toString(), "mapped");
  });

  it("makes an AF_UNIX server from a path", T, async (t) => {
    const path = join(await tempDir(t), "srv.sock");
    const server = closing(t, await createServer(path));
    assert.equal(server.family, AF_UNIX);
    assert.equal(server.getsockname(), path);
    const client = closing(t, await createConnection(path));
    const [conn] = await server.accept();
    closing(t, conn);
    await client.sendall("u");
    assert.equal((await conn.recv(1)).toString(), "u");
  });

  it("raises AddressInUseError for a port in use", T, async (t) => {
    const first = closing(t, await createServer(["127.0.0.1", 0]));
    await rejection(
      createServer(["127.0.0.1", portOf(first.getsockname())]),
      AddressInUseError,
      "EADDRINUSE",
    );
  });

  it("reusePort lets two servers share a port, or says what it needs", T, async (t) => {
    if (!nodeHasReusePort() && !hasNative()) {
      await rejection(
        createServer(["127.0.0.1", 0], { reusePort: true }),
        UnsupportedError,
        "ERR_UNSUPPORTED",
      );
      return;
    }
    const first = closing(t, await createServer(["127.0.0.1", 0], { reusePort: true }));
    const port = portOf(first.getsockname());
    const second = closing(t, await createServer(["127.0.0.1", port], { reusePort: true }));
    assert.equal(portOf(second.getsockname()), port);
    // testGetSockOpt-style (test_socket.GeneralModuleTests): the option reads as it was set.
    assert.equal(first.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
    const plain = closing(t, await createServer(["127.0.0.1", 0]));
    assert.equal(plain.getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
  });
});
