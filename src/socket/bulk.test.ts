/**
 * Bulk transfer on the thread pool: the descriptor lent to the native addon and given
 * back, with every byte in order whether Node.js or the addon read it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { buffered, recvAll, tcpPair, tempDir, until } from "../../test/helpers/net.ts";
import { SocketError } from "../core/errors.ts";
import { hasNative, nativeMissingReason } from "../native/index.ts";
import { bulkReader, bulkWriter, FILE_SLICE, writeInSlices } from "./bulk.ts";
import { kStream } from "./internal.ts";
import type { Socket } from "./socket.ts";
import { nativeCalls } from "./socket-backend.ts";

const MiB = 1024 * 1024;
const noAddon = hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`;

/** Reads exactly `n` bytes with `bulk` (fails at an early end of stream). */
async function bulkRead(
  reader: NonNullable<ReturnType<typeof bulkReader>>,
  n: number,
): Promise<Buffer> {
  const out = Buffer.alloc(n);
  const early = reader.takeBuffered(n);
  early.copy(out);
  for (let got = early.length; got < n; ) {
    const k = await reader.recvInto(out, got, Math.min(MiB, n - got));
    assert.ok(k > 0, `end of stream after ${got} of ${n} bytes`);
    got += k;
  }
  return out;
}

describe("bulk transfer", { skip: noAddon, timeout: 30_000 }, () => {
  it("reads what Node.js had buffered first, then the kernel's bytes, then gives reading back", async (t) => {
    // node:net's own stream buffer is what this is about: the native I/O path has none.
    const { client, conn } = await tcpPair(t, { server: { nativeIO: false } });
    // A tiny high-water mark pauses the socket at once: what comes next piles up in
    // Node's own stream buffer, which the loan must hand over too.
    conn[kStream]().highWaterMark = 1024;
    const head = randomBytes(256 * 1024);
    await client.sendall(head);
    // A first recv starts the reading.
    const first = await conn.recv(1);
    await until(
      () => buffered(conn) >= 1024 && conn[kStream]().socket.readableLength > 0,
      "bytes held by both the socket's queue and Node's stream buffer",
    );
    const body = randomBytes(6 * MiB);
    const tail = Buffer.from("after the loan\n");
    const sending = client.sendall(Buffer.concat([body, tail])).then(() => client.close());
    const reader = bulkReader(conn);
    assert.ok(reader, "a plain TCP socket can be lent");
    const got = await bulkRead(reader, head.length - first.length + body.length);
    reader.release();
    assert.ok(
      Buffer.concat([first, got]).equals(Buffer.concat([head, body])),
      "the bulk bytes arrive whole and in order",
    );
    assert.deepEqual(await recvAll(conn), tail, "recv goes on right after them");
    await sending;
  });

  it("says end of stream with 0, and a socket closed under a waiting read rejects", async (t) => {
    const pair = await tcpPair(t);
    const reader = bulkReader(pair.conn);
    assert.ok(reader);
    await pair.client.close();
    assert.equal(await reader.recvInto(Buffer.alloc(16), 0, 16), 0);

    const other = await tcpPair(t);
    const waiting = bulkReader(other.conn);
    assert.ok(waiting);
    const read = waiting.recvInto(Buffer.alloc(16), 0, 16);
    await other.conn.close();
    const err = await read.then(
      () => assert.fail("a read on a closed socket resolved"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SocketError, String(err));
    assert.equal(err.code, "EBADF");
  });

  it("returns what came when the peer pauses, without waiting for the buffer to fill", async (t) => {
    const { client, conn } = await tcpPair(t);
    const reader = bulkReader(conn);
    assert.ok(reader);
    await client.sendall("ten bytes!");
    const buf = Buffer.alloc(MiB);
    let got = 0;
    while (got < 10) got += await reader.recvInto(buf, got, buf.length - got);
    assert.equal(buf.subarray(0, got).toString(), "ten bytes!");
  });

  it("waits for a silent peer on the event loop: no pool thread sits in a call meanwhile", async (t) => {
    const io = nativeCalls();
    if (io?.whenReady === undefined) {
      t.skip("no reactor here: the calls wait in their pool thread (up to 100 ms each)");
      return;
    }
    // Counts the calls made and under way (each still made by the addon).
    const recvInto = io.recvInto;
    let calls = 0;
    let inFlight = 0;
    io.recvInto = async (...args) => {
      calls++;
      inFlight++;
      try {
        return await recvInto(...args);
      } finally {
        inFlight--;
      }
    };
    t.after(() => {
      io.recvInto = recvInto;
    });
    // On both paths: a reactor socket's own registration, and node:net's descriptor.
    const pairs = await Promise.all([
      ...Array.from({ length: 4 }, () => tcpPair(t)),
      ...Array.from({ length: 4 }, () => tcpPair(t, { server: { nativeIO: false } })),
    ]);
    const reads = pairs.map(({ conn }) => {
      const reader = bulkReader(conn);
      assert.ok(reader);
      return reader.recvInto(Buffer.alloc(16), 0, 16);
    });
    // A call that waited for the peer would hold its thread: every one has returned.
    await until(() => calls >= pairs.length && inFlight === 0, "every call back from the pool");
    for (const { client } of pairs) await client.sendall("hello");
    assert.deepEqual(await Promise.all(reads), new Array(pairs.length).fill(5));
    assert.ok(calls <= 2 * pairs.length, `${calls} calls for ${pairs.length} reads`);
  });

  it("is not to be had for a socket that is lent already", async (t) => {
    const { conn } = await tcpPair(t);
    const first = bulkReader(conn);
    assert.ok(first);
    assert.equal(bulkReader(conn), null);
    first.release();
    assert.ok(bulkReader(conn), "once given back, it can be lent again");
  });

  it("keeps a lent connection alive past its idle timeout while bytes move", async (t) => {
    const { client, conn } = await tcpPair(t);
    conn[kStream]().setIdleTimeout(0.1);
    const reader = bulkReader(conn);
    assert.ok(reader);
    // Bytes keep coming for three idle periods, all of them read outside Node.js.
    const piece = randomBytes(1000);
    for (let i = 0; i < 6; i++) {
      await client.sendall(piece);
      assert.ok((await bulkRead(reader, piece.length)).equals(piece));
      await sleep(50);
    }
    reader.release();
    await client.sendall("still here");
    assert.equal((await conn.recv(64)).toString(), "still here");
  });

  it("sends a large buffer in order with what the socket sends before and after", async (t) => {
    const { client, conn } = await tcpPair(t);
    const body = randomBytes(12 * MiB);
    const received = recvAll(client as Socket);
    await conn.sendall("before\n");
    const writer = await bulkWriter(conn);
    assert.ok(writer);
    await writer.sendall(body);
    await conn.sendall("after\n");
    await conn.close();
    const all = await received;
    assert.ok(all.equals(Buffer.concat([Buffer.from("before\n"), body, Buffer.from("after\n")])));
  });

  it("rejects a send to a peer that is gone with the socket's error", async (t) => {
    const { client, conn } = await tcpPair(t);
    const writer = await bulkWriter(conn);
    assert.ok(writer);
    client[kStream]().socket.resetAndDestroy();
    const err = await writer.sendall(randomBytes(16 * MiB)).then(
      () => assert.fail("16 MiB went to a reset connection"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SocketError, String(err));
    assert.match(err.code, /^(ECONNRESET|EPIPE)$/);
  });

  it("writes a buffer to a file in slices, at its position or appended", async (t) => {
    const path = join(await tempDir(t), "slices.bin");
    // Not a whole number of slices, so the last write is a short one.
    const first = randomBytes(MiB + 13);
    const second = randomBytes(3 * FILE_SLICE + 1);
    const fresh = await open(path, "w");
    await writeInSlices(fresh, first.subarray(0, 100));
    await writeInSlices(fresh, first.subarray(100));
    await fresh.close();
    const appending = await open(path, "a");
    await writeInSlices(appending, second);
    await appending.close();
    assert.ok((await readFile(path)).equals(Buffer.concat([first, second])));
  });

  it("rejects a file write the system refuses with its error code", async (t) => {
    const path = join(await tempDir(t), "read-only.bin");
    await (await open(path, "w")).close();
    const fh = await open(path, "r");
    t.after(() => fh.close());
    await assert.rejects(writeInSlices(fh, randomBytes(FILE_SLICE)), { code: "EBADF" });
  });
});
