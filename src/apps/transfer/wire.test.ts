import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { tcpPair } from "../../../test/helpers/net.ts";
import { RecordSealer } from "../../codec/sealed-records.ts";
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
});
