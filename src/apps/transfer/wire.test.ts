import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { tcpPair } from "../../../test/helpers/net.ts";
import { RecordOpener, RecordSealer } from "../../codec/sealed-records.ts";
import { IncompleteReadError } from "../../core/errors.ts";
import { SealedWire } from "./wire.ts";

const KEY = randomBytes(32);
const OTHER = randomBytes(32);

describe("SealedWire", () => {
  it("reads a message that spans two records, the second arriving after the first was read into", async (t) => {
    const { client, conn } = await tcpPair(t);
    const sealer = new RecordSealer(KEY);
    const wire = new SealedWire(conn, OTHER, KEY);
    const first = randomBytes(1000);
    const second = randomBytes(500);
    await client.sendall(Buffer.concat(sealer.seal(first)));
    assert.deepEqual(await wire.readexactly(10), first.subarray(0, 10));
    // 990 bytes are there, 1490 are asked for: the rest is in a record not sent yet.
    const spanning = wire.readexactly(1490);
    await client.sendall(Buffer.concat(sealer.seal(second)));
    assert.deepEqual(await spanning, Buffer.concat([first.subarray(10), second]));
  });

  it("gives recv what is open, then an empty Buffer at the end, and readexactly what came before it", async (t) => {
    const { client, conn } = await tcpPair(t);
    const sealer = new RecordSealer(KEY);
    const wire = new SealedWire(conn, OTHER, KEY);
    await client.sendall(Buffer.concat(sealer.seal(Buffer.from("hello world"))));
    assert.equal((await wire.recv(5)).toString(), "hello");
    client.shutdown(1);
    await assert.rejects(wire.readexactly(100), (err: unknown) => {
      assert.ok(err instanceof IncompleteReadError);
      assert.equal(err.partial.toString(), " world");
      return true;
    });
    assert.equal((await wire.recv(5)).length, 0);
  });

  it("opens first the records' bytes read before it was made (a connection handed over), then the connection's", async (t) => {
    const { client, conn } = await tcpPair(t);
    const sealer = new RecordSealer(KEY);
    const data = randomBytes(3000);
    const records = Buffer.concat(sealer.seal(data.subarray(0, 1000)));
    // Someone else read the first record and part of the second off the connection.
    const more = Buffer.concat(sealer.seal(data.subarray(1000)));
    const wire = new SealedWire(conn, OTHER, KEY, Buffer.concat([records, more.subarray(0, 7)]));
    await client.sendall(more.subarray(7));
    assert.deepEqual(await wire.readexactly(3000), data);
  });

  it("receiveData hands on a file's data from records that come in small writes, in pieces of at most a megabyte, and leaves the message after it to readexactly", async (t) => {
    const { client, conn } = await tcpPair(t);
    const sealer = new RecordSealer(KEY);
    const wire = new SealedWire(conn, OTHER, KEY);
    const data = randomBytes(3 * 1024 * 1024 + 100);
    // The data's end and the next message share a record, as a peer may seal them.
    const bytes = Buffer.concat([
      ...sealer.seal(Buffer.from("before")),
      ...sealer.seal(data.subarray(0, 2 * 1024 * 1024 + 7)),
      ...sealer.seal(Buffer.concat([data.subarray(2 * 1024 * 1024 + 7), Buffer.from("after")])),
    ]);
    const sending = (async () => {
      for (let at = 0, step = 1; at < bytes.length; at += step, step = (step * 7 + 3) % 70_001)
        await client.sendall(bytes.subarray(at, at + step));
    })();
    assert.equal((await wire.readexactly(6)).toString(), "before");
    const pieces: Buffer[] = [];
    const got = await wire.receiveData(data.length, async (piece) => {
      const copy = Buffer.from(piece);
      assert.ok(piece.length <= 1024 * 1024);
      // Taken a while later: the piece must not have been written over meanwhile.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(piece, copy);
      pieces.push(copy);
    });
    assert.equal(got, data.length);
    assert.deepEqual(Buffer.concat(pieces), data);
    assert.equal((await wire.readexactly(5)).toString(), "after");
    await sending;
  });

  it("receiveData hands on the data of records opened before, then reads on", async (t) => {
    const { client, conn } = await tcpPair(t);
    const sealer = new RecordSealer(KEY);
    const wire = new SealedWire(conn, OTHER, KEY);
    const data = randomBytes(600_000);
    await client.sendall(
      Buffer.concat(sealer.seal(Buffer.concat([Buffer.from("x"), data.subarray(0, 1000)]))),
    );
    assert.equal((await wire.readexactly(1)).toString(), "x");
    const later = Buffer.concat([
      ...sealer.seal(data.subarray(1000)),
      ...sealer.seal(Buffer.from("end")),
    ]);
    const pieces: Buffer[] = [];
    const receiving = wire.receiveData(data.length, async (piece) => {
      pieces.push(Buffer.from(piece));
    });
    await client.sendall(later);
    assert.equal(await receiving, data.length);
    assert.deepEqual(Buffer.concat(pieces), data);
    assert.equal((await wire.readexactly(3)).toString(), "end");
  });

  it("receiveData resolves with fewer bytes when the stream ends inside the data, having handed on what came", async (t) => {
    const { client, conn } = await tcpPair(t);
    const sealer = new RecordSealer(KEY);
    const wire = new SealedWire(conn, OTHER, KEY);
    const data = randomBytes(700_000);
    const records = Buffer.concat(sealer.seal(data));
    // Two whole records and part of the third.
    await client.sendall(records.subarray(0, records.length - 1000));
    client.shutdown(1);
    const pieces: Buffer[] = [];
    const got = await wire.receiveData(data.length + 10, async (piece) => {
      pieces.push(Buffer.from(piece));
    });
    assert.equal(got, 2 * 256 * 1024);
    assert.deepEqual(Buffer.concat(pieces), data.subarray(0, got));
  });

  it("receiveData fails on a record altered on the way (ERR_TRANSFER_AUTH), handing on nothing of it", async (t) => {
    const { client, conn } = await tcpPair(t);
    const sealer = new RecordSealer(KEY);
    const wire = new SealedWire(conn, OTHER, KEY);
    const data = randomBytes(300_000);
    const records = Buffer.concat(sealer.seal(data));
    const at = records.length - 100;
    records[at] = (records[at] as number) ^ 1;
    await client.sendall(records);
    const pieces: Buffer[] = [];
    await assert.rejects(
      wire.receiveData(data.length, async (piece) => {
        pieces.push(Buffer.from(piece));
      }),
      { code: "ERR_TRANSFER_AUTH" },
    );
    assert.deepEqual(Buffer.concat(pieces), data.subarray(0, Buffer.concat(pieces).length));
    assert.ok(Buffer.concat(pieces).length <= 256 * 1024);
  });

  it("sendall seals at once and writes in the order of the calls: the parts may change as soon as it returns", async (t) => {
    const { client, conn } = await tcpPair(t);
    const wire = new SealedWire(client, KEY, OTHER);
    const sizes = [5, 1024 * 1024, 2 * 1024 * 1024 + 3, 70_000, 1, 1024 * 1024, 100_000];
    const originals = sizes.map((n) => randomBytes(n));
    const sends = originals.map((original) => {
      const part = Buffer.from(original);
      const sent = wire.sendall(part);
      part.fill(0);
      return sent;
    });
    const opener = new RecordOpener(KEY);
    const want = Buffer.concat(originals);
    const opened: Buffer[] = [];
    let have = 0;
    while (have < want.length) {
      const chunk = await conn.recv(1 << 20);
      assert.ok(chunk.length > 0);
      opener.push(chunk);
      for (let plain = opener.next(); plain !== undefined; plain = opener.next()) {
        opened.push(plain);
        have += plain.length;
      }
    }
    await Promise.all(sends);
    assert.deepEqual(Buffer.concat(opened), want);
  });
});
