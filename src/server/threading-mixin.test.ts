/**
 * ThreadingMixIn, the Threading servers, and the options Python's mixin is known for
 * (`daemonThreads`, `blockOnClose`), after CPython's Lib/test/test_socketserver.py.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { deferred } from "../../test/helpers/deferred.ts";
import { tempDir, until } from "../../test/helpers/net.ts";
import { errorOutputFrom, listening, portOf, ROOT, start } from "../../test/helpers/proc.ts";
import type { Address } from "../core/address.ts";
import { AF_INET, AF_UNIX, SHUT_WR, SOCK_DGRAM, SOCK_STREAM } from "../core/constants.ts";
import { hasNative, nativeMissingReason } from "../native/index.ts";
import { createConnection } from "../socket/create-connection.ts";
import { type Socket, socket } from "../socket/socket.ts";
import { BaseRequestHandler } from "./base-request-handler.ts";
import type { BaseServer } from "./base-server.ts";
import { DatagramRequestHandler } from "./datagram-request-handler.ts";
import { StreamRequestHandler } from "./stream-request-handler.ts";
import { TCPServer } from "./tcp-server.ts";
import { ThreadingMixIn } from "./threading-mixin.ts";
import { ThreadingTCPServer } from "./threading-tcp-server.ts";
import { ThreadingUDPServer } from "./threading-udp-server.ts";
import { ThreadingUnixDatagramServer } from "./threading-unix-datagram-server.ts";
import { ThreadingUnixStreamServer } from "./threading-unix-stream-server.ts";
import { type DatagramRequest, UDPServer } from "./udp-server.ts";

const TEST_STR = "hello world\n";

/** Reads until end of stream. */
async function readAll(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let d = await s.recv(65536); d.length > 0; d = await s.recv(65536)) parts.push(d);
  return Buffer.concat(parts);
}

/** CPython's `MyHandler`, on a stream: echoes one line. */
class StreamLine extends StreamRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.readline());
  }
}

/** CPython's `MyHandler`, on datagrams: echoes one line. */
class DatagramLine extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.readline());
  }
}

async function streamExamine(family: number, address: Address): Promise<void> {
  await using s = socket(family, SOCK_STREAM);
  s.settimeout(10);
  await s.connect(address);
  await s.sendall(TEST_STR);
  let buf = Buffer.alloc(0);
  for (let d = await s.recv(100); d.length > 0 && !buf.includes("\n"); d = await s.recv(100)) {
    buf = Buffer.concat([buf, d]);
    if (buf.includes("\n")) break;
  }
  assert.equal(buf.toString(), TEST_STR);
}

async function datagramExamine(family: number, address: Address, dir: string): Promise<void> {
  await using s = socket(family, SOCK_DGRAM);
  s.settimeout(10);
  // A Unix datagram client binds a path of its own to get a reply, as in CPython.
  if (family === AF_UNIX) await s.bind(join(dir, `client-${Math.random()}.sock`));
  await s.sendto(TEST_STR, address);
  assert.equal((await s.recvfrom(100))[0].toString(), TEST_STR);
}

interface Serving {
  serverAddress: unknown;
  socket: Socket;
  serveForever(): Promise<void>;
  shutdown(): Promise<void>;
  close(): Promise<void>;
}

/**
 * CPython's `run_server`: a server on a free address, three clients served one after the
 * other, then `shutdown()`, `close()`, and the socket is released.
 */
async function runServer(
  t: TestContext,
  create: (address: Address) => Promise<Serving>,
  family: number,
  examine: (family: number, address: Address, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await tempDir(t);
  const server = await create(family === AF_UNIX ? join(dir, "server.sock") : ["127.0.0.1", 0]);
  assert.deepEqual(server.serverAddress, server.socket.getsockname());
  assert.ok(server instanceof ThreadingMixIn);
  const serving = server.serveForever();
  for (let i = 0; i < 3; i++) await examine(family, server.serverAddress as Address, dir);
  await server.shutdown();
  await serving;
  await server.close();
  assert.equal(server.socket.closed, true);
}

const unixDatagrams = {
  skip: hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`,
};

describe("SocketServerTest (CPython test_socketserver): the Threading servers", () => {
  it("test_ThreadingTCPServer (SocketServerTest): echoes a line to three clients, then shutdown() and close() release the socket", async (t) => {
    await runServer(t, (a) => ThreadingTCPServer.create(a, StreamLine), AF_INET, streamExamine);
  });

  it("test_ThreadingUDPServer (SocketServerTest): echoes a datagram line to three clients, then shutdown() and close() release the socket", async (t) => {
    await runServer(t, (a) => ThreadingUDPServer.create(a, DatagramLine), AF_INET, datagramExamine);
  });

  it("test_ThreadingUnixStreamServer (SocketServerTest): the same on a Unix stream socket", async (t) => {
    await runServer(
      t,
      (a) => ThreadingUnixStreamServer.create(a, StreamLine),
      AF_UNIX,
      streamExamine,
    );
  });

  it(
    "test_ThreadingUnixDatagramServer (SocketServerTest): the same on a Unix datagram socket (native addon)",
    unixDatagrams,
    async (t) => {
      await runServer(
        t,
        (a) => ThreadingUnixDatagramServer.create(a, DatagramLine),
        AF_UNIX,
        datagramExamine,
      );
    },
  );

  it("test_close_immediately (SocketServerTest): a ThreadingMixIn(TCPServer) server closes at once after create()", async () => {
    class MyServer extends ThreadingMixIn(TCPServer) {}
    const server = await MyServer.create(["127.0.0.1", 0], BaseRequestHandler);
    await server.close();
    assert.equal(server.socket.closed, true);
  });

  it("test_tcpserver_bind_leak (SocketServerTest): 1024 ThreadingTCPServers whose bind fails leave no descriptor open", {
    skip: existsSync("/proc/self/fd") ? false : "no /proc/self/fd to count descriptors",
  }, async () => {
    const before = readdirSync("/proc/self/fd").length;
    for (let i = 0; i < 1024; i++) {
      await assert.rejects(ThreadingTCPServer.create(["127.0.0.1", -1], StreamLine), {
        code: "EINVAL",
      });
    }
    assert.equal(readdirSync("/proc/self/fd").length, before);
  });

  it("test_threads_reaped (MiscTestCase): handleRequest() keeps no finished request", async () => {
    class MyServer extends ThreadingMixIn(TCPServer) {}
    await using server = await MyServer.create(["127.0.0.1", 0], StreamRequestHandler);
    for (let n = 0; n < 10; n++) {
      await using _client = await createConnection(server.serverAddress as [string, number]);
      await server.handleRequest();
      assert.equal(server.activeRequests, 0);
    }
    assert.equal(server.stats.accepted, 10);
  });
});

/** CPython's BaseErrorTestServer with ThreadingMixIn: one request through handleRequest(). */
async function threadingErrorTest(handled: boolean): Promise<{ log: string[]; lines: string[] }> {
  const log: string[] = [];
  const lines: string[] = [];
  class BadHandler extends BaseRequestHandler {
    override async handle(): Promise<void> {
      log.push("Handler called");
      throw new Error("Test error");
    }
  }
  class ThreadingErrorTestServer extends ThreadingMixIn(TCPServer) {
    override handleError(): void {
      log.push("Error handled");
      // Python's SystemExit is no Exception: handle_error never sees it. The nearest
      // here is a handleError that does not handle the error: it throws.
      if (!handled) throw new Error("not handled");
    }
    override async shutdownRequest(request: Socket): Promise<void> {
      await super.shutdownRequest(request);
      log.push("Request shut down");
    }
  }
  const server = await ThreadingErrorTestServer.create(["127.0.0.1", 0], BadHandler, {
    log: (line) => lines.push(line),
  });
  try {
    for (let i = 0; i < 2; i++) {
      await using c = await createConnection(server.serverAddress as [string, number]);
      await server.handleRequest();
      assert.equal((await readAll(c)).length, 0, "the request was shut down");
    }
  } finally {
    await server.close();
  }
  return { log, lines };
}

describe("ErrorHandlerTest (CPython test_socketserver), with ThreadingMixIn", () => {
  it("test_threading_handled (ErrorHandlerTest): a handler's error goes to handleError, the request is shut down, and the server serves the next", async () => {
    const { log, lines } = await threadingErrorTest(true);
    const once = ["Handler called", "Error handled", "Request shut down"];
    assert.deepEqual(log, [...once, ...once]);
    assert.deepEqual(lines, []);
  });

  it("test_threading_not_handled (ErrorHandlerTest): an error handleError does not handle is logged in one line, the request is still shut down, and the server serves the next", async () => {
    const { log, lines } = await threadingErrorTest(false);
    const once = ["Handler called", "Error handled", "Request shut down"];
    assert.deepEqual(log, [...once, ...once]);
    assert.equal(lines.length, 2);
    assert.match(lines[0] as string, /Test error.*not handled/);
  });
});

describe("ThreadingMixIn", () => {
  it("ports class MyServer(ThreadingMixIn, TCPServer): create() works on the class, its servers are instanceof ThreadingMixIn and TCPServer, and a field sets daemonThreads as Python's class attribute does", async () => {
    // Python: class MyServer(ThreadingMixIn, TCPServer): daemon_threads = True
    class MyServer extends ThreadingMixIn(TCPServer) {
      override daemonThreads = true;
    }
    await using server = await MyServer.create(["127.0.0.1", 0], StreamLine);
    assert.ok(server instanceof MyServer);
    assert.ok(server instanceof TCPServer);
    assert.ok(server instanceof ThreadingMixIn);
    assert.equal(server.daemonThreads, true);
    assert.equal(server.blockOnClose, true);
    assert.ok(!(new TCPServer(["127.0.0.1", 0], StreamLine) instanceof ThreadingMixIn));
    assert.equal(ThreadingMixIn(UDPServer).name, "ThreadingUDPServer");
    void server.serveForever();
    await streamExamine(AF_INET, server.serverAddress as Address);
    await server.shutdown();
  });

  it("the Threading servers default to Python's options: daemonThreads false, blockOnClose true", () => {
    const server = new ThreadingUDPServer(["127.0.0.1", 0], DatagramLine);
    assert.equal(server.daemonThreads, false);
    assert.equal(server.blockOnClose, true);
    const set = new ThreadingTCPServer(["127.0.0.1", 0], StreamLine, {
      daemonThreads: true,
      blockOnClose: false,
    });
    assert.equal(set.daemonThreads, true);
    assert.equal(set.blockOnClose, false);
  });
});

/** A handler that says it started, then waits for the test's gate, then replies "done". */
function gated() {
  const { promise: gate, resolve: release } = deferred();
  const { promise: running, resolve: started } = deferred();
  class Gated extends BaseRequestHandler {
    override async handle(): Promise<void> {
      started();
      await gate;
      await this.request.sendall("done\n");
    }
  }
  return { Gated, release, running };
}

/** Resolves once the server's listening socket is closed: a connection is refused. */
async function refused(address: [string, number]): Promise<void> {
  await assert.rejects(createConnection(address), { code: "ECONNREFUSED" });
}

describe("blockOnClose (Python's ThreadingMixIn.block_on_close)", () => {
  it("true, the default: close() waits for a running handler (gracePeriod Infinity: as long as it runs, as Python)", async () => {
    const { Gated, release, running } = gated();
    const server = await ThreadingTCPServer.create(["127.0.0.1", 0], Gated, {
      gracePeriod: Number.POSITIVE_INFINITY,
    });
    const address = server.serverAddress as [string, number];
    void server.serveForever();
    await using c = await createConnection(address);
    await running;
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    // Past this point a close() that did not wait would have resolved.
    await refused(address);
    assert.equal(closed, false, "close() is still waiting for the handler");
    release();
    await closing;
    assert.equal(server.activeRequests, 0);
    assert.equal((await readAll(c)).toString(), "done\n", "the handler finished its reply");
  });

  it("true: close() closes the connection of a handler still running when gracePeriod ends", async () => {
    class Stuck extends BaseRequestHandler {
      override async handle(): Promise<void> {
        await this.request.recv(1); // the client never sends
      }
    }
    const lines: string[] = [];
    const server = await ThreadingTCPServer.create(["127.0.0.1", 0], Stuck, {
      gracePeriod: 0.2,
      log: (line) => lines.push(line),
    });
    void server.serveForever();
    await using c = await createConnection(server.serverAddress as [string, number]);
    await until(() => server.activeRequests === 1, "the handler to run");
    await server.close();
    assert.equal(server.activeRequests, 0);
    assert.equal((await readAll(c)).length, 0);
    assert.deepEqual(lines, [], "a handler cut by the server is not an error");
  });

  it("false: shutdown() and close() return while a handler runs, which finishes on its own, its connection open", async () => {
    const { Gated, release, running } = gated();
    const server = await ThreadingTCPServer.create(["127.0.0.1", 0], Gated, {
      blockOnClose: false,
    });
    const serving = server.serveForever();
    await using c = await createConnection(server.serverAddress as [string, number]);
    await running;
    await server.shutdown();
    await serving;
    await server.close();
    assert.equal(server.socket.closed, true);
    assert.equal(server.activeRequests, 1, "the handler still runs");
    release();
    assert.equal((await readAll(c)).toString(), "done\n");
    await until(() => server.activeRequests === 0, "the handler to end");
  });

  it("false, UDP: a handler replying after close() finds the socket closed, which is not reported as an error", async () => {
    const { promise: gate, resolve: release } = deferred();
    const { promise: running, resolve: started } = deferred();
    const { promise: failed, resolve: fail } = deferred<unknown>();
    class Late extends BaseRequestHandler<DatagramRequest> {
      override async handle(): Promise<void> {
        started();
        await gate;
        try {
          await this.request[1].sendto("late", this.clientAddress as [string, number]);
        } catch (err) {
          fail(err);
          throw err;
        }
      }
    }
    const lines: string[] = [];
    const server = await ThreadingUDPServer.create(["127.0.0.1", 0], Late, {
      blockOnClose: false,
      log: (line) => lines.push(line),
    });
    void server.serveForever();
    await using c = socket(AF_INET, SOCK_DGRAM);
    await c.sendto("go", server.serverAddress as [string, number]);
    await running;
    await server.close();
    release();
    assert.equal(((await failed) as { code?: string }).code, "EBADF");
    await until(() => server.activeRequests === 0, "the handler to end");
    assert.deepEqual(lines, []);
    assert.equal(server.stats.errors, 0);
  });
});

describe("daemonThreads (Python's ThreadingMixIn.daemon_threads)", () => {
  it("shutdown() and close() neither wait for a daemon handler nor cut it, though blockOnClose is true", async () => {
    const { Gated, release, running } = gated();
    const server = await ThreadingTCPServer.create(["127.0.0.1", 0], Gated, {
      daemonThreads: true,
      gracePeriod: 0,
    });
    const serving = server.serveForever();
    await using c = await createConnection(server.serverAddress as [string, number]);
    await running;
    await server.shutdown();
    await serving;
    await server.close();
    assert.equal(server.activeRequests, 1, "the daemon handler still runs");
    release();
    assert.equal((await readAll(c)).toString(), "done\n");
    await until(() => server.activeRequests === 0, "the handler to end");
  });

  it("a request taken in while daemonThreads is false is waited for, even if it is set later", async () => {
    const { Gated, release, running } = gated();
    const server: BaseServer<Socket> = await ThreadingTCPServer.create(["127.0.0.1", 0], Gated, {
      gracePeriod: Number.POSITIVE_INFINITY,
    });
    const address = server.serverAddress as [string, number];
    void server.serveForever();
    await using c = await createConnection(address);
    await running;
    server.daemonThreads = true;
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await refused(address);
    assert.equal(closed, false);
    release();
    await closing;
    assert.equal((await readAll(c)).toString(), "done\n");
  });

  for (const daemon of [true, false]) {
    it(daemon
      ? "a running daemon handler, waiting with a timeout, does not keep the process alive once the server is closed"
      : "a running handler that is not a daemon keeps the process alive after close() until it is done", {
      timeout: 30_000,
    }, async (t) => {
      const program = start(process.execPath, [
        "--import",
        "tsx",
        `${ROOT}test/fixtures/daemon-server.ts`,
        daemon ? "daemon" : "",
      ]);
      t.after(() => program.stop());
      const port = Number(portOf(await listening(program)));
      await using c = await createConnection(["127.0.0.1", port], { timeout: 20 });
      const reader = c.makefile("r");
      assert.equal((await reader.readline()).toString(), "started\n");
      await errorOutputFrom(program, (err) => err.includes("closed\n"));
      if (daemon) {
        assert.equal(await program.exited, 0, program.stderr());
        assert.equal((await reader.read()).length, 0, "the handler ended with the process");
      } else {
        // The process is alive: its handler reads this line and answers.
        await c.sendall("bye\n");
        assert.equal((await reader.readline()).toString(), "done\n");
        c.shutdown(SHUT_WR);
        assert.equal(await program.exited, 0, program.stderr());
      }
    });
  }
});
