import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AF_INET, SOCK_DGRAM } from "../core/constants.ts";
import { socket } from "../socket/socket.ts";
import { DatagramRequestHandler } from "./datagram-request-handler.ts";
import { UDPServer, UnixDatagramServer } from "./udp-server.ts";

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
