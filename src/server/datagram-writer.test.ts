import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DatagramWriter } from "./datagram-writer.ts";

describe("DatagramWriter", () => {
  it("collects strings and bytes into one reply", async () => {
    const w = new DatagramWriter();
    assert.equal(w.getvalue().length, 0);
    await w.write("HELLO ");
    await w.write(Buffer.from([0x00, 0xff]));
    assert.deepEqual(
      w.getvalue(),
      Buffer.concat([Buffer.from("HELLO "), Buffer.from([0x00, 0xff])]),
    );
  });
});
