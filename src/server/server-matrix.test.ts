/**
 * CPython's test_socketserver idea: every server class with every handler class that
 * fits it, each running an echo handler on port 0 (or a fresh Unix path).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Address } from "../core/address.ts";
import { AF_INET, AF_UNIX, SHUT_WR, SOCK_DGRAM, SOCK_STREAM } from "../core/constants.ts";
import { type Socket, socket } from "../socket/socket.ts";
import { BaseRequestHandler } from "./base-request-handler.ts";
import { DatagramRequestHandler } from "./datagram-request-handler.ts";
import { StreamRequestHandler } from "./stream-request-handler.ts";
import { TCPServer } from "./tcp-server.ts";
import { type DatagramRequest, UDPServer } from "./udp-server.ts";
import { UnixStreamServer } from "./unix-stream-server.ts";

const dir = mkdtempSync(join(tmpdir(), "socketkit-matrix-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let paths = 0;

class BaseEcho extends BaseRequestHandler {
  override async handle(): Promise<void> {
    for (
      let data = await this.request.recv(65536);
      data.length > 0;
      data = await this.request.recv(65536)
    ) {
      await this.request.sendall(data);
    }
  }
}

class StreamEcho extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

class BaseDatagramEcho extends BaseRequestHandler<DatagramRequest> {
  override async handle(): Promise<void> {
    const [data, sock] = this.request;
    await sock.sendto(data, this.clientAddress as [string, number]);
  }
}

class DatagramEcho extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.read());
  }
}

async function streamRoundTrip(family: number, address: Address, payload: string): Promise<string> {
  await using c = socket(family, SOCK_STREAM);
  c.settimeout(10);
  await c.connect(address);
  await c.sendall(payload);
  c.shutdown(SHUT_WR);
  const parts: Buffer[] = [];
  for (let d = await c.recv(65536); d.length > 0; d = await c.recv(65536)) parts.push(d);
  return Buffer.concat(parts).toString();
}

const streamServers = [
  {
    name: "TCPServer",
    family: AF_INET,
    create: TCPServer.create.bind(TCPServer),
    address: () => ["127.0.0.1", 0] as Address,
  },
  {
    name: "UnixStreamServer",
    family: AF_UNIX,
    create: UnixStreamServer.create.bind(UnixStreamServer),
    address: () => join(dir, `s${paths++}.sock`) as Address,
  },
];

describe("every stream server with every stream handler echoes", () => {
  for (const s of streamServers) {
    for (const Handler of [BaseEcho, StreamEcho]) {
      it(`${s.name} with ${Handler === BaseEcho ? "BaseRequestHandler" : "StreamRequestHandler"}`, async () => {
        await using server = await s.create(s.address(), Handler);
        void server.serveForever();
        const payload = "line one\nline two\n";
        const replies = await Promise.all(
          Array.from({ length: 10 }, () =>
            streamRoundTrip(s.family, server.serverAddress as Address, payload),
          ),
        );
        for (const r of replies) assert.equal(r, payload);
        await server.shutdown();
      });
    }
  }
});

describe("every datagram server with every datagram handler echoes to the right sender", () => {
  for (const Handler of [BaseDatagramEcho, DatagramEcho]) {
    it(`UDPServer with ${Handler === BaseDatagramEcho ? "BaseRequestHandler" : "DatagramRequestHandler"}, 20 senders at once`, async () => {
      await using server = await UDPServer.create(["127.0.0.1", 0], Handler);
      void server.serveForever();
      const clients: Socket[] = [];
      try {
        for (let i = 0; i < 20; i++) clients.push(socket(AF_INET, SOCK_DGRAM));
        const replies = await Promise.all(
          clients.map(async (c, i) => {
            c.settimeout(5);
            await c.sendto(`sender ${i}`, server.serverAddress as [string, number]);
            return (await c.recvfrom(100))[0].toString();
          }),
        );
        assert.deepEqual(
          replies,
          clients.map((_, i) => `sender ${i}`),
        );
        assert.equal(server.stats.accepted, 20);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await server.shutdown();
      }
    });
  }
});

describe("UnixStreamServer socket files", () => {
  it("replaces a stale socket file left by a crashed server and removes its file on close", async () => {
    const path = join(dir, "stale.sock");
    // A server that dies without cleaning up: it listens on the path, then exits at once.
    const crash = spawnSync(process.execPath, [
      "-e",
      `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`,
    ]);
    assert.equal(crash.status, 0);
    assert.ok(lstatSync(path).isSocket(), "the crashed server left its socket file");
    await using server = await UnixStreamServer.create(path, BaseEcho);
    void server.serveForever();
    assert.equal(await streamRoundTrip(AF_UNIX, path, "fresh"), "fresh");
    await server.shutdown();
    await server.close();
    assert.equal(existsSync(path), false, "the socket file is removed on close");
  });

  it("does not replace a path that is not a socket", async () => {
    const path = join(dir, "plain-file");
    writeFileSync(path, "keep me");
    await assert.rejects(UnixStreamServer.create(path, BaseEcho), { code: "EADDRINUSE" });
    assert.equal(readFileSync(path, "utf8"), "keep me");
  });

  it("refuses to replace a socket file another server is listening on", async () => {
    const path = join(dir, "busy.sock");
    await using first = await UnixStreamServer.create(path, BaseEcho);
    void first.serveForever();
    await assert.rejects(UnixStreamServer.create(path, BaseEcho), { code: "EADDRINUSE" });
    assert.equal(await streamRoundTrip(AF_UNIX, path, "still here"), "still here");
    await first.shutdown();
  });
});
