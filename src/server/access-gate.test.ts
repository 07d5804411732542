import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { recvAll, tempDir, thrown, until } from "../../test/helpers/net.ts";
import { AccessList } from "../core/access-list.ts";
import { AF_INET, SHUT_WR, SOCK_DGRAM } from "../core/constants.ts";
import { AccessListError } from "../core/errors.ts";
import { createConnection } from "../socket/create-connection.ts";
import { socket } from "../socket/socket.ts";
import { AccessGate } from "./access-gate.ts";
import { BaseRequestHandler } from "./base-request-handler.ts";
import { DatagramRequestHandler } from "./datagram-request-handler.ts";
import { TCPServer } from "./tcp-server.ts";
import { UDPServer } from "./udp-server.ts";
import { UnixStreamServer } from "./unix-stream-server.ts";

function gate(
  lines: string[],
  options: { maxLines?: number; windowMs?: number; remember?: number },
) {
  return new AccessGate(new AccessList({ deny: ["0.0.0.0/0", "::/0"] }), {
    log: (line) => lines.push(line),
    ...options,
  });
}

describe("AccessGate", () => {
  it("is null for empty lists: every peer gets in without a check", () => {
    assert.equal(AccessGate.create({}), null);
    assert.equal(AccessGate.create({ allow: [], deny: [] }), null);
    assert.ok(AccessGate.create({ deny: ["10.0.0.0/8"] }) instanceof AccessGate);
  });

  it("lets allowed peers in silently and logs a refusal in one line with its reason", () => {
    const lines: string[] = [];
    const g = AccessGate.create(
      { allow: ["127.0.0.1", "::1"], deny: ["::1"] },
      { log: (l) => lines.push(l) },
    );
    assert.ok(g !== null);
    assert.equal(g.admits(["127.0.0.1", 5000]), true);
    assert.equal(g.admits(["10.0.0.5", 51234]), false);
    assert.equal(g.admits(["::1", 6000, 0, 0]), false);
    assert.deepEqual(lines, [
      "refused 10.0.0.5:51234 (not allowed)",
      "refused [::1]:6000 (denied)",
    ]);
  });

  it("logs each refused host once, whatever its port and however often it comes", () => {
    const lines: string[] = [];
    const g = gate(lines, {});
    for (let port = 1; port <= 1000; port++) assert.equal(g.admits(["10.0.0.5", port]), false);
    assert.deepEqual(lines, ["refused 10.0.0.5:1 (denied)"]);
    g.close();
    assert.equal(lines.length, 1, "nothing owed: repeats of a logged host are not counted");
  });

  it("writes at most maxLines lines a window, and sums up the rest in one line", () => {
    const lines: string[] = [];
    const g = gate(lines, { maxLines: 3, windowMs: 60_000 });
    for (let i = 0; i < 250; i++) g.admits([`10.0.${i >> 8}.${i & 255}`, 4000]);
    assert.equal(lines.length, 3);
    g.close();
    assert.deepEqual(lines.slice(3), ["refused 247 more peers (not logged one by one)"]);
    g.close();
    assert.equal(lines.length, 4, "the summary is written once");
  });

  it("writes the summary when the window ends, without being closed", async () => {
    const lines: string[] = [];
    const g = gate(lines, { maxLines: 1, windowMs: 30 });
    g.admits(["10.0.0.1", 1]);
    g.admits(["10.0.0.2", 1]);
    assert.equal(lines.length, 1);
    await until(() => lines.length === 2, "the summary line");
    assert.equal(lines[1], "refused 1 more peer (not logged one by one)");
    g.close();
  });

  it("remembers a bounded number of hosts: past it, it starts over", () => {
    const lines: string[] = [];
    const g = gate(lines, { remember: 2 });
    for (const host of ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.1"])
      g.admits([host, 1]);
    assert.deepEqual(
      lines.map((l) => l.split(" ")[1]),
      ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.1:1"],
    );
  });
});

class Hello extends BaseRequestHandler {
  static handled = 0;
  override async handle(): Promise<void> {
    Hello.handled++;
    await this.request.sendall("hello\n");
  }
}

class Pong extends DatagramRequestHandler {
  static handled = 0;
  override async handle(): Promise<void> {
    Pong.handled++;
    await this.wfile.write("pong");
  }
}

describe("servers with allow and deny", () => {
  it("TCP: a refused peer is closed at once without a byte, counted and logged once", async () => {
    const log: string[] = [];
    await using server = await TCPServer.create(["127.0.0.1", 0], Hello, {
      deny: ["127.0.0.1"],
      log: (l) => log.push(l),
    });
    void server.serveForever();
    const before = Hello.handled;
    for (let i = 0; i < 3; i++) {
      await using c = await createConnection(server.serverAddress as [string, number]);
      c.shutdown(SHUT_WR);
      assert.equal((await recvAll(c)).length, 0);
    }
    await until(() => server.stats.rejected === 3, "three refusals counted");
    assert.equal(Hello.handled, before, "the handler never ran");
    assert.equal(log.length, 1, log.join("\n"));
    assert.match(log[0] ?? "", /^refused 127\.0\.0\.1:\d+ \(denied\)$/);
    await server.shutdown();
  });

  it("TCP: an allowed peer is served, deny entries for others notwithstanding", async () => {
    await using server = await TCPServer.create(["127.0.0.1", 0], Hello, {
      allow: ["127.0.0.1"],
      deny: ["10.0.0.0/8"],
    });
    void server.serveForever();
    await using c = await createConnection(server.serverAddress as [string, number]);
    assert.equal((await recvAll(c)).toString(), "hello\n");
    assert.equal(server.stats.rejected, 0);
    await server.shutdown();
  });

  it("UDP: datagrams from a refused peer are dropped and counted; allowed ones answered", async () => {
    const log: string[] = [];
    await using refusing = await UDPServer.create(["127.0.0.1", 0], Pong, {
      allow: ["10.0.0.0/8"],
      log: (l) => log.push(l),
    });
    void refusing.serveForever();
    await using c = socket(AF_INET, SOCK_DGRAM);
    c.settimeout(5);
    const before = Pong.handled;
    for (let i = 0; i < 5; i++) await c.sendto("ping", refusing.serverAddress as [string, number]);
    await until(() => refusing.stats.rejected === 5, "five datagrams refused");
    assert.equal(Pong.handled, before);
    assert.equal(log.length, 1);
    assert.match(log[0] ?? "", /^refused 127\.0\.0\.1:\d+ \(not allowed\)$/);
    await refusing.shutdown();

    await using serving = await UDPServer.create(["127.0.0.1", 0], Pong, {
      allow: ["127.0.0.0/8"],
    });
    void serving.serveForever();
    await c.sendto("ping", serving.serverAddress as [string, number]);
    assert.equal((await c.recvfrom(100))[0].toString(), "pong");
    await serving.shutdown();
  });

  it("a bad entry or a Unix socket server is an AccessListError, before anything is bound", async (t) => {
    await assert.rejects(TCPServer.create(["127.0.0.1", 0], Hello, { allow: ["nope"] }), {
      code: "ERR_ACCESS_LIST",
    });
    const path = `${await tempDir(t)}/s.sock`;
    const err = thrown(
      () => new UnixStreamServer(path, Hello, { deny: ["127.0.0.1"] }),
      AccessListError,
      "ERR_ACCESS_LIST",
    );
    assert.match(err.message, /Unix socket/);
  });
});
