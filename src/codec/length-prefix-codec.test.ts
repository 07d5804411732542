import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bytePieces, cut } from "../../test/helpers/chunks.ts";
import { LengthPrefixCodec, type LengthPrefixCodecOptions } from "./length-prefix-codec.ts";

const TOO_LARGE = "ERR_FRAME_TOO_LARGE";
const INCOMPLETE = "ERR_INCOMPLETE_READ";

/** `input` cut at the given positions (any order, duplicates and out-of-range ignored). */

function frames(codec: LengthPrefixCodec): Buffer[] {
  const out: Buffer[] = [];
  for (let payload = codec.next(); payload !== undefined; payload = codec.next()) {
    out.push(payload);
  }
  return out;
}

/** Feeds `pieces`, draining after each push, then ends the input. */
function decodeAll(pieces: readonly Buffer[], options: LengthPrefixCodecOptions = {}): Buffer[] {
  const codec = new LengthPrefixCodec(options);
  const out: Buffer[] = [];
  for (const piece of pieces) {
    codec.push(piece);
    out.push(...frames(codec));
  }
  assert.equal(codec.end(), undefined);
  assert.equal(codec.bufferedLength, 0);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

describe("LengthPrefixCodec", () => {
  describe("encoding", () => {
    it("prefixes the payload with its length as a big-endian u32", () => {
      const payload = Buffer.from("hello");
      assert.deepEqual(
        LengthPrefixCodec.encode(payload),
        Buffer.from([0, 0, 0, 5, 0x68, 0x65, 0x6c, 0x6c, 0x6f]),
      );
      assert.deepEqual(new LengthPrefixCodec().encode(payload), LengthPrefixCodec.encode(payload));
    });

    it("encodes an empty payload as a bare header", () => {
      assert.deepEqual(LengthPrefixCodec.encode(Buffer.alloc(0)), Buffer.from([0, 0, 0, 0]));
    });

    it("offers the header alone so header and payload can be written without a copy", () => {
      const payload = Buffer.alloc(0x010203, 7);
      const header = LengthPrefixCodec.encodeHeader(payload.length);
      assert.deepEqual(header, Buffer.from([0, 1, 2, 3]));
      assert.deepEqual(Buffer.concat([header, payload]), LengthPrefixCodec.encode(payload));
      assert.deepEqual(new LengthPrefixCodec().encodeHeader(258), Buffer.from([0, 0, 1, 2]));
    });

    it("refuses to encode a payload above maxFrameSize with ERR_FRAME_TOO_LARGE", () => {
      const payload = Buffer.alloc(11);
      assert.throws(
        () => LengthPrefixCodec.encode(payload, { maxFrameSize: 10 }),
        (err: { code?: string; size?: number; limit?: number }) =>
          err.code === TOO_LARGE && err.size === 11 && err.limit === 10,
      );
      assert.throws(() => new LengthPrefixCodec({ maxFrameSize: 10 }).encode(payload), {
        code: TOO_LARGE,
      });
      assert.throws(() => new LengthPrefixCodec({ maxFrameSize: 10 }).encodeHeader(11), {
        code: TOO_LARGE,
      });
      assert.equal(LengthPrefixCodec.encode(Buffer.alloc(10), { maxFrameSize: 10 }).length, 14);
    });

    it("refuses a length the u32 header cannot carry, whatever maxFrameSize says", () => {
      const options = { maxFrameSize: Number.POSITIVE_INFINITY };
      assert.deepEqual(
        LengthPrefixCodec.encodeHeader(0xffffffff, options),
        Buffer.from([0xff, 0xff, 0xff, 0xff]),
      );
      assert.throws(() => LengthPrefixCodec.encodeHeader(0x100000000, options), {
        code: TOO_LARGE,
      });
      assert.throws(() => LengthPrefixCodec.encodeHeader(2 ** 40, { maxFrameSize: 2 ** 50 }), {
        code: TOO_LARGE,
      });
    });

    it("rejects a negative or fractional length with a RangeError", () => {
      assert.throws(() => LengthPrefixCodec.encodeHeader(-1), RangeError);
      assert.throws(() => LengthPrefixCodec.encodeHeader(1.5), RangeError);
      assert.throws(() => LengthPrefixCodec.encodeHeader(Number.NaN), RangeError);
    });

    it("rejects a negative or fractional maxFrameSize with a RangeError", () => {
      assert.throws(() => new LengthPrefixCodec({ maxFrameSize: -1 }), RangeError);
      assert.throws(() => new LengthPrefixCodec({ maxFrameSize: 0.5 }), RangeError);
      assert.throws(
        () => LengthPrefixCodec.encode(Buffer.alloc(0), { maxFrameSize: -1 }),
        RangeError,
      );
    });
  });

  describe("decoding", () => {
    it("returns a payload inside one chunk as a view of that chunk", () => {
      const chunk = Buffer.concat([
        LengthPrefixCodec.encode(Buffer.from("abc")),
        LengthPrefixCodec.encode(Buffer.from("de")),
      ]);
      const codec = new LengthPrefixCodec();
      codec.push(chunk);
      const [first, second] = frames(codec) as [Buffer, Buffer];
      assert.equal(first.toString(), "abc");
      assert.equal(second.toString(), "de");
      assert.equal(first.buffer, chunk.buffer);
      assert.equal(first.byteOffset, chunk.byteOffset + 4);
      assert.equal(second.byteOffset, chunk.byteOffset + 11);
    });

    it("copies a payload spanning chunks into one buffer of the declared size", () => {
      const codec = new LengthPrefixCodec();
      codec.push(Buffer.from([0, 0, 0, 6, 0x61, 0x62]));
      assert.equal(codec.next(), undefined);
      codec.push(Buffer.from("cd"));
      assert.equal(codec.next(), undefined);
      codec.push(Buffer.from("ef"));
      const payload = codec.next() as Buffer;
      assert.equal(payload.toString(), "abcdef");
      assert.equal(payload.length, 6);
      assert.equal(codec.bufferedLength, 0);
    });

    it("reads a header split across chunks", () => {
      const wire = LengthPrefixCodec.encode(Buffer.from("xyz"));
      for (let i = 1; i < 4; i++) {
        const codec = new LengthPrefixCodec();
        codec.push(wire.subarray(0, i));
        assert.equal(codec.next(), undefined);
        codec.push(wire.subarray(i));
        assert.equal(codec.next()?.toString(), "xyz", `split at ${i}`);
      }
    });

    it("returns empty payloads for zero-length frames", () => {
      const codec = new LengthPrefixCodec();
      codec.push(Buffer.alloc(8));
      assert.deepEqual(frames(codec), [Buffer.alloc(0), Buffer.alloc(0)]);
    });

    it("accepts a frame of exactly maxFrameSize bytes", () => {
      const codec = new LengthPrefixCodec({ maxFrameSize: 3 });
      codec.push(Buffer.from([0, 0, 0, 3, 1, 2, 3]));
      assert.deepEqual(codec.next(), Buffer.from([1, 2, 3]));
    });

    it("raises ERR_FRAME_TOO_LARGE on sight of a header over maxFrameSize", () => {
      const codec = new LengthPrefixCodec({ maxFrameSize: 3 });
      codec.push(u32(4));
      assert.throws(
        () => codec.next(),
        (err: { code?: string; size?: number; limit?: number }) =>
          err.code === TOO_LARGE && err.size === 4 && err.limit === 3,
      );
      assert.equal(codec.bufferedLength, 0);
    });

    it("rejects a 0xFFFFFFFF header with bounded buffered memory", () => {
      const codec = new LengthPrefixCodec();
      codec.push(u32(0xffffffff));
      const before = process.memoryUsage().arrayBuffers;
      assert.throws(() => codec.next(), { code: TOO_LARGE, size: 0xffffffff, limit: 16777216 });
      assert.equal(codec.bufferedLength, 0);
      assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
    });

    it("stays unusable after a frame is rejected, throwing the same error", () => {
      const codec = new LengthPrefixCodec({ maxFrameSize: 1 });
      codec.push(
        Buffer.concat([u32(2), Buffer.from("ab"), LengthPrefixCodec.encode(Buffer.from("c"))]),
      );
      let first: unknown;
      try {
        codec.next();
      } catch (err) {
        first = err;
      }
      assert.equal((first as { code?: string }).code, TOO_LARGE);
      assert.throws(
        () => codec.next(),
        (err) => err === first,
      );
      assert.throws(
        () => codec.push(Buffer.from([0, 0, 0, 0])),
        (err) => err === first,
      );
      assert.throws(
        () => codec.end(),
        (err) => err === first,
      );
      assert.equal(codec.bufferedLength, 0);
      assert.equal(codec.encode(Buffer.from("c")).length, 5);
    });

    it("returns undefined from end() when the input ended on a frame boundary", () => {
      const codec = new LengthPrefixCodec();
      assert.equal(codec.end(), undefined);
      codec.push(LengthPrefixCodec.encode(Buffer.from("a")));
      assert.equal(codec.next()?.toString(), "a");
      assert.equal(codec.end(), undefined);
    });

    it("hands out complete frames still buffered from end() first", () => {
      const codec = new LengthPrefixCodec();
      codec.push(LengthPrefixCodec.encode(Buffer.from("a")));
      codec.push(LengthPrefixCodec.encode(Buffer.from("b")));
      assert.equal(codec.end()?.toString(), "a");
      assert.equal(codec.end()?.toString(), "b");
      assert.equal(codec.end(), undefined);
    });

    it("raises ERR_INCOMPLETE_READ from end() inside a header", () => {
      const codec = new LengthPrefixCodec();
      codec.push(Buffer.from([0, 0]));
      assert.throws(
        () => codec.end(),
        (err: { code?: string; partial?: Buffer; expected?: number }) =>
          err.code === INCOMPLETE &&
          err.expected === 4 &&
          (err.partial as Buffer).equals(Buffer.from([0, 0])),
      );
      assert.equal(codec.bufferedLength, 0);
      assert.equal(codec.end(), undefined);
    });

    it("raises ERR_INCOMPLETE_READ from end() inside a body, with the bytes received", () => {
      const codec = new LengthPrefixCodec();
      codec.push(Buffer.from([0, 0, 0, 5, 0x61]));
      codec.push(Buffer.from("b"));
      assert.equal(codec.next(), undefined);
      assert.throws(
        () => codec.end(),
        (err: { code?: string; partial?: Buffer; expected?: number }) =>
          err.code === INCOMPLETE &&
          err.expected === 9 &&
          (err.partial as Buffer).equals(Buffer.from([0, 0, 0, 5, 0x61, 0x62])),
      );
      assert.equal(codec.bufferedLength, 0);
      codec.push(LengthPrefixCodec.encode(Buffer.from("new")));
      assert.equal(codec.next()?.toString(), "new");
    });

    it("raises ERR_INCOMPLETE_READ from end() after a header with no body yet", () => {
      const codec = new LengthPrefixCodec();
      codec.push(u32(2));
      assert.equal(codec.next(), undefined);
      assert.throws(() => codec.end(), { code: INCOMPLETE, expected: 6 });
    });
  });

  describe("split at every boundary", () => {
    const payloads = ["", "a", "hello world", "", "\u0000\u00ff\u0001", "x".repeat(300)].map((s) =>
      Buffer.from(s, "latin1"),
    );
    const wire = Buffer.concat(payloads.map((p) => LengthPrefixCodec.encode(p)));

    it("decodes the same frames for every 2-way split", () => {
      for (let i = 0; i <= wire.length; i++) {
        const pieces = [wire.subarray(0, i), wire.subarray(i)];
        assert.deepEqual(decodeAll(pieces), payloads, `split at ${i}`);
      }
    });

    it("decodes the same frames fed 1 byte at a time", () => {
      assert.deepEqual(decodeAll(bytePieces(wire)), payloads);
    });

    it("decodes the same frames when all pieces are pushed before reading", () => {
      const codec = new LengthPrefixCodec();
      for (const piece of bytePieces(wire)) codec.push(piece);
      assert.deepEqual(frames(codec), payloads);
      assert.equal(codec.end(), undefined);
    });
  });

  describe("properties", () => {
    it("decodes what it encodes under any chunking", () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
          fc.array(fc.nat({ max: 7000 })),
          (arrays, cuts) => {
            const payloads = arrays.map((a) => Buffer.from(a));
            const wire = Buffer.concat(payloads.map((p) => LengthPrefixCodec.encode(p)));
            assert.deepEqual(decodeAll(cut(wire, cuts)), payloads);
          },
        ),
      );
    });

    it("never throws anything but its coded errors and bounds memory, for any bytes", () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }),
          fc.integer({ min: 0, max: 64 }),
          (chunks, maxFrameSize) => {
            const codec = new LengthPrefixCodec({ maxFrameSize });
            const bound = Math.max(maxFrameSize, 3);
            try {
              for (const bytes of chunks) {
                codec.push(Buffer.from(bytes));
                assert.ok(codec.bufferedLength <= bound + bytes.length);
                for (let p = codec.next(); p !== undefined; p = codec.next()) {
                  assert.ok(p.length <= maxFrameSize);
                }
                assert.ok(codec.bufferedLength <= bound);
              }
              for (let p = codec.end(); p !== undefined; p = codec.end()) {
                assert.ok(p.length <= maxFrameSize);
              }
            } catch (err) {
              const code = (err as { code?: string }).code;
              assert.ok(code === TOO_LARGE || code === INCOMPLETE, `unexpected ${String(err)}`);
            }
            assert.equal(codec.bufferedLength, 0);
          },
        ),
      );
    });

    it("rejects any declared length above maxFrameSize before buffering its body", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 1 << 20 }),
          fc.integer({ min: 1, max: 0xffffffff }),
          (maxFrameSize, excess) => {
            const size = Math.min(maxFrameSize + excess, 0xffffffff);
            fc.pre(size > maxFrameSize);
            const codec = new LengthPrefixCodec({ maxFrameSize });
            codec.push(u32(size));
            assert.throws(() => codec.next(), { code: TOO_LARGE, size, limit: maxFrameSize });
            assert.equal(codec.bufferedLength, 0);
          },
        ),
      );
    });
  });
});
