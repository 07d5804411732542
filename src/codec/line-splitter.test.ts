import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bytePieces, cut } from "../../test/helpers/chunks.ts";
import { LineSplitter, type LineSplitterOptions } from "./line-splitter.ts";

const TOO_LONG = "ERR_LINE_TOO_LONG";

/** A line, or the code of an error thrown in its place. */
type Item = string | { error: string };

/** `input` cut at the given positions (any order, duplicates and out-of-range ignored). */

/** Calls `fn` and records what it returned or the code of what it threw. */
function collect(out: Item[], fn: () => Buffer | undefined): boolean {
  try {
    const line = fn();
    if (line === undefined) return false;
    out.push(line.toString("latin1"));
    return true;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== TOO_LONG) throw err;
    out.push({ error: code });
    return true;
  }
}

/** Feeds `pieces`, draining after each push (or only at the end), then ends the input. */
function splitAll(
  pieces: readonly Buffer[],
  options: LineSplitterOptions = {},
  drainEachPush = true,
): Item[] {
  const splitter = new LineSplitter(options);
  const out: Item[] = [];
  for (const piece of pieces) {
    splitter.push(piece);
    if (drainEachPush) while (collect(out, () => splitter.next()));
  }
  while (collect(out, () => splitter.next()));
  while (collect(out, () => splitter.end()));
  assert.equal(splitter.bufferedLength, 0);
  return out;
}

/** What splitting the whole input at once must give, written independently of the class. */
function model(input: Buffer, maxLineLength = 65536, lfOnly = false): Item[] {
  const parts = input.toString("latin1").split(lfOnly ? "\n" : /\r\n|\r|\n/);
  const last = parts.pop() as string;
  if (last !== "") parts.push(last);
  return parts.map((p) => (p.length > maxLineLength ? { error: TOO_LONG } : p));
}

function lines(splitter: LineSplitter): string[] {
  const out: string[] = [];
  for (let line = splitter.next(); line !== undefined; line = splitter.next()) {
    out.push(line.toString());
  }
  return out;
}

describe("LineSplitter", () => {
  it("ends lines at LF, CRLF and bare CR alike, without the terminator", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("a\nbb\r\nccc\rdddd"));
    assert.deepEqual(lines(splitter), ["a", "bb", "ccc"]);
    assert.equal(splitter.bufferedLength, 4);
    assert.equal(splitter.end()?.toString(), "dddd");
  });

  it("with lfOnly, ends lines at LF alone and keeps a CR in its line", () => {
    const splitter = new LineSplitter({ lfOnly: true });
    splitter.push(Buffer.from("a\nbb\r\nc\rc\r"));
    assert.deepEqual(lines(splitter), ["a", "bb\r"]);
    splitter.push(Buffer.from("\nd"));
    assert.deepEqual(lines(splitter), ["c\rc\r"]);
    assert.equal(splitter.end()?.toString(), "d");
  });

  it("is midLine from a line's first byte to its end, an over-long line included", () => {
    const splitter = new LineSplitter({ maxLineLength: 4 });
    assert.equal(splitter.midLine, false);
    splitter.push(Buffer.from("ab"));
    assert.equal(splitter.midLine, true);
    splitter.push(Buffer.from("c\n"));
    assert.deepEqual(lines(splitter), ["abc"]);
    assert.equal(splitter.midLine, false);
    splitter.push(Buffer.from("toolong"));
    assert.throws(() => splitter.next(), { code: TOO_LONG });
    assert.equal(splitter.bufferedLength, 0);
    assert.equal(splitter.midLine, true, "the rest of the long line is still to come");
    splitter.push(Buffer.from("still"));
    assert.equal(splitter.midLine, true);
    splitter.push(Buffer.from("\n"));
    assert.equal(splitter.midLine, false);
  });

  it("returns undefined while no complete line is buffered", () => {
    const splitter = new LineSplitter();
    assert.equal(splitter.next(), undefined);
    splitter.push(Buffer.from("abc"));
    assert.equal(splitter.next(), undefined);
    splitter.push(Buffer.from("def"));
    assert.equal(splitter.next(), undefined);
    splitter.push(Buffer.from("\n"));
    assert.equal(splitter.next()?.toString(), "abcdef");
  });

  it("returns a line inside one chunk as a view of that chunk", () => {
    const chunk = Buffer.from("hello\nworld\n");
    const splitter = new LineSplitter();
    splitter.push(chunk);
    const first = splitter.next() as Buffer;
    const second = splitter.next() as Buffer;
    assert.equal(first.buffer, chunk.buffer);
    assert.equal(first.byteOffset, chunk.byteOffset);
    assert.equal(second.byteOffset, chunk.byteOffset + 6);
    first[0] = 0x48;
    assert.equal(chunk.toString(), "Hello\nworld\n");
  });

  it("copies a line that spans chunks into one buffer", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("he"));
    splitter.push(Buffer.from("l"));
    splitter.push(Buffer.from("lo\nx"));
    assert.equal(splitter.next()?.toString(), "hello");
    assert.equal(splitter.bufferedLength, 1);
  });

  it("joins a CRLF split across two chunks when the CR was already returned", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("a\r"));
    assert.equal(splitter.next()?.toString(), "a");
    splitter.push(Buffer.from("\nb"));
    assert.equal(splitter.next(), undefined);
    assert.equal(splitter.end()?.toString(), "b");
  });

  it("joins a CRLF split across two chunks pushed before reading", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("a\r"));
    splitter.push(Buffer.from("\nb\n"));
    assert.deepEqual(lines(splitter), ["a", "b"]);
  });

  it("skips only the one LF that completes a split CRLF", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("a\r"));
    assert.equal(splitter.next()?.toString(), "a");
    splitter.push(Buffer.alloc(0));
    splitter.push(Buffer.from("\n"));
    splitter.push(Buffer.from("\nb\n"));
    assert.deepEqual(lines(splitter), ["", "b"]);
  });

  it("reads two CRs as two line ends", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("a\r\rb"));
    assert.deepEqual(lines(splitter), ["a", ""]);
    assert.equal(splitter.bufferedLength, 1);
    assert.equal(splitter.end()?.toString(), "b");
  });

  it("returns empty lines for consecutive terminators", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("\n\r\n\r\n"));
    assert.deepEqual(lines(splitter), ["", "", ""]);
  });

  it("returns the unterminated remainder from end() once, leaving it empty", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("x\ntail"));
    assert.deepEqual(lines(splitter), ["x"]);
    assert.equal(splitter.end()?.toString(), "tail");
    assert.equal(splitter.bufferedLength, 0);
    assert.equal(splitter.end(), undefined);
  });

  it("returns undefined from end() when the input ended on a terminator", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("x\r\n"));
    assert.deepEqual(lines(splitter), ["x"]);
    assert.equal(splitter.end(), undefined);
  });

  it("hands out complete lines still buffered from end() before the remainder", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("one\ntwo\nthree"));
    assert.equal(splitter.end()?.toString(), "one");
    assert.equal(splitter.end()?.toString(), "two");
    assert.equal(splitter.end()?.toString(), "three");
    assert.equal(splitter.end(), undefined);
  });

  it("starts a new stream after end(), forgetting a pending CR", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("a\r"));
    assert.equal(splitter.end()?.toString(), "a");
    assert.equal(splitter.end(), undefined);
    splitter.push(Buffer.from("\nb\n"));
    assert.deepEqual(lines(splitter), ["", "b"]);
  });

  it("accepts a line of exactly maxLineLength bytes", () => {
    const splitter = new LineSplitter({ maxLineLength: 4 });
    splitter.push(Buffer.from("abcd"));
    assert.equal(splitter.next(), undefined);
    splitter.push(Buffer.from("\nefgh"));
    assert.equal(splitter.next()?.toString(), "abcd");
    assert.equal(splitter.end()?.toString(), "efgh");
  });

  it("throws ERR_LINE_TOO_LONG as soon as more than maxLineLength bytes lack a terminator", () => {
    const splitter = new LineSplitter({ maxLineLength: 4 });
    splitter.push(Buffer.from("abcd"));
    assert.equal(splitter.next(), undefined);
    splitter.push(Buffer.from("e"));
    assert.throws(
      () => splitter.next(),
      (err: { code?: string; limit?: number }) => err.code === TOO_LONG && err.limit === 4,
    );
    assert.equal(splitter.bufferedLength, 0);
  });

  it("raises ERR_LINE_TOO_LONG once for an over-long line and returns the next line intact", () => {
    const splitter = new LineSplitter({ maxLineLength: 10 });
    const out: Item[] = [];
    const pieces = ["ok\n0123", "456789", "abcdef", "ghij", "klm\r", "\nnext line\n"];
    for (const piece of pieces) {
      splitter.push(Buffer.from(piece));
      while (collect(out, () => splitter.next()));
    }
    assert.deepEqual(out, ["ok", { error: TOO_LONG }, "next line"]);
    assert.equal(splitter.end(), undefined);
  });

  it("raises ERR_LINE_TOO_LONG for an over-long line whose terminator is already buffered", () => {
    const splitter = new LineSplitter({ maxLineLength: 3 });
    splitter.push(Buffer.from("abcdef\r\nxyz\r"));
    assert.throws(() => splitter.next(), { code: TOO_LONG });
    assert.equal(splitter.next()?.toString(), "xyz");
    splitter.push(Buffer.from("\n"));
    assert.equal(splitter.next(), undefined);
    assert.equal(splitter.end(), undefined);
  });

  it("raises ERR_LINE_TOO_LONG from end() for an over-long remainder", () => {
    const splitter = new LineSplitter({ maxLineLength: 3 });
    splitter.push(Buffer.from("abcdef"));
    assert.throws(() => splitter.end(), { code: TOO_LONG });
    assert.equal(splitter.end(), undefined);
    splitter.push(Buffer.from("new\n"));
    assert.deepEqual(lines(splitter), ["new"]);
  });

  it("holds at most maxLineLength plus one chunk while a 10 MB line streams in", () => {
    const max = 65536;
    const chunkSize = 64 * 1024;
    const splitter = new LineSplitter({ maxLineLength: max });
    const chunk = Buffer.alloc(chunkSize, 0x61);
    const total = 10 * 1024 * 1024;
    let errors = 0;
    let peak = 0;
    for (let sent = 0; sent < total; sent += chunkSize) {
      splitter.push(chunk);
      peak = Math.max(peak, splitter.bufferedLength);
      try {
        assert.equal(splitter.next(), undefined);
      } catch (err) {
        assert.equal((err as { code?: string }).code, TOO_LONG);
        errors++;
      }
      assert.ok(splitter.bufferedLength <= max, `${splitter.bufferedLength} buffered`);
    }
    assert.ok(peak <= max + chunkSize, `peak ${peak}`);
    assert.equal(errors, 1);
    splitter.push(Buffer.from("aaaa\nafter\n"));
    assert.equal(splitter.next()?.toString(), "after");
    assert.equal(splitter.end(), undefined);
  });

  it("finds lines in a large chunk of many short lines", () => {
    const count = 100_000;
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("line\n".repeat(count)));
    let n = 0;
    while (splitter.next() !== undefined) n++;
    assert.equal(n, count);
  });

  it("discardPartial drops the unfinished line, and an over-long one being dropped ends there", () => {
    const splitter = new LineSplitter({ maxLineLength: 4 });
    splitter.push(Buffer.from("one\nhalf"));
    assert.equal(splitter.next()?.toString(), "one");
    assert.equal(splitter.next(), undefined);
    splitter.discardPartial();
    assert.equal(splitter.midLine, false);
    splitter.push(Buffer.from("two\n"));
    assert.equal(splitter.next()?.toString(), "two");
    splitter.push(Buffer.from("too long"));
    assert.throws(() => splitter.next(), { code: TOO_LONG });
    splitter.discardPartial();
    splitter.push(Buffer.from("new\n"));
    assert.equal(splitter.next()?.toString(), "new");
  });

  it("rejects a negative or fractional maxLineLength with a RangeError", () => {
    assert.throws(() => new LineSplitter({ maxLineLength: -1 }), RangeError);
    assert.throws(() => new LineSplitter({ maxLineLength: 1.5 }), RangeError);
    assert.throws(() => new LineSplitter({ maxLineLength: Number.NaN }), RangeError);
    assert.doesNotThrow(() => new LineSplitter({ maxLineLength: Number.POSITIVE_INFINITY }));
  });

  describe("split at every boundary", () => {
    const inputs = [
      "alpha\nbeta\r\ngamma\rdelta\r\r\n\n\repsilon",
      "\r\n\r\n\n\r\r\nx",
      "no terminator at all",
      "a\rb\nc\r\nd\r",
      "toolong-line\nok\r\nanother-too-long\r\nend",
    ];
    const options = { maxLineLength: 8 };

    for (const text of inputs) {
      const input = Buffer.from(text);
      const expected = model(input, options.maxLineLength);

      it(`gives the same lines for every 2-way split of ${JSON.stringify(text)}`, () => {
        assert.deepEqual(splitAll([input], options), expected);
        for (let i = 0; i <= input.length; i++) {
          const pieces = [input.subarray(0, i), input.subarray(i)];
          assert.deepEqual(splitAll(pieces, options), expected, `split at ${i}`);
          assert.deepEqual(splitAll(pieces, options, false), expected, `split at ${i}, late`);
        }
      });

      it(`gives the same lines fed 1 byte at a time: ${JSON.stringify(text)}`, () => {
        assert.deepEqual(splitAll(bytePieces(input), options), expected);
      });
    }
  });

  describe("properties", () => {
    const lineArb = fc
      .uint8Array({ maxLength: 40 })
      .map((bytes) => Buffer.from(bytes.filter((b) => b !== 0x0a && b !== 0x0d)));
    const terminatorArb = fc.constantFrom("\n", "\r\n", "\r");

    it("splits joined lines back into the same lines under any chunking", () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(lineArb, terminatorArb)),
          fc.boolean(),
          fc.array(fc.nat({ max: 2000 })),
          (pairs, unterminatedLast, cuts) => {
            const parts: Buffer[] = [];
            pairs.forEach(([line, terminator], i) => {
              // A CR followed by an empty LF-ended line would read as one CRLF: use CRLF.
              const next = pairs[i + 1];
              const t =
                terminator === "\r" &&
                next !== undefined &&
                next[0].length === 0 &&
                next[1] === "\n"
                  ? "\r\n"
                  : terminator;
              parts.push(line);
              const isLast = i === pairs.length - 1;
              if (!(isLast && unterminatedLast && line.length > 0)) parts.push(Buffer.from(t));
            });
            const input = Buffer.concat(parts);
            const expected = pairs.map(([line]) => line.toString("latin1"));
            assert.deepEqual(splitAll(cut(input, cuts)), expected);
          },
        ),
      );
    });

    for (const lfOnly of [false, true]) {
      const whole = lfOnly
        ? "with lfOnly, matches splitting the whole input at LF"
        : "matches splitting the whole input";
      it(`${whole}, errors included, for any bytes and chunking`, () => {
        const byteArb = fc.constantFrom(0x0a, 0x0d, 0x61, 0x62, 0x00, 0xff);
        fc.assert(
          fc.property(
            fc.array(byteArb, { maxLength: 200 }),
            fc.array(fc.nat({ max: 200 })),
            fc.integer({ min: 0, max: 10 }),
            fc.boolean(),
            (bytes, cuts, maxLineLength, drainEachPush) => {
              const input = Buffer.from(bytes);
              const out = splitAll(cut(input, cuts), { maxLineLength, lfOnly }, drainEachPush);
              assert.deepEqual(out, model(input, maxLineLength, lfOnly));
            },
          ),
        );
      });
    }

    it("never throws anything but ERR_LINE_TOO_LONG and stays within its memory bound", () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 30 }),
          fc.integer({ min: 0, max: 32 }),
          (chunks, maxLineLength) => {
            const splitter = new LineSplitter({ maxLineLength });
            const drain = (fn: () => Buffer | undefined): void => {
              for (;;) {
                try {
                  const line = fn();
                  if (line === undefined) return;
                  assert.ok(line.length <= maxLineLength);
                } catch (err) {
                  assert.equal((err as { code?: string }).code, TOO_LONG);
                }
              }
            };
            for (const bytes of chunks) {
              splitter.push(Buffer.from(bytes));
              assert.ok(splitter.bufferedLength <= maxLineLength + bytes.length);
              drain(() => splitter.next());
              assert.ok(splitter.bufferedLength <= maxLineLength);
            }
            drain(() => splitter.end());
            assert.equal(splitter.bufferedLength, 0);
          },
        ),
      );
    });
  });
});
