/**
 * ForkingMixIn, ForkingTCPServer and ForkingUDPServer, after CPython's
 * Lib/test/test_socketserver.py. Worker processes run a fixture script (node:cluster
 * runs the script once per worker), never this test file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/helpers/net.ts";
import { listening, portOf, ROOT, start } from "../../test/helpers/proc.ts";
import { AF_INET, SOCK_DGRAM } from "../core/constants.ts";
import { TimeoutError } from "../core/errors.ts";
import { hasNative, nativeMissingReason } from "../native/index.ts";
import { createConnection } from "../socket/create-connection.ts";
import { socket } from "../socket/socket.ts";
import { BaseRequestHandler } from "./base-request-handler.ts";
import { DatagramRequestHandler } from "./datagram-request-handler.ts";
import { ForkingMixIn } from "./forking-mixin.ts";
import { ForkingTCPServer } from "./forking-tcp-server.ts";
import { ForkingUDPServer } from "./forking-udp-server.ts";
import { TCPServer } from "./tcp-server.ts";
import { ThreadingMixIn } from "./threading-mixin.ts";
import { UDPServer } from "./udp-server.ts";
import { UnixDatagramServer } from "./unix-datagram-server.ts";
import { WorkerPool } from "./worker-pool.ts";

const T = { timeout: 90_000 };

/**
 * Starts test/fixtures/forking-server.ts (`kind`: tcp or udp; `block`: blockOnClose) and
 * waits for its port.
 */
async function forkingServer(kind: "tcp" | "udp", env: Record<string, string>, block = true) {
  const primary = start(
    process.execPath,
    [
      "--import",
      "tsx",
      `${ROOT}test/fixtures/forking-server.ts`,
      kind,
      block ? "block" : "noblock",
    ],
    { env },
  );
  try {
    return { primary, port: Number(portOf(await listening(primary))) };
  } catch (err) {
    await primary.stop();
    throw err;
  }
}

/** One request to the fixture: the pid that answered, and for UDP who the reply came from. */
async function ask(kind: "tcp" | "udp", port: number, i: number): Promise<[number, string]> {
  if (kind === "tcp") {
    await using c = await createConnection(["127.0.0.1", port], { timeout: 5 });
    const parts: Buffer[] = [];
    for (let d = await c.recv(64); d.length > 0; d = await c.recv(64)) parts.push(d);
    return [Number(Buffer.concat(parts).toString().trim()), ""];
  }
  // A socket (a source port) per datagram: with SO_REUSEPORT the kernel picks the worker
  // from the client's address.
  await using c = socket(AF_INET, SOCK_DGRAM);
  c.settimeout(5);
  await c.sendto(`datagram ${i}`, ["127.0.0.1", port]);
  const [reply, from] = await c.recvfrom(100);
  const [pid, ...rest] = reply.toString().split(" ");
  assert.equal(rest.join(" "), `datagram ${i}`, "the worker got the datagram whole");
  assert.deepEqual(from, ["127.0.0.1", port], "the reply comes from the server's address");
  return [Number(pid), rest.join(" ")];
}

/**
 * Asks until two distinct pids answered, for at most 30 s: the primary's `create()`
 * resolves when the first worker serves, and the second may take a moment to start.
 */
async function twoPids(kind: "tcp" | "udp", port: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0, end = Date.now() + 30_000; pids.size < 2 && Date.now() < end; i++) {
    try {
      pids.add((await ask(kind, port, i))[0]);
    } catch (err) {
      // A datagram is not resent: one lost to a worker still starting is a try less.
      if (!(err instanceof TimeoutError)) throw err;
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Two workers answer, the primary is not one of them, and SIGTERM stops them all; with
 * `block` (blockOnClose) the primary's `shutdown()` resolves once they have exited (after
 * `serveForever()` has), else at once.
 */
async function servesFromTwoWorkers(
  kind: "tcp" | "udp",
  env: Record<string, string> = {},
  block = true,
) {
  const { primary, port } = await forkingServer(kind, env, block);
  try {
    const pids = await twoPids(kind, port);
    assert.equal(pids.size, 2, `two worker processes answered: ${primary.stderr()}`);
    assert.ok(!pids.has(primary.child.pid as number), "the primary itself serves nothing");
    primary.child.kill("SIGTERM");
    assert.equal(await primary.exited, 0, primary.stderr());
    const order = block ? /stopped\nshutdown returned\n/ : /shutdown returned\nstopped\n/;
    assert.match(primary.stderr(), order);
    for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} exited`);
  } finally {
    await primary.stop();
  }
}

class Echo extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.read());
  }
}

describe("ForkingMixIn", () => {
  it("test_ForkingUDPServer (SocketServerTest): two worker processes on their own SO_REUSEPORT sockets serve one UDP port, each datagram answered once from the server's address; SIGTERM stops them all", {
    ...T,
    skip: hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`,
  }, async () => {
    await servesFromTwoWorkers("udp");
  });

  it(
    "test_ForkingUDPServer (SocketServerTest), without the native addon: the workers share the one socket node:cluster makes in the primary",
    T,
    async () => {
      await servesFromTwoWorkers("udp", { SOCKETKIT_NO_NATIVE: "1" });
    },
  );

  it(
    "test_ForkingTCPServer (SocketServerTest): class MyServer extends ForkingMixIn(TCPServer), with workers: 2 set by its constructor (Python's max_children), serves from two processes",
    T,
    async () => {
      await servesFromTwoWorkers("tcp");
    },
  );

  it(
    "blockOnClose false in the primary: shutdown() resolves before the workers have exited (Python's server_close() does not wait for its children then)",
    T,
    async () => {
      await servesFromTwoWorkers("tcp", {}, false);
    },
  );

  it("makes workers default to one per core, and keeps the workers given", () => {
    const perCore = WorkerPool.defaultWorkers();
    assert.equal(new ForkingUDPServer(["127.0.0.1", 0], Echo).options.workers, perCore);
    assert.equal(
      new ForkingTCPServer(["127.0.0.1", 0], BaseRequestHandler).options.workers,
      perCore,
    );
    const two = new ForkingUDPServer(["127.0.0.1", 0], Echo, { workers: 2, maxPacketSize: 10 });
    assert.equal(two.options.workers, 2);
    assert.equal(two.options.maxPacketSize, 10);
  });

  it("makes classes whose servers are instanceof ForkingMixIn and of their base, and no others", () => {
    const server = new ForkingUDPServer(["127.0.0.1", 0], Echo);
    assert.ok(server instanceof ForkingMixIn);
    assert.ok(server instanceof UDPServer);
    assert.ok(!(server instanceof ThreadingMixIn));
    assert.ok(new ForkingTCPServer(["127.0.0.1", 0], BaseRequestHandler) instanceof TCPServer);
    assert.ok(!(new UDPServer(["127.0.0.1", 0], Echo) instanceof ForkingMixIn));
    assert.equal(ForkingMixIn(UDPServer).name, "ForkingUDPServer");
  });

  it("test_ForkingUnixDatagramServer (SocketServerTest): a Unix datagram socket cannot be shared between processes, so create() raises UnsupportedError and forks nothing", {
    skip: hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`,
  }, async (t) => {
    const dir = await tempDir(t);
    class ForkingUnixDatagramServer extends ForkingMixIn(UnixDatagramServer) {}
    const path = join(dir, "forking.sock");
    await assert.rejects(
      ForkingUnixDatagramServer.create(path, Echo, { workers: 2 }),
      (err: Error) => {
        assert.equal((err as Error & { code?: string }).code, "ERR_UNSUPPORTED");
        assert.match(err.message, /Unix datagram socket/);
        return true;
      },
    );
  });
});
