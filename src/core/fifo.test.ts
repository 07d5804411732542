import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Fifo } from "./fifo.ts";

describe("Fifo", () => {
  it("returns items in the order they were pushed (peek shows the next), for any interleaving of push and shift", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.constant(null))), (ops) => {
        const q = new Fifo<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === null) assert.equal(q.shift(), model.shift());
          else {
            q.push(op);
            model.push(op);
          }
          assert.equal(q.length, model.length);
          assert.equal(q.peek(), model[0]);
        }
      }),
    );
  });

  it("does not grow while it never quite empties", () => {
    const q = new Fifo<Buffer>();
    q.push(Buffer.alloc(1));
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 2_000_000; i++) {
      q.push(Buffer.alloc(0));
      q.shift();
    }
    assert.equal(q.length, 1);
    // An array that kept a slot per item ever pushed would hold 2M slots (16 MB).
    assert.ok(process.memoryUsage().heapUsed - before < 8 * 1024 * 1024);
  });
});
