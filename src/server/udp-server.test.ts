import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deferred } from "../../test/helpers/deferred.ts";
import { AF_INET, SOCK_DGRAM } from "../core/constants.ts";
import { socket } from "../socket/socket.ts";
import { DatagramRequestHandler } from "./datagram-request-handler.ts";
import { UDPServer } from "./udp-server.ts";
import { UnixDatagramServer } from "./unix-datagram-server.ts";

class Upper extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write((await this.rfile.read()).toString().toUpperCase());
  }
}

describe("UDPServer", () => {
  it("gives the handler the whole datagram and sends what it writes back to the sender", async () => {
    await using server = await UDPServer.create(["127.0.0.1", 0], Upper);
    void server.serveForever();
    await using c = socket(AF_INET, SOCK_DGRAM);
    c.settimeout(5);
    await c.sendto("hello datagram", server.serverAddress as [string, number]);
    const [reply, from] = await c.recvfrom(8192);
    assert.equal(reply.toString(), "HELLO DATAGRAM");
    assert.deepEqual(from, server.serverAddress);
    await server.shutdown();
  });

  it("cuts datagrams at maxPacketSize", async () => {
    await using server = await UDPServer.create(["127.0.0.1", 0], Upper, { maxPacketSize: 4 });
    void server.serveForever();
    await using c = socket(AF_INET, SOCK_DGRAM);
    c.settimeout(5);
    await c.sendto("abcdefgh", server.serverAddress as [string, number]);
    assert.equal((await c.recvfrom(100))[0].toString(), "ABCD");
    await server.shutdown();
  });
});

describe("UnixDatagramServer", () => {
  it("raises UnsupportedError without the native addon", () => {
    assert.throws(() => new UnixDatagramServer("/tmp/none.sock", Upper), {
      code: "ERR_UNSUPPORTED",
    });
  });
});

describe("UDPServer under load and shutdown", () => {
  it("shutdown() lets a running handler send its reply before the socket closes", async () => {
    const { promise: gate, resolve: release } = deferred();
    const { promise: running, resolve: started } = deferred();
    class Slow extends DatagramRequestHandler {
      override async handle(): Promise<void> {
        started();
        await gate;
        await this.wfile.write("late reply");
      }
    }
    const server = await UDPServer.create(["127.0.0.1", 0], Slow, { gracePeriod: 10 });
    const serving = server.serveForever();
    await using c = socket(AF_INET, SOCK_DGRAM);
    c.settimeout(5);
    await c.sendto("go", server.serverAddress as [string, number]);
    await running;
    const stopping = server.shutdown();
    release();
    await stopping;
    await serving;
    assert.equal((await c.recvfrom(100))[0].toString(), "late reply");
    await server.close();
  });

  it("handles at most maxConcurrentRequests at once and serves the rest after", async () => {
    const { promise: gate, resolve: release } = deferred();
    let peak = 0;
    class Held extends DatagramRequestHandler {
      override async handle(): Promise<void> {
        peak = Math.max(peak, this.server.activeRequests);
        await gate;
        await this.wfile.write(await this.rfile.read());
      }
    }
    await using server = await UDPServer.create(["127.0.0.1", 0], Held, {
      maxConcurrentRequests: 3,
    });
    void server.serveForever();
    await using c = socket(AF_INET, SOCK_DGRAM);
    c.settimeout(5);
    for (let i = 0; i < 10; i++) await c.sendto(`d${i}`, server.serverAddress as [string, number]);
    while (server.activeRequests < 3) await new Promise((r) => setImmediate(r));
    // The other seven wait in the socket's bounded queue, not as running handlers.
    assert.equal(server.activeRequests, 3);
    release();
    const got = new Set<string>();
    for (let i = 0; i < 10; i++) got.add((await c.recvfrom(100))[0].toString());
    assert.equal(got.size, 10);
    assert.equal(peak, 3);
    await server.shutdown();
  });
});
