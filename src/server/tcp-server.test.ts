import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { deferred } from "../../test/helpers/deferred.ts";
import type { SocketAddress } from "../core/address.ts";
import { AF_UNIX, SHUT_WR, SOCK_STREAM } from "../core/constants.ts";
import { createConnection } from "../socket/create-connection.ts";
import { type Socket, socket } from "../socket/socket.ts";
import { BaseRequestHandler } from "./base-request-handler.ts";
import { StreamRequestHandler } from "./stream-request-handler.ts";
import { TCPServer } from "./tcp-server.ts";
import { UnixStreamServer } from "./unix-stream-server.ts";

/** Reads until end of stream. */
async function readAll(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = await s.recv(65536);
    if (chunk.length === 0) return Buffer.concat(parts);
    parts.push(chunk);
  }
}

class Upper extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase());
  }
}

function connectTo(server: TCPServer): Promise<Socket> {
  return createConnection(server.serverAddress as [string, number]);
}

describe("TCPServer", () => {
  it("binds port 0, reports the chosen port in serverAddress and serves a StreamRequestHandler", async () => {
    await using server = await TCPServer.create(["127.0.0.1", 0], Upper);
    const [host, port] = server.serverAddress as [string, number];
    assert.equal(host, "127.0.0.1");
    assert.ok(port > 0);
    const serving = server.serveForever();
    await using c = await connectTo(server);
    await c.sendall("hello\nworld\n");
    c.shutdown(SHUT_WR);
    assert.equal((await readAll(c)).toString(), "HELLO\nWORLD\n");
    await server.shutdown();
    await serving;
  });

  it("serves many clients at once", async () => {
    await using server = await TCPServer.create(["127.0.0.1", 0], Upper);
    void server.serveForever();
    const clients = await Promise.all(Array.from({ length: 100 }, () => connectTo(server)));
    // Every client is connected before any sends: all 100 handlers run concurrently.
    const replies = await Promise.all(
      clients.map(async (c, i) => {
        await c.sendall(`client ${i}\n`);
        c.shutdown(SHUT_WR);
        const reply = (await readAll(c)).toString();
        await c.close();
        return reply;
      }),
    );
    assert.deepEqual(
      replies,
      clients.map((_, i) => `CLIENT ${i}\n`),
    );
    await server.shutdown();
  });

  it("runs finish() even when handle() throws, logs one line, and keeps serving", async () => {
    const events: string[] = [];
    const log: string[] = [];
    class Failing extends BaseRequestHandler {
      override async handle(): Promise<void> {
        events.push("handle");
        throw new Error("boom");
      }
      override async finish(): Promise<void> {
        events.push("finish");
      }
    }
    await using server = await TCPServer.create(["127.0.0.1", 0], Failing, {
      log: (l) => log.push(l),
    });
    void server.serveForever();
    for (let i = 0; i < 2; i++) {
      await using c = await connectTo(server);
      assert.equal((await readAll(c)).length, 0, "the connection is closed after the failure");
    }
    assert.deepEqual(events, ["handle", "finish", "handle", "finish"]);
    assert.equal(log.length, 2);
    assert.match(log[0] as string, /boom/);
    await server.shutdown();
  });

  it("closes a connection that verifyRequest rejects, without running the handler", async () => {
    let handled = 0;
    class Counting extends BaseRequestHandler {
      override async handle(): Promise<void> {
        handled++;
      }
    }
    class Picky extends TCPServer {
      override verifyRequest(): boolean {
        return false;
      }
    }
    await using server = await Picky.create(["127.0.0.1", 0], Counting);
    void server.serveForever();
    await using c = await connectTo(server);
    assert.equal((await readAll(c)).length, 0);
    assert.equal(handled, 0);
    await server.shutdown();
  });

  it("shutdown() from inside a handler stops the server instead of deadlocking", async () => {
    class Stopper extends BaseRequestHandler {
      override async handle(): Promise<void> {
        await this.server.shutdown();
        await this.request.sendall("bye\n");
      }
    }
    const server = await TCPServer.create(["127.0.0.1", 0], Stopper);
    const serving = server.serveForever();
    const c = await connectTo(server);
    assert.equal((await readAll(c)).toString(), "bye\n", "the handler finished its reply");
    await serving;
    await c.close();
    await assert.rejects(connectTo(server), { code: "ECONNREFUSED" });
  });

  it("gives handlers the server's own fields and methods through this.server", async () => {
    class Counting extends TCPServer {
      #served = 0;
      greeting = "hello";
      bump(): number {
        return ++this.#served;
      }
    }
    class Greeter extends BaseRequestHandler {
      override async handle(): Promise<void> {
        const server = this.server as Counting;
        assert.ok(server instanceof Counting);
        await this.request.sendall(`${server.greeting} #${server.bump()}`);
      }
    }
    await using server = await Counting.create(["127.0.0.1", 0], Greeter);
    void server.serveForever();
    for (const n of [1, 2]) {
      await using c = await connectTo(server);
      assert.equal((await readAll(c)).toString(), `hello #${n}`);
    }
    assert.equal(server.bump(), 3);
    await server.shutdown();
  });

  it("lets a running handler finish its reply during shutdown", async () => {
    const { promise: gate, resolve: release } = deferred();
    const { promise: running, resolve: started } = deferred();
    class Slow extends BaseRequestHandler {
      override async handle(): Promise<void> {
        started();
        await gate;
        await this.request.sendall("done\n");
      }
    }
    const server = await TCPServer.create(["127.0.0.1", 0], Slow, { gracePeriod: 10 });
    const serving = server.serveForever();
    const c = await connectTo(server);
    await running;
    const stopping = server.shutdown();
    release();
    await stopping;
    await serving;
    assert.equal((await readAll(c)).toString(), "done\n");
    await c.close();
  });

  it("closes handlers still running when the grace period ends", async () => {
    class Stuck extends BaseRequestHandler {
      override async handle(): Promise<void> {
        await this.request.recv(1); // the client never sends
      }
    }
    const log: string[] = [];
    const server = await TCPServer.create(["127.0.0.1", 0], Stuck, {
      gracePeriod: 0.2,
      log: (l) => log.push(l),
    });
    const serving = server.serveForever();
    const c = await connectTo(server);
    while (server.activeRequests === 0) await new Promise((r) => setImmediate(r));
    await server.shutdown();
    await serving;
    assert.equal(server.activeRequests, 0);
    assert.equal((await readAll(c)).length, 0);
    await c.close();
  });

  it("closes connections beyond maxConnections at once and counts them", async () => {
    const { promise: gate, resolve: release } = deferred();
    class Holding extends BaseRequestHandler {
      override async handle(): Promise<void> {
        await gate;
        await this.request.sendall("served\n");
      }
    }
    await using server = await TCPServer.create(["127.0.0.1", 0], Holding, { maxConnections: 2 });
    void server.serveForever();
    const first = [await connectTo(server), await connectTo(server)];
    while (server.activeRequests < 2) await new Promise((r) => setImmediate(r));
    const extra = await connectTo(server);
    assert.equal((await readAll(extra)).length, 0, "the extra connection is closed");
    assert.equal(server.stats.rejected, 1);
    release();
    for (const c of first) {
      assert.equal((await readAll(c)).toString(), "served\n");
      await c.close();
    }
    await extra.close();
    await server.shutdown();
  });

  it("closes a silent connection after idleTimeout", async () => {
    class Reader extends StreamRequestHandler {
      override async handle(): Promise<void> {
        await this.rfile.readline();
      }
    }
    const log: string[] = [];
    await using server = await TCPServer.create(["127.0.0.1", 0], Reader, {
      idleTimeout: 0.2,
      log: (l) => log.push(l),
    });
    void server.serveForever();
    await using c = await connectTo(server);
    assert.equal((await readAll(c)).length, 0);
    assert.match(log[0] ?? "", /idle for 0.2 s/);
    await server.shutdown();
  });

  it("passes the client's address to the handler", async () => {
    let seen: SocketAddress | undefined;
    class Recorder extends BaseRequestHandler {
      override async handle(): Promise<void> {
        seen = this.clientAddress;
      }
    }
    await using server = await TCPServer.create(["127.0.0.1", 0], Recorder);
    void server.serveForever();
    await using c = await connectTo(server);
    await readAll(c);
    assert.deepEqual(seen, c.getsockname());
    await server.shutdown();
  });
});

/** How many TCP handles (sockets and listeners) this process holds. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP")).length;
}

describe("TCPServer robustness", () => {
  it("a handleError override that throws is logged and the server keeps serving", async () => {
    class Failing extends BaseRequestHandler {
      override async handle(): Promise<void> {
        throw new Error("handler failed");
      }
    }
    const log: string[] = [];
    class Fragile extends TCPServer {
      override handleError(): void {
        throw new Error("reporter failed");
      }
    }
    await using server = await Fragile.create(["127.0.0.1", 0], Failing, {
      log: (l) => log.push(l),
    });
    void server.serveForever();
    for (let i = 0; i < 2; i++) {
      await using c = await connectTo(server);
      assert.equal((await readAll(c)).length, 0);
    }
    assert.equal(log.length, 2);
    assert.match(log[0] as string, /reporter failed/);
    await server.shutdown();
  });

  it("idleTimeout does not close a client whose data waits because the handler is slow", async () => {
    const { promise: gate, resolve: release } = deferred();
    let received = 0;
    class Slow extends BaseRequestHandler {
      override async handle(): Promise<void> {
        await gate; // not reading: the socket pauses once 64 KiB are buffered
        for (
          let d = await this.request.recv(65536);
          d.length > 0;
          d = await this.request.recv(65536)
        ) {
          received += d.length;
        }
        await this.request.sendall(`${received}`);
      }
    }
    await using server = await TCPServer.create(["127.0.0.1", 0], Slow, { idleTimeout: 0.5 });
    void server.serveForever();
    await using c = await connectTo(server);
    const total = 8 * 1024 * 1024;
    const sending = c.sendall(Buffer.alloc(total)).then(() => c.shutdown(SHUT_WR));
    // Long enough for several idle periods to pass while the server holds the client back.
    await new Promise((r) => setTimeout(r, 1500));
    release();
    await sending;
    assert.equal((await readAll(c)).toString(), String(total));
  });
});

describe("TCPServer.handleRequest", () => {
  it("handles one request to the end, or calls handleTimeout when none comes within timeout", async () => {
    let timeouts = 0;
    class Patient extends TCPServer {
      override async handleTimeout(): Promise<void> {
        timeouts++;
      }
    }
    class Hello extends BaseRequestHandler {
      override async handle(): Promise<void> {
        await this.request.sendall("one request");
      }
    }
    await using server = await Patient.create(["127.0.0.1", 0], Hello, { timeout: 0.1 });
    await server.handleRequest();
    assert.equal(timeouts, 1);
    const client = connectTo(server);
    await server.handleRequest();
    await using c = await client;
    assert.equal((await readAll(c)).toString(), "one request");
    assert.equal(timeouts, 1);
    assert.equal(server.stats.accepted, 1);
  });
});

describe("TCPServer limits leave nothing behind", () => {
  it("maxConnections and idleTimeout close silent and surplus clients, and no handle leaks", async () => {
    const before = tcpHandles();
    class Silent extends StreamRequestHandler {
      override async handle(): Promise<void> {
        await this.rfile.readline(); // the clients never send: only idleTimeout ends this
      }
    }
    const log: string[] = [];
    const server = await TCPServer.create(["127.0.0.1", 0], Silent, {
      maxConnections: 5,
      idleTimeout: 0.3,
      log: (l) => log.push(l),
    });
    const serving = server.serveForever();
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectTo(server)));
    // Every client is closed by the server: 15 at once (over the limit), 5 when idle.
    for (const c of clients) assert.equal((await readAll(c)).length, 0);
    await Promise.all(clients.map((c) => c.close()));
    const { accepted, rejected, errors } = server.stats;
    assert.equal(rejected, 15);
    assert.equal(accepted, 5);
    assert.equal(errors, 5, "each idle connection is reported once");
    assert.ok(log.every((l) => /idle for 0.3 s/.test(l)));
    await server.shutdown();
    await serving;
    // Handles are released asynchronously; wait (bounded) for the count to come back.
    for (let i = 0; i < 1000 && tcpHandles() > before; i++)
      await new Promise((r) => setImmediate(r));
    assert.equal(tcpHandles(), before);
  });
});

describe("UnixStreamServer", () => {
  it("serves a handler on a Unix socket path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "socketkit-server-"));
    try {
      const path = join(dir, "s.sock");
      await using server = await UnixStreamServer.create(path, Upper);
      assert.equal(server.serverAddress, path);
      void server.serveForever();
      await using c = socket(AF_UNIX, SOCK_STREAM);
      await c.connect(path);
      await c.sendall("unix\n");
      c.shutdown(SHUT_WR);
      assert.equal((await readAll(c)).toString(), "UNIX\n");
      await server.shutdown();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
