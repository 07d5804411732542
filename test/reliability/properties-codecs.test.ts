/**
 * Property tests of the codecs in src/codec/ beyond those beside them: arbitrary bytes at
 * arbitrary chunk boundaries give only coded errors, stay within the configured limits,
 * and agree with a model written independently of the code.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ChunkQueue } from "../../src/codec/chunk-queue.ts";
import { LengthPrefixCodec } from "../../src/codec/length-prefix-codec.ts";
import { LineSplitter } from "../../src/codec/line-splitter.ts";
import { TelnetFilter } from "../../src/codec/telnet-filter.ts";
import { FrameTooLargeError, IncompleteReadError } from "../../src/core/errors.ts";
import { cut } from "../helpers/chunks.ts";
import { assertCoded, budget, bytesWith, cutsArb } from "./properties-helpers.ts";

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const IAC = 0xff;

describe("LineSplitter (properties)", () => {
  type Item = string | "TOO_LONG";

  /** Splitting one whole stream, written from the documented rules, not from the class. */
  function model(input: Buffer, maxLineLength: number): Item[] {
    const parts = input.toString("latin1").split(/\r\n|\r|\n/);
    if (parts[parts.length - 1] === "") parts.pop();
    return parts.map((p) => (p.length > maxLineLength ? "TOO_LONG" : p));
  }

  /** Calls `fn` until it returns undefined, recording lines and limit errors. */
  function drain(out: Item[], fn: () => Buffer | undefined, maxLineLength: number): void {
    for (;;) {
      let line: Buffer | undefined;
      try {
        line = fn();
      } catch (err) {
        assertCoded(err, ["ERR_LINE_TOO_LONG"]);
        out.push("TOO_LONG");
        continue;
      }
      if (line === undefined) return;
      assert.ok(line.length <= maxLineLength, `a line of ${line.length} > ${maxLineLength}`);
      out.push(line.toString("latin1"));
    }
  }

  it("reads a stream flushed with end() at any points as separate streams cut there", () => {
    // The chat server takes a partial line as complete when its sender pauses (end()),
    // then goes on pushing: each flush must start a fresh stream, within the limit.
    fc.assert(
      fc.property(
        bytesWith([CR, LF], 300),
        cutsArb(300),
        fc.array(fc.boolean(), { maxLength: 30 }),
        fc.integer({ min: 0, max: 40 }),
        (input, cuts, flushes, maxLineLength) => {
          const splitter = new LineSplitter({ maxLineLength });
          const out: Item[] = [];
          const expected: Item[] = [];
          let segment: Buffer[] = [];
          cut(input, cuts).forEach((piece, i) => {
            splitter.push(piece);
            assert.ok(splitter.bufferedLength <= maxLineLength + piece.length);
            drain(out, () => splitter.next(), maxLineLength);
            assert.ok(splitter.bufferedLength <= maxLineLength);
            segment.push(piece);
            if (flushes[i] === true) {
              // Once next() has given all it has, end() has no reason left to throw.
              const rest = splitter.end();
              if (rest !== undefined) {
                assert.ok(rest.length <= maxLineLength);
                out.push(rest.toString("latin1"));
              }
              assert.equal(splitter.end(), undefined);
              assert.equal(splitter.bufferedLength, 0);
              expected.push(...model(Buffer.concat(segment), maxLineLength));
              segment = [];
            }
          });
          drain(out, () => splitter.end(), maxLineLength);
          assert.equal(splitter.bufferedLength, 0);
          expected.push(...model(Buffer.concat(segment), maxLineLength));
          assert.deepEqual(out, expected);
        },
      ),
      budget(400),
    );
  });

  it("gives the same lines whether it is drained after every push or only at the end", () => {
    fc.assert(
      fc.property(
        bytesWith([CR, LF], 400),
        cutsArb(400),
        fc.integer({ min: 0, max: 64 }),
        (input, cuts, maxLineLength) => {
          const eager = new LineSplitter({ maxLineLength });
          const lazy = new LineSplitter({ maxLineLength });
          const a: Item[] = [];
          const b: Item[] = [];
          for (const piece of cut(input, cuts)) {
            eager.push(piece);
            drain(a, () => eager.next(), maxLineLength);
            lazy.push(piece);
          }
          drain(b, () => lazy.next(), maxLineLength);
          drain(a, () => eager.end(), maxLineLength);
          drain(b, () => lazy.end(), maxLineLength);
          assert.deepEqual(a, b);
          assert.deepEqual(a, model(input, maxLineLength));
        },
      ),
      budget(300),
    );
  });
});

describe("LengthPrefixCodec (properties)", () => {
  const payloadsArb = fc.array(
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    { maxLength: 8 },
  );

  it("ends a stream cut anywhere with ERR_INCOMPLETE_READ holding exactly the unfinished frame", () => {
    fc.assert(
      fc.property(payloadsArb, fc.nat(), cutsArb(400), (payloads, at, cuts) => {
        const frames = payloads.map((p) => LengthPrefixCodec.encode(p));
        const wire = Buffer.concat(frames);
        const end = at % (wire.length + 1);
        const codec = new LengthPrefixCodec();
        const got: Buffer[] = [];
        for (const piece of cut(wire.subarray(0, end), cuts)) {
          codec.push(piece);
          for (let p = codec.next(); p !== undefined; p = codec.next()) got.push(Buffer.from(p));
        }
        // The frames wholly inside the first `end` bytes, and where the unfinished one starts.
        let start = 0;
        let complete = 0;
        while (complete < frames.length && start + (frames[complete] as Buffer).length <= end) {
          start += (frames[complete] as Buffer).length;
          complete++;
        }
        assert.deepEqual(got, payloads.slice(0, complete));
        if (start === end) {
          assert.equal(codec.end(), undefined);
        } else {
          let caught: unknown;
          try {
            codec.end();
          } catch (err) {
            caught = err;
          }
          assertCoded(caught, ["ERR_INCOMPLETE_READ"]);
          assert.ok(caught instanceof IncompleteReadError);
          assert.deepEqual(caught.partial, wire.subarray(start, end));
          const declared = end - start >= 4 ? (payloads[complete] as Buffer).length : 0;
          assert.equal(caught.expected, end - start >= 4 ? 4 + declared : 4);
        }
        assert.equal(codec.bufferedLength, 0);
        // Left empty and usable for a new stream.
        codec.push(LengthPrefixCodec.encode(Buffer.from("again")));
        assert.equal(codec.next()?.toString(), "again");
      }),
      budget(400),
    );
  });

  it("decodes frames until the first one over maxFrameSize, then stays failed with the same error", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
          { maxLength: 8 },
        ),
        fc.integer({ min: 0, max: 48 }),
        cutsArb(500),
        (payloads, maxFrameSize, cuts) => {
          const wire = Buffer.concat(payloads.map((p) => LengthPrefixCodec.encode(p)));
          const codec = new LengthPrefixCodec({ maxFrameSize });
          const bound = Math.max(maxFrameSize, 3);
          const got: Buffer[] = [];
          let failure: unknown;
          try {
            for (const piece of cut(wire, cuts)) {
              codec.push(piece);
              assert.ok(codec.bufferedLength <= bound + piece.length);
              for (let p = codec.next(); p !== undefined; p = codec.next()) got.push(p);
              assert.ok(codec.bufferedLength <= bound);
            }
            for (let p = codec.end(); p !== undefined; p = codec.end()) got.push(p);
          } catch (err) {
            failure = err;
          }
          const firstTooLarge = payloads.findIndex((p) => p.length > maxFrameSize);
          if (firstTooLarge === -1) {
            assert.equal(failure, undefined);
            assert.deepEqual(got, payloads);
            return;
          }
          assertCoded(failure, ["ERR_FRAME_TOO_LARGE"]);
          assert.ok(failure instanceof FrameTooLargeError);
          assert.equal(failure.size, (payloads[firstTooLarge] as Buffer).length);
          assert.equal(failure.limit, maxFrameSize);
          assert.deepEqual(got, payloads.slice(0, firstTooLarge));
          assert.equal(codec.bufferedLength, 0);
          assert.throws(
            () => codec.push(Buffer.from([0, 0, 0, 0])),
            (e) => e === failure,
          );
          assert.throws(
            () => codec.next(),
            (e) => e === failure,
          );
          assert.throws(
            () => codec.end(),
            (e) => e === failure,
          );
          assert.equal(codec.bufferedLength, 0);
        },
      ),
      budget(400),
    );
  });

  it("encodes a payload within maxFrameSize as its header then a copy, and refuses a longer one with a coded error", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
        fc.integer({ min: 0, max: 100 }),
        (payload, maxFrameSize) => {
          const codec = new LengthPrefixCodec({ maxFrameSize });
          if (payload.length > maxFrameSize) {
            for (const encode of [
              () => codec.encode(payload),
              () => codec.encodeHeader(payload.length),
              () => LengthPrefixCodec.encode(payload, { maxFrameSize }),
            ]) {
              assert.throws(encode, (err) => {
                assertCoded(err, ["ERR_FRAME_TOO_LARGE"]);
                return true;
              });
            }
            return;
          }
          const frame = codec.encode(payload);
          assert.deepEqual(frame, Buffer.concat([codec.encodeHeader(payload.length), payload]));
          codec.push(frame);
          assert.deepEqual(codec.next(), payload);
          assert.equal(codec.end(), undefined);
        },
      ),
      budget(300),
    );
  });
});

describe("TelnetFilter (properties)", () => {
  /** Data as a telnet peer sends it: IAC doubled, and every CR followed by NUL or as is. */
  function telnetEscape(data: Buffer): Buffer {
    const out: number[] = [];
    for (const b of data) {
      if (b === IAC) out.push(IAC, IAC);
      else if (b === CR) out.push(CR, NUL);
      else out.push(b);
    }
    return Buffer.from(out);
  }

  const command = fc.oneof(
    fc
      .tuple(fc.integer({ min: 251, max: 254 }), fc.integer({ min: 0, max: 255 }))
      .map(([verb, option]) => Buffer.from([IAC, verb, option])),
    // NOP, DM, AYT, EC, GA: commands that leave the text alone (IP and its kind cancel a line).
    fc.constantFrom(241, 242, 246, 247, 249).map((cmd) => Buffer.from([IAC, cmd])),
    bytesWith([IAC, 240, 250], 60).map((body) =>
      Buffer.concat([Buffer.from([IAC, 250]), telnetEscape(body), Buffer.from([IAC, 240])]),
    ),
  );

  it("gives back any bytes escaped the telnet way, with commands anywhere, however the stream is cut", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(bytesWith([IAC, CR, NUL, LF], 40), fc.option(command)), {
          maxLength: 10,
        }),
        cutsArb(800),
        (parts, cuts) => {
          const wire = Buffer.concat(
            parts.flatMap(([data, cmd]) => [telnetEscape(data), cmd ?? Buffer.alloc(0)]),
          );
          const filter = new TelnetFilter();
          const out = Buffer.concat(cut(wire, cuts).map((p) => Buffer.from(filter.push(p))));
          assert.deepEqual(out, Buffer.concat(parts.map(([data]) => data)));
        },
      ),
      budget(400),
    );
  });
});

describe("ChunkQueue (properties)", () => {
  type Op =
    | { op: "push"; data: Buffer }
    | { op: "pushMany"; count: number }
    | { op: "unshift"; data: Buffer }
    | { op: "take"; n: number }
    | { op: "skip"; n: number }
    | { op: "indexOf"; needle: number | Buffer; from: number }
    | { op: "byteAt"; at: number }
    | { op: "clear" };

  const small = (maxLength: number) =>
    fc.uint8Array({ maxLength }).map((a) => Buffer.from(a.map((b) => b % 4)));
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: small(16).map((data) => ({ op: "push", data }) as const) },
    { weight: 1, arbitrary: fc.nat(1500).map((count) => ({ op: "pushMany", count }) as const) },
    { weight: 2, arbitrary: small(8).map((data) => ({ op: "unshift", data }) as const) },
    {
      weight: 3,
      arbitrary: fc.integer({ min: -2, max: 40 }).map((n) => ({ op: "take", n }) as const),
    },
    {
      weight: 2,
      arbitrary: fc.integer({ min: -2, max: 40 }).map((n) => ({ op: "skip", n }) as const),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.oneof(fc.nat(3), small(3)), fc.nat(80))
        .map(([needle, from]) => ({ op: "indexOf", needle, from }) as const),
    },
    { weight: 2, arbitrary: fc.nat(80).map((at) => ({ op: "byteAt", at }) as const) },
    { weight: 1, arbitrary: fc.constant({ op: "clear" } as const) },
  );

  /** The bytes the queue holds, from its chunk views. */
  function contents(q: ChunkQueue): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i < q.chunkCount; i++) {
      const chunk = q.chunk(i) as Buffer;
      parts.push(i === 0 ? chunk.subarray(q.headOffset) : chunk);
    }
    return Buffer.concat(parts);
  }

  it("agrees with one flat Buffer for any sequence of operations", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const q = new ChunkQueue();
        let model = Buffer.alloc(0);
        for (const o of ops) {
          switch (o.op) {
            case "push":
              q.push(o.data);
              model = Buffer.concat([model, o.data]);
              break;
            case "pushMany":
              for (let i = 0; i < o.count; i++) q.push(Buffer.from([i % 4]));
              model = Buffer.concat([
                model,
                Buffer.from(Array.from({ length: o.count }, (_, i) => i % 4)),
              ]);
              break;
            case "unshift":
              q.unshift(o.data);
              model = Buffer.concat([o.data, model]);
              break;
            case "take": {
              const count = Math.max(0, Math.min(o.n, model.length));
              assert.deepEqual(q.take(o.n), model.subarray(0, count));
              model = model.subarray(count);
              break;
            }
            case "skip": {
              const count = Math.max(0, Math.min(o.n, model.length));
              q.skip(o.n);
              model = model.subarray(count);
              break;
            }
            case "indexOf": {
              const expected =
                typeof o.needle !== "number" && o.needle.length === 0
                  ? o.from <= model.length
                    ? o.from
                    : -1
                  : model.indexOf(o.needle, o.from);
              assert.equal(q.indexOf(o.needle, o.from), expected, JSON.stringify(o));
              break;
            }
            case "byteAt":
              if (o.at < model.length) assert.equal(q.byteAt(o.at), model[o.at]);
              else assert.throws(() => q.byteAt(o.at), RangeError);
              break;
            case "clear":
              q.clear();
              model = Buffer.alloc(0);
              break;
          }
          assert.equal(q.length, model.length);
        }
        assert.deepEqual(contents(q), model);
      }),
      budget(300),
    );
  });
});
