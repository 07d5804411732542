import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { recvAll, rejection, tcpPair } from "../../test/helpers/net.ts";
import { SHUT_WR, type Socket, SocketError, TimeoutError, Writer } from "../index.ts";
import { kStream } from "./internal.ts";

const T = { timeout: 15_000 };

/** Bytes queued in Node for sending, not yet handed to the kernel. */
function queuedForSending(s: Socket): number {
  return s[kStream]().socket.writableLength;
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("Writer", () => {
  it("writes made in one tick all arrive, in order", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const wfile = client.makefile("w");
    assert.ok(wfile instanceof Writer);
    const writes = [
      wfile.write("HELLO "),
      wfile.write(Buffer.from("binary ")),
      wfile.write(new Uint8Array([0x21, 0x0a])),
    ];
    await Promise.all(writes);
    await wfile.drain();
    client.shutdown(SHUT_WR);
    assert.equal((await recvAll(conn)).toString(), "HELLO binary !\n");
  });

  it("drain resolves once everything written is handed to the kernel", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const wfile = client.makefile("w");
    const data = randomBytes(2 * 1024 * 1024);
    const received = recvAll(conn);
    void wfile.write(data).catch(() => {});
    await wfile.drain();
    assert.equal(queuedForSending(client), 0);
    await wfile.flush();
    client.shutdown(SHUT_WR);
    assert.equal(sha256(await received), sha256(data));
  });

  it(
    "write waits for room when the peer does not read: TimeoutError queues nothing, then the bytes flow",
    T,
    async (t) => {
      const { client, conn } = await tcpPair(t);
      const wfile = client.makefile("w");
      client.settimeout(0.3);
      const data = randomBytes(32 * 1024 * 1024);
      await wfile.write(data); // there was room: it is queued whole
      await rejection(wfile.write("!"), TimeoutError, "ETIMEDOUT");
      const received = recvAll(conn);
      client.settimeout(null);
      await wfile.write("?");
      await wfile.drain();
      client.shutdown(SHUT_WR);
      // The timed-out "!" was never queued.
      assert.equal(sha256(await received), sha256(Buffer.concat([data, Buffer.from("?")])));
    },
  );

  it("close flushes and detaches; the socket stays open", T, async (t) => {
    const { client, conn } = await tcpPair(t);
    const wfile = client.makefile("w");
    await wfile.write("via writer;");
    await wfile.close();
    await wfile.close();
    await rejection(wfile.write("late"), SocketError, "EBADF");
    await client.sendall("via socket");
    client.shutdown(SHUT_WR);
    assert.equal((await recvAll(conn)).toString(), "via writer;via socket");
  });

  it(
    "write on a closed writer, or once its socket is closed for real, raises EBADF",
    T,
    async (t) => {
      const { client } = await tcpPair(t);
      const wfile = client.makefile("w");
      await wfile.close();
      await rejection(wfile.write("x"), SocketError, "EBADF");
      const other = (await tcpPair(t)).client;
      const second = other.makefile("w");
      await other.close(); // deferred: the writer keeps the socket open
      assert.equal(await second.write("x"), 1);
      await second.close(); // the last file: the socket closes now
      assert.equal(other.closed, true);
      await rejection(second.write("x"), SocketError, "EBADF");
    },
  );

  it("write after shutdown(SHUT_WR) raises EPIPE", T, async (t) => {
    const { client } = await tcpPair(t);
    const wfile = client.makefile("w");
    client.shutdown(SHUT_WR);
    await rejection(wfile.write("x"), SocketError, "EPIPE");
  });
});
