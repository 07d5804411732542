import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { closing, listener, thrown } from "../../test/helpers/net.ts";
import {
  AF_INET,
  BlockingIOError,
  createConnection,
  createServer,
  getdefaulttimeout,
  SOCK_STREAM,
  SocketError,
  setdefaulttimeout,
  socket,
  socketpair,
} from "../index.ts";

const T = { timeout: 15_000 };

/** Python's `socket_setdefaulttimeout` context: the default for this test, then null again. */
function withDefault(t: TestContext, seconds: number | null): void {
  setdefaulttimeout(seconds);
  t.after(() => setdefaulttimeout(null));
}

describe("setdefaulttimeout and getdefaulttimeout", () => {
  it("testDefaultTimeout (GeneralModuleTests): new sockets start with the default", T, (t) => {
    assert.equal(getdefaulttimeout(), null);
    const s = closing(t, socket());
    assert.equal(s.gettimeout(), null);

    withDefault(t, 10);
    assert.equal(getdefaulttimeout(), 10);
    assert.equal(closing(t, socket()).gettimeout(), 10);
    // Sockets made before keep theirs.
    assert.equal(s.gettimeout(), null);

    setdefaulttimeout(null);
    assert.equal(getdefaulttimeout(), null);
    assert.equal(closing(t, socket()).gettimeout(), null);

    thrown(() => setdefaulttimeout(-1), SocketError, "EINVAL");
    thrown(() => setdefaulttimeout("spam" as unknown as number), SocketError, "EINVAL");
    thrown(() => setdefaulttimeout(Number.POSITIVE_INFINITY), SocketError, "EINVAL");
    thrown(() => setdefaulttimeout(Number.NaN), SocketError, "EINVAL");
    assert.equal(getdefaulttimeout(), null);
  });

  it(
    "test_SOCK_NONBLOCK (NonblockConstantTest): a default of 0 makes sockets non-blocking",
    T,
    async (t) => {
      withDefault(t, 0);
      const s = closing(t, socket(AF_INET, SOCK_STREAM));
      assert.equal(s.gettimeout(), 0);
      await s.bind(["127.0.0.1", 0]);
      s.listen();
      await assert.rejects(s.accept(), BlockingIOError);
      setdefaulttimeout(2);
      assert.equal(closing(t, socket()).gettimeout(), 2);
    },
  );

  it(
    "testInheritFlagsTimeout (NonBlockingTCPTests): accepted sockets take the default",
    T,
    async (t) => {
      withDefault(t, 20);
      const { server, port } = await listener(t);
      server.settimeout(10);
      const client = closing(t, socket());
      await client.connect(["127.0.0.1", port]);
      const [conn] = await server.accept();
      closing(t, conn);
      assert.equal(conn.gettimeout(), 20);
    },
  );

  it("testInheritFlagsBlocking (NonBlockingTCPTests): not the listener's timeout", T, async (t) => {
    const { server, port } = await listener(t);
    server.settimeout(10);
    const client = closing(t, socket());
    await client.connect(["127.0.0.1", port]);
    const [conn] = await server.accept();
    closing(t, conn);
    assert.equal(conn.gettimeout(), null);
  });

  it(
    "_testTimeoutDefault (NetworkConnectionAttributesTest): createConnection without a timeout takes the default",
    T,
    async (t) => {
      const { server, port } = await listener(t);
      withDefault(t, 42);
      const s = closing(t, await createConnection(["127.0.0.1", port]));
      setdefaulttimeout(null);
      assert.equal(s.gettimeout(), 42);
      closing(t, (await server.accept())[0]);
    },
  );

  it(
    "_testTimeoutNone (NetworkConnectionAttributesTest): timeout null means blocking",
    T,
    async (t) => {
      const { server, port } = await listener(t);
      withDefault(t, 30);
      const s = closing(t, await createConnection(["127.0.0.1", port], { timeout: null }));
      assert.equal(s.gettimeout(), null);
      closing(t, (await server.accept())[0]);
    },
  );

  it(
    "_testTimeoutValueNamed (NetworkConnectionAttributesTest): a timeout given wins",
    T,
    async (t) => {
      const { server, port } = await listener(t);
      withDefault(t, 5);
      const s = closing(t, await createConnection(["127.0.0.1", port], { timeout: 30 }));
      assert.equal(s.gettimeout(), 30);
      closing(t, (await server.accept())[0]);
    },
  );

  it("createServer's socket starts with the default, as Python's create_server", T, async (t) => {
    withDefault(t, 3);
    const server = closing(t, await createServer(["127.0.0.1", 0]));
    assert.equal(server.gettimeout(), 3);
  });

  it("socketpair's sockets start with the default, even a non-blocking one", T, async (t) => {
    withDefault(t, 0);
    const [a, b] = await socketpair();
    closing(t, a);
    closing(t, b);
    assert.equal(a.gettimeout(), 0);
    assert.equal(b.gettimeout(), 0);
    await assert.rejects(a.recv(1), BlockingIOError);
  });
});
