import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Socket as NetSocket } from "node:net";
import { describe, it } from "node:test";
import { closing, listener, tcpPair } from "../../test/helpers/net.ts";
import { ROOT } from "../../test/helpers/proc.ts";
import { AF_INET, SOCK_STREAM } from "../core/constants.ts";
import { kStream } from "../socket/internal.ts";
import { type Socket, socket } from "../socket/socket.ts";
import "./register.ts";
import { hasReactor, reactorMissingReason } from "./reactor.ts";
import { ReactorSocket } from "./reactor-socket.ts";

const skip =
  !hasReactor() || process.env.SOCKETKIT_NO_NATIVE_IO
    ? `the native I/O path is off (${reactorMissingReason() ?? "SOCKETKIT_NO_NATIVE_IO is set"})`
    : false;

describe("stream sockets on the native I/O path", { skip }, () => {
  it("a connection runs on the reactor by default, and on node:net with nativeIO: false", async (t) => {
    const native = await tcpPair(t);
    assert.ok(native.client[kStream]().socket instanceof ReactorSocket);
    assert.ok(native.conn[kStream]().socket instanceof ReactorSocket);
    const net = await tcpPair(t, { client: { nativeIO: false }, server: { nativeIO: false } });
    assert.ok(net.client[kStream]().socket instanceof NetSocket);
    assert.ok(net.conn[kStream]().socket instanceof NetSocket);
    // The two paths talk to each other.
    await native.client.sendall("ping");
    assert.equal((await native.conn.recv(10)).toString(), "ping");
  });

  it("counts a write the kernel took only in part whole until it is sent, as net.Socket does", async (t) => {
    const { client, conn } = await tcpPair(t);
    const socket = client[kStream]().socket;
    // The peer reads nothing: the kernel's buffers fill and a write is left in part.
    const big = Buffer.alloc(8 * 1024 * 1024);
    let written = 0;
    while (socket.writableLength === 0 && written < 64 * big.length) {
      socket.write(big);
      written += big.length;
    }
    assert.equal(socket.writableLength % big.length, 0, "whole writes are counted");
    assert.ok(socket.writableLength > 0);
    void conn;
  });

  it("hands its bytes to the connection by a call, with no 'data' event", async (t) => {
    const { client, conn } = await tcpPair(t);
    const socket = conn[kStream]().socket;
    assert.equal(socket.listenerCount("data"), 0, "no 'data' listener");
    let events = 0;
    socket.on("data", () => events++);
    await client.sendall("one");
    assert.equal((await conn.recv(10)).toString(), "one");
    assert.equal(events, 0, "the bytes went to the receiver alone");
  });

  it("tryWrite: true when the kernel takes a write whole, else the rest is queued and the callback says when it is sent", async (t) => {
    const { client, conn } = await tcpPair(t);
    const socket = client[kStream]().socket as unknown as ReactorSocket;
    let called = 0;
    assert.equal(
      socket.tryWrite(Buffer.from("small"), () => called++),
      true,
    );
    assert.equal(called, 0, "no callback for a write taken whole");
    assert.equal((await conn.recv(10)).toString(), "small");
    // The peer reads nothing for now: a large write is taken in part.
    const big = Buffer.alloc(32 * 1024 * 1024, 0x62);
    let done: Error | null | undefined;
    assert.equal(
      socket.tryWrite(big, (err) => {
        done = err;
      }),
      false,
    );
    assert.ok(socket.writableLength > 0, "the rest is queued");
    let got = 0;
    while (got < big.length) got += (await conn.recv(1024 * 1024)).length;
    assert.equal(got, big.length);
    assert.equal(done, null, "the callback said it was all sent");
    assert.equal(socket.writableLength, 0);
  });

  it("tryWriteEach: one call writes to many sockets; a full one queues the rest, a closed one fails", async (t) => {
    const pairs = await Promise.all(Array.from({ length: 4 }, () => tcpPair(t)));
    const sockets = pairs.map((p) => p.client[kStream]().socket as unknown as ReactorSocket);
    const calls: (Error | null | undefined)[][] = sockets.map(() => []);
    const callbacks = calls.map((c) => (err?: Error | null) => c.push(err));
    const took: boolean[] = [];
    (sockets[0] as ReactorSocket).tryWriteEach(sockets, Buffer.from("hello\n"), callbacks, took);
    assert.deepEqual(took, [true, true, true, true]);
    assert.deepEqual(calls, [[], [], [], []], "no callback for a write taken whole");
    for (const p of pairs) assert.equal((await p.conn.recv(10)).toString(), "hello\n");

    // The peers read nothing for now: the kernel takes part of a large write, the rest waits.
    (sockets[3] as ReactorSocket).destroy();
    const big = Buffer.alloc(16 * 1024 * 1024, 0x62);
    (sockets[0] as ReactorSocket).tryWriteEach(sockets, big, callbacks, took);
    assert.deepEqual(took, [false, false, false, false]);
    assert.equal((calls[3]?.[0] as { code?: string } | undefined)?.code, "EPIPE", "the closed one");
    for (const s of sockets.slice(0, 3)) assert.ok(s.writableLength > 0, "the rest is queued");
    for (const p of pairs.slice(0, 3)) {
      let got = 0;
      while (got < big.length) got += (await p.conn.recv(1024 * 1024)).length;
      assert.equal(got, big.length);
    }
    assert.deepEqual(calls.slice(0, 3), [[null], [null], [null]], "each callback once it is sent");
  });

  it("a paused or finished connection lets the process end, as with node:net", () => {
    const code = `
      import { createServer, createConnection } from "./src/index.ts";
      const server = await createServer(["127.0.0.1", 0]);
      const c = await createConnection(server.getsockname());
      const [conn] = await server.accept();
      await c.sendall("x"); await conn.recv(1);
      await server.close();
      c.unref(); conn.unref();
      console.log("done");`;
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", code],
      {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 20_000,
      },
    );
    assert.equal(run.signal, null, "the process ended by itself");
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), "done");
  });

  it("a listener that ran out of descriptors (EMFILE) says so once, then accepts again once some are free", () => {
    const code = `
      import { createServer, createConnection } from "./src/index.ts";
      const server = await createServer(["127.0.0.1", 0]);
      const clients = [];
      for (let i = 0; i < 200; i++) {
        try { clients.push(await createConnection(server.getsockname(), { timeout: 2 })); }
        catch { break; }
      }
      server.settimeout(2);
      let emfile = 0, after = 0;
      for (let i = 0; i < 400 && after === 0; i++) {
        try { await server.accept(); if (emfile > 0) after++; }
        catch (e) {
          if (e.code !== "EMFILE") { console.log("accept failed: " + e.message); break; }
          emfile++;
          for (const c of clients.splice(0, 20)) await c.close();
        }
      }
      console.log(JSON.stringify({ emfile, after }));
      process.exit(0);`;
    const run = spawnSync(
      "bash",
      [
        "-c",
        'ulimit -n 100 && exec "$0" --import tsx --input-type=module -e "$1"',
        process.execPath,
        code,
      ],
      { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    const { emfile, after } = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}");
    assert.ok(emfile >= 1, `the listener ran out of descriptors: ${run.stdout}`);
    assert.equal(after, 1, `a connection was accepted after EMFILE: ${run.stdout}`);
  });

  it("a connection keeps its own bytes, not a view that holds a whole batch of other sockets' bytes", async (t) => {
    const server = await listener(t);
    const pairs: [Socket, Socket][] = [];
    for (let i = 0; i < 50; i++) {
      const c = closing(t, socket(AF_INET, SOCK_STREAM));
      await c.connect(["127.0.0.1", server.port]);
      const [conn] = await server.server.accept();
      pairs.push([c, closing(t, conn)]);
    }
    // Every client's bytes wait in the kernel before any server side reads: one wake-up
    // reads them all, into one batch of about 200 KB.
    const size = 4000;
    for (const [c] of pairs) await c.sendall(Buffer.alloc(size, 0x61));
    const got = await Promise.all(pairs.map(([, conn]) => conn.recv(size)));
    for (const chunk of got) {
      assert.ok(chunk.length > 0);
      // A copy may share a slab of Node's Buffer pool (8 KiB; 64 KiB and a little on
      // newer lines), as every Buffer Node.js reads does; never the batch.
      assert.ok(
        chunk.buffer.byteLength < 25 * size,
        `a ${chunk.length}-byte chunk holds ${chunk.buffer.byteLength} bytes`,
      );
    }
  });
});
