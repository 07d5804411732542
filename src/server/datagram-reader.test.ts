import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DatagramReader } from "./datagram-reader.ts";

describe("DatagramReader", () => {
  it("read() returns the whole datagram, then nothing", async () => {
    const r = new DatagramReader(Buffer.from("one\ntwo"));
    assert.equal((await r.read()).toString(), "one\ntwo");
    assert.equal((await r.read()).length, 0);
  });

  it("read(n) and readline() walk through the datagram", async () => {
    const r = new DatagramReader(Buffer.from("one\ntwo\nrest"));
    assert.equal((await r.read(2)).toString(), "on");
    assert.equal((await r.readline()).toString(), "e\n");
    assert.equal((await r.readline()).toString(), "two\n");
    assert.equal((await r.readline()).toString(), "rest");
    assert.equal((await r.readline()).length, 0);
  });
});
