import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  ConnectionResetError,
  createConnection,
  hasNative,
  SHUT_WR,
  TimeoutError,
} from "../../src/index.ts";
import { listening, portOf, ROOT, start } from "../helpers/proc.ts";

async function askPid(port: number): Promise<number> {
  await using s = await createConnection(["127.0.0.1", port], { timeout: 2 });
  s.shutdown(SHUT_WR);
  const parts: Buffer[] = [];
  for (let chunk = await s.recv(64); chunk.length > 0; chunk = await s.recv(64)) parts.push(chunk);
  return Number(Buffer.concat(parts).toString().trim());
}

/**
 * Asks until `count` distinct worker pids answered (for at most 30 s). A connection
 * the primary had just handed to a worker that was killed is lost with it, as with any
 * forking server: that try counts as no answer.
 */
async function pidsSeen(
  port: number,
  count: number,
  seen = new Set<number>(),
): Promise<Set<number>> {
  // Bounded by time: a replacement worker needs a moment to start (more under load).
  for (const end = Date.now() + 30_000; seen.size < count && Date.now() < end; ) {
    try {
      seen.add(await askPid(port));
    } catch (err) {
      if (!(err instanceof TimeoutError || err instanceof ConnectionResetError)) throw err;
    }
  }
  return seen;
}

/** Listening TCP sockets on 127.0.0.1:port, from /proc/net/tcp. */
function listeningSockets(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .filter((line) => line.includes(`:${hex} `) && / 0A /.test(line)).length;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("TCPServer with workers: 2", () => {
  it("serves one port from two processes, restarts a worker that dies, and stops all on shutdown", async () => {
    const primary = start(process.execPath, [
      "--import",
      "tsx",
      `${ROOT}test/fixtures/workers-server.ts`,
    ]);
    try {
      const port = Number(portOf(await listening(primary)));
      const first = await pidsSeen(port, 2);
      assert.equal(first.size, 2, "two processes answered");
      if (existsSync("/proc/net/tcp")) {
        // With the native addon each worker has a listening socket of its own (SO_REUSEPORT);
        // without it, node:cluster's primary holds the one socket.
        assert.equal(listeningSockets(port), hasNative() ? 2 : 1);
      }
      assert.ok(!first.has(primary.child.pid as number), "the primary itself serves nothing");

      const [victim] = [...first] as [number];
      process.kill(victim, "SIGKILL");
      const after = await pidsSeen(port, 2, new Set());
      assert.ok(!after.has(victim), "the dead worker no longer answers");
      assert.equal(after.size, 2, "a replacement worker serves beside the survivor");
      assert.match(
        primary.stderr(),
        new RegExp(`worker ${victim} exited \\(SIGKILL\\): restarting it`),
      );

      primary.child.kill("SIGTERM");
      assert.equal(await primary.exited, 0, primary.stderr());
      assert.match(primary.stderr(), /stopped\n/);
      for (const pid of after) assert.equal(alive(pid), false, `worker ${pid} exited`);
    } finally {
      await primary.stop();
    }
  });
});
