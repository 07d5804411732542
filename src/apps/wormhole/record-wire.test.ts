import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type TestContext, test } from "node:test";
import { IncompleteReadError } from "../../core/errors.ts";
import { RecordWire } from "./record-wire.ts";
import { type RecordPipe, Transit } from "./transit.ts";

/** The two ends of a direct transit connection on 127.0.0.1: the sender's, the receiver's. */
async function pipes(t: TestContext): Promise<[RecordPipe, RecordPipe]> {
  const key = randomBytes(32);
  const sender = new Transit({ isSender: true, relay: null, listen: ["127.0.0.1"] });
  const receiver = new Transit({ isSender: false, relay: null, listen: [] });
  receiver.addPeerHints((await sender.hints())["hints-v1"]);
  sender.setKey(key);
  receiver.setKey(key);
  const both = await Promise.all([sender.connect(), receiver.connect()]);
  t.after(async () => {
    await both[0].close();
    await both[1].close();
  });
  return both;
}

test("a byte stream over transit records: reads span records, big writes are cut into records", async (t) => {
  const [a, b] = await pipes(t);
  const out = new RecordWire(a);
  const into = new RecordWire(b);
  const big = randomBytes(1024 * 1024 + 5);
  await out.sendall(Buffer.from("he"), Buffer.from("llo"));
  await out.sendall(big);
  // The first read takes two records' bytes ("hello" came in one, big in five more).
  const head = await into.readexactly(7);
  assert.deepEqual(head, Buffer.concat([Buffer.from("hello"), big.subarray(0, 2)]));
  const parts: Buffer[] = [head.subarray(5)];
  let got = 2;
  while (got < big.length) {
    const chunk = await into.recv(300 * 1024);
    assert.ok(chunk.length > 0 && chunk.length <= 256 * 1024, `a record's worth: ${chunk.length}`);
    parts.push(chunk);
    got += chunk.length;
  }
  assert.ok(Buffer.concat(parts).equals(big));
  assert.equal(into.plain, false);
});

test("the end of the records is the end of the stream: recv gives nothing, readexactly what came", async (t) => {
  const [a, b] = await pipes(t);
  const into = new RecordWire(b);
  await new RecordWire(a).sendall(Buffer.from("abc"));
  await a.close();
  await assert.rejects(into.readexactly(5), (err: unknown) => {
    assert.ok(err instanceof IncompleteReadError);
    assert.equal(err.partial.toString(), "abc");
    return true;
  });
  assert.equal((await into.recv(10)).length, 0);
});
