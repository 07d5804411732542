import assert from "node:assert/strict";
import dnsPromises, { lookup } from "node:dns/promises";
import { syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import { describe, it, mock, type TestContext } from "node:test";
import {
  closedPort,
  closing,
  fullBacklog,
  ipv6LoopbackWorks,
  listener,
  recvAll,
  rejection,
  tempDir,
} from "../../test/helpers/net.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  ConnectionRefusedError,
  createConnection,
  GaiError,
  getaddrinfo,
  SHUT_WR,
  SOCK_STREAM,
  Socket,
  SocketError,
  socket,
  TimeoutError,
} from "../index.ts";

const T = { timeout: 15_000 };

/** Makes the resolver answer every name with `addresses`, in that order, for this test. */
function stubResolver(t: TestContext, addresses: Array<{ address: string; family: 4 | 6 }>): void {
  const stub = mock.method(dnsPromises, "lookup", async () => addresses);
  // getaddrinfo imports `lookup` by name: refresh the ESM bindings of the builtin.
  syncBuiltinESMExports();
  t.after(() => {
    stub.mock.restore();
    syncBuiltinESMExports();
  });
}

describe("createConnection", () => {
  it("returns a connected stream socket", T, async (t) => {
    const { server, port } = await listener(t);
    const s = closing(t, await createConnection(["127.0.0.1", port]));
    assert.ok(s instanceof Socket);
    assert.equal(s.family, AF_INET);
    assert.equal(s.type, SOCK_STREAM);
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.deepEqual(addr, s.getsockname());
    await s.sendall("hi");
    s.shutdown(SHUT_WR);
    assert.equal((await recvAll(conn)).toString(), "hi");
  });

  it("tries every address the name resolves to until one connects", T, async (t) => {
    const addresses = await lookup("localhost", { all: true, verbatim: true });
    if (addresses.length < 2) {
      t.skip(
        `"localhost" resolves to one address here (${addresses.map((a) => a.address).join(", ")}), so there is no second one to fall back to`,
      );
      return;
    }
    const last = addresses[addresses.length - 1] as { address: string; family: number };
    if (last.family === 6 && !(await ipv6LoopbackWorks())) {
      t.skip("the last address of localhost is IPv6 and ::1 cannot be bound here");
      return;
    }
    const { server, port } = await listener(t, {
      family: last.family === 6 ? AF_INET6 : AF_INET,
      host: last.address,
    });
    const s = closing(t, await createConnection(["localhost", port], { timeout: 5 }));
    assert.equal(s.family, last.family === 6 ? AF_INET6 : AF_INET);
    const [conn] = await server.accept();
    closing(t, conn);
  });

  it("falls back to the next address when the first one fails (resolver stubbed)", T, async (t) => {
    const { server, port } = await listener(t);
    stubResolver(t, [
      { address: "::1", family: 6 },
      { address: "127.0.0.1", family: 4 },
    ]);
    const s = closing(t, await createConnection(["service.test", port]));
    assert.equal(s.family, AF_INET);
    assert.deepEqual(s.getpeername(), ["127.0.0.1", port]);
    const [conn] = await server.accept();
    closing(t, conn);
  });

  it(
    "test_create_connection (NetworkConnectionNoServer): raises the last attempt's error, as Python (resolver stubbed)",
    T,
    async (t) => {
      const port = await closedPort();
      stubResolver(t, [
        { address: "::1", family: 6 },
        { address: "127.0.0.1", family: 4 },
      ]);
      const err = await rejection(
        createConnection(["service.test", port]),
        ConnectionRefusedError,
        "ECONNREFUSED",
      );
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    },
  );

  it(
    "test_create_connection_all_errors (NetworkConnectionNoServer): allErrors gives every attempt's error in order (resolver stubbed)",
    T,
    async (t) => {
      const port = await closedPort();
      stubResolver(t, [
        { address: "::1", family: 6 },
        { address: "127.0.0.1", family: 4 },
      ]);
      let caught: unknown;
      await assert.rejects(createConnection(["service.test", port], { allErrors: true }), (e) => {
        caught = e;
        return true;
      });
      assert.ok(caught instanceof AggregateError, String(caught));
      assert.equal(caught.errors.length, 2);
      assert.ok(caught.errors[0] instanceof SocketError);
      assert.match(caught.errors[0].message, new RegExp(`\\[::1\\]:${port}`));
      assert.ok(caught.errors[1] instanceof ConnectionRefusedError);
      assert.match(caught.message, new RegExp(`service\\.test:${port}`));
    },
  );

  it(
    "test_create_connection_all_errors (NetworkConnectionNoServer): one error per address localhost has",
    T,
    async () => {
      const port = await closedPort();
      let caught: unknown;
      await assert.rejects(createConnection(["localhost", port], { allErrors: true }), (e) => {
        caught = e;
        return true;
      });
      assert.ok(caught instanceof AggregateError);
      for (const e of caught.errors) assert.ok(e instanceof SocketError);
      const addresses = await getaddrinfo("localhost", port, { type: SOCK_STREAM });
      assert.equal(caught.errors.length, addresses.length);
    },
  );

  it("with allErrors, still returns the first socket that connects", T, async (t) => {
    const { server, port } = await listener(t);
    const s = closing(t, await createConnection(["127.0.0.1", port], { allErrors: true }));
    assert.equal(s.family, AF_INET);
    closing(t, (await server.accept())[0]);
  });

  it(
    "with allErrors, a name that does not resolve is still a GaiError, as in Python",
    T,
    async () => {
      await rejection(
        createConnection(["bad host name!", 80], { allErrors: true }),
        GaiError,
        "EAI_NONAME",
      );
    },
  );

  it("with allErrors, a Unix path that fails is an AggregateError of one", T, async (t) => {
    const path = join(await tempDir(t), "nobody.sock");
    let caught: unknown;
    await assert.rejects(createConnection(path, { allErrors: true }), (e) => {
      caught = e;
      return true;
    });
    assert.ok(caught instanceof AggregateError);
    assert.equal(caught.errors.length, 1);
    assert.ok(caught.errors[0] instanceof SocketError);
    assert.equal(caught.errors[0].code, "ENOENT");
  });

  it("applies the timeout to connecting (TimeoutError) and keeps it on the socket", {
    timeout: 30_000,
  }, async (t) => {
    const { port } = await listener(t);
    const s = closing(t, await createConnection(["127.0.0.1", port], { timeout: 2.5 }));
    assert.equal(s.gettimeout(), 2.5);
    const full = await fullBacklog(t);
    if ("skip" in full) {
      t.skip(full.skip);
      return;
    }
    const started = performance.now();
    await rejection(
      createConnection(["127.0.0.1", full.port], { timeout: 0.5 }),
      TimeoutError,
      "ETIMEDOUT",
    );
    const took = performance.now() - started;
    assert.ok(took >= 490 && took < 5000, `gave up after ${took} ms`);
  });

  it("raises ConnectionRefusedError when nothing listens", T, async () => {
    const port = await closedPort();
    const err = await rejection(
      createConnection(["127.0.0.1", port]),
      ConnectionRefusedError,
      "ECONNREFUSED",
    );
    assert.match(err.message, new RegExp(`connect to 127\\.0\\.0\\.1:${port}`));
  });

  it("raises GaiError when the name does not resolve", T, async () => {
    await rejection(createConnection(["bad host name!", 80]), GaiError, "EAI_NONAME");
  });

  it("connects from the sourceAddress given", T, async (t) => {
    const { server, port } = await listener(t);
    const source = await closedPort();
    const s = closing(
      t,
      await createConnection(["127.0.0.1", port], { sourceAddress: ["127.0.0.1", source] }),
    );
    assert.deepEqual(s.getsockname(), ["127.0.0.1", source]);
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.deepEqual(addr, ["127.0.0.1", source]);
  });

  it("connects to a Unix socket when given a path", T, async (t) => {
    const path = join(await tempDir(t), "c.sock");
    const server = closing(t, socket(AF_UNIX, SOCK_STREAM));
    await server.bind(path);
    server.listen();
    const s = closing(t, await createConnection(path));
    assert.equal(s.family, AF_UNIX);
    assert.equal(s.getpeername(), path);
    const [conn] = await server.accept();
    closing(t, conn);
    await conn.sendall("unix");
    assert.equal((await s.recv(10)).toString(), "unix");
  });
});
