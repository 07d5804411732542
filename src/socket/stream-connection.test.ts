/**
 * StreamConnection: the bounded receive buffer (a flooding peer is held back by TCP flow
 * control, not by our memory) and the send-side limit.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { buffered, closing, listener, recvAll, tcpPair, until } from "../../test/helpers/net.ts";
import { SHUT_WR } from "../index.ts";
import { DEFAULT_HIGH_WATER_MARK } from "./stream-connection.ts";

const MB = 1024 * 1024;
const FLOOD = 200 * MB;

/**
 * A Node child that connects to 127.0.0.1:PORT and writes FLOOD bytes as fast as the
 * connection takes them (honouring backpressure, so the child itself stays small), then
 * ends the connection and prints "sent".
 */
const FLOODER = `
const net = require("node:net");
const [port, total] = process.argv.slice(1).map(Number);
const chunk = Buffer.alloc(1024 * 1024, 0x5a);
const s = net.connect(port, "127.0.0.1");
s.on("error", (e) => { console.error(e.message); process.exit(1); });
let sent = 0;
function pump() {
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent);
    sent += n;
    if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return s.once("drain", pump);
  }
  s.end(() => console.log("sent"));
}
s.on("connect", pump);
`;

function rss(): number {
  return process.memoryUsage.rss();
}

/**
 * V8's collector, exposed at run time. Every recv(65536) hands out a fresh 64 KiB Buffer
 * (Node allocates one per read), so reading 200 MB makes 200 MB of garbage; V8 lets tens
 * of MB of it pile up before collecting (measured here: +28 to +46 MB of dead
 * ArrayBuffers, gone after a gc()). Collecting every few MB makes RSS show what is
 * retained, which is what "does not grow" is about.
 */
function exposeGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

describe("bounded receive buffer", () => {
  it("keeps at most 64 KiB unread by default", () => {
    assert.equal(DEFAULT_HIGH_WATER_MARK, 64 * 1024);
  });

  it("200 MB sent at a socket nobody reads raises RSS by less than 20 MB", {
    timeout: 120_000,
  }, async (t) => {
    const { server, port } = await listener(t);

    // Warm up (code paths, allocator arenas) so the baseline is not taken cold.
    {
      const { client, conn } = await tcpPair(t);
      const received = recvAll(conn);
      await client.sendall(Buffer.alloc(8 * MB, 1));
      client.shutdown(SHUT_WR);
      assert.equal((await received).length, 8 * MB);
      await client.close();
      await conn.close();
    }

    const child = spawn(process.execPath, ["-e", FLOODER, String(port), String(FLOOD)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = once(child, "exit");
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    });
    let childSent = false;
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("sent")) childSent = true;
    });

    const gc = exposeGc();
    const [conn] = await server.accept();
    closing(t, conn);
    gc();
    const baseline = rss();

    // Observe (not synchronise) for 2 s while the child floods and nobody reads.
    let maxQueued = 0;
    let maxRise = 0;
    const end = performance.now() + 2000;
    while (performance.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      maxQueued = Math.max(maxQueued, buffered(conn));
      maxRise = Math.max(maxRise, rss() - baseline);
    }
    // Node reads at most 64 KiB per read, so the queue may pass the mark by one read.
    assert.ok(maxQueued > 0, "nothing was received at all");
    assert.ok(
      maxQueued <= DEFAULT_HIGH_WATER_MARK + 64 * 1024,
      `receive queue reached ${maxQueued} bytes`,
    );
    assert.ok(maxRise < 20 * MB, `RSS rose by ${(maxRise / MB).toFixed(1)} MB while not reading`);
    assert.equal(
      childSent,
      false,
      "the flood finished though nobody read: flow control did not hold it back",
    );

    // Now read everything; memory must stay flat while 200 MB pass through (collecting the
    // dead read buffers every 2 MB so that garbage not yet collected is not counted).
    let total = 0;
    let reads = 0;
    for (;;) {
      const chunk = await conn.recv(65536);
      if (chunk.length === 0) break;
      assert.ok(chunk.length <= 65536);
      total += chunk.length;
      if (++reads % 32 === 0) {
        gc();
        maxRise = Math.max(maxRise, rss() - baseline);
      }
    }
    maxRise = Math.max(maxRise, rss() - baseline);
    assert.equal(total, FLOOD);
    assert.ok(maxRise < 20 * MB, `RSS rose by ${(maxRise / MB).toFixed(1)} MB while reading`);
    await until(() => childSent, "the child to report the flood sent");
    t.diagnostic(`max RSS rise ${(maxRise / MB).toFixed(1)} MB, max queued ${maxQueued} bytes`);
  });
});
