import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ChunkQueue } from "./chunk-queue.ts";

function queueOf(...chunks: string[]): ChunkQueue {
  const q = new ChunkQueue();
  for (const c of chunks) q.push(Buffer.from(c));
  return q;
}

/** Splits `data` at the given cut points (sorted, deduplicated, inside the data). */
function split(data: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    out.push(Buffer.from(data.subarray(prev, p)));
    prev = p;
  }
  return out;
}

describe("ChunkQueue", () => {
  it("counts the bytes pushed and ignores empty chunks", () => {
    const q = queueOf("abc", "", "de");
    assert.equal(q.length, 5);
  });

  it("take returns bytes across chunk boundaries in order", () => {
    const q = queueOf("hel", "lo ", "wor", "ld");
    assert.equal(q.take(2).toString(), "he");
    assert.equal(q.take(5).toString(), "llo w");
    assert.equal(q.length, 4);
    assert.equal(q.take(100).toString(), "orld");
    assert.equal(q.length, 0);
  });

  it("take within one chunk returns a view, not a copy", () => {
    const chunk = Buffer.from("abcdef");
    const q = new ChunkQueue();
    q.push(chunk);
    const out = q.take(3);
    assert.equal(out.buffer, chunk.buffer);
    assert.equal(out.toString(), "abc");
  });

  it("take of 0, of a negative count or from an empty queue is an empty Buffer", () => {
    const q = queueOf("ab");
    assert.equal(q.take(0).length, 0);
    assert.equal(q.take(-3).length, 0);
    assert.equal(q.length, 2);
    assert.equal(new ChunkQueue().take(10).length, 0);
  });

  it("indexOf finds a byte in a later chunk, counted from the front", () => {
    const q = queueOf("hel", "lo\n");
    assert.equal(q.indexOf(0x0a), 5);
    assert.equal(q.indexOf(Buffer.from("\n")), 5);
    assert.equal(q.indexOf(0x7a), -1);
  });

  it("indexOf counts from the current read position after a partial take", () => {
    const q = queueOf("ab\ncd", "\n");
    q.take(3);
    assert.equal(q.indexOf(0x0a), 2);
    assert.equal(q.indexOf(0x63), 0);
  });

  it("indexOf honours a start position", () => {
    const q = queueOf("a\nb", "\nc\n");
    assert.equal(q.indexOf(0x0a, 0), 1);
    assert.equal(q.indexOf(0x0a, 2), 3);
    assert.equal(q.indexOf(0x0a, 4), 5);
    assert.equal(q.indexOf(0x0a, 6), -1);
  });

  it("indexOf finds a multi-byte sequence that spans chunks", () => {
    const q = queueOf("abc\r", "\ndef");
    assert.equal(q.indexOf(Buffer.from("\r\n")), 3);
    const q3 = queueOf("x-", "-", "-y");
    assert.equal(q3.indexOf(Buffer.from("---")), 1);
  });

  it("indexOf skips a false start of a sequence and finds the real one", () => {
    const q = queueOf("a\r", "b\r", "\nc");
    assert.equal(q.indexOf(Buffer.from("\r\n")), 3);
    assert.equal(queueOf("ab\r").indexOf(Buffer.from("\r\n")), -1);
  });

  it("byteAt reads across chunks and throws past the end", () => {
    const q = queueOf("ab", "cd");
    assert.equal(q.byteAt(2), "c".charCodeAt(0));
    assert.throws(() => q.byteAt(4), RangeError);
  });

  it("skip drops bytes across chunks", () => {
    const q = queueOf("abc", "def", "ghi");
    q.skip(4);
    assert.equal(q.length, 5);
    assert.equal(q.take(5).toString(), "efghi");
    q.skip(10);
    assert.equal(q.length, 0);
  });

  it("clear empties the queue", () => {
    const q = queueOf("abc", "def");
    q.clear();
    assert.equal(q.length, 0);
    assert.equal(q.indexOf(0x61), -1);
    q.push(Buffer.from("x"));
    assert.equal(q.take(1).toString(), "x");
  });

  it("keeps working after many small chunks are consumed (head compaction)", () => {
    const q = new ChunkQueue();
    for (let i = 0; i < 5000; i++) q.push(Buffer.from([i & 0xff]));
    for (let i = 0; i < 3000; i++) assert.equal(q.take(1)[0], i & 0xff);
    assert.equal(q.length, 2000);
    assert.equal(q.indexOf(3000 & 0xff), 0);
    const rest = q.take(2000);
    assert.equal(rest[1999], 4999 & 0xff);
  });

  it("take over any chunking returns the original bytes (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
        (data, cuts, reads) => {
          const q = new ChunkQueue();
          for (const chunk of split(data, cuts)) q.push(chunk);
          assert.equal(q.length, data.length);
          const parts: Buffer[] = [];
          let i = 0;
          while (q.length > 0) {
            const n = reads[i++ % reads.length] as number;
            const before = q.length;
            const part = q.take(n);
            assert.equal(part.length, Math.min(n, before));
            parts.push(part);
          }
          assert.deepEqual(Buffer.concat(parts), Buffer.from(data));
        },
      ),
    );
  });

  it("indexOf over any chunking agrees with Buffer.indexOf (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }).map((a) => a.map((b) => b % 4)),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.uint8Array({ minLength: 1, maxLength: 3 }).map((a) => a.map((b) => b % 4)),
        fc.nat({ max: 200 }),
        (data, cuts, needle, from) => {
          const q = new ChunkQueue();
          for (const chunk of split(data, cuts)) q.push(chunk);
          const expected = Buffer.from(data).indexOf(
            Buffer.from(needle),
            Math.min(from, data.length),
          );
          const start = Math.min(from, data.length);
          assert.equal(q.indexOf(Buffer.from(needle), start), expected);
        },
      ),
    );
  });
});
