import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bytePieces, cut } from "../../test/helpers/chunks.ts";
import { TelnetFilter } from "./telnet-filter.ts";

const IAC = 0xff;
const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(
    parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))),
  );

function filterAll(pieces: readonly Buffer[]): Buffer {
  const filter = new TelnetFilter();
  return Buffer.concat(pieces.map((p) => Buffer.from(filter.push(p))));
}

/** A random telnet protocol sequence (never text). */
const telnetSequence = fc.oneof(
  fc
    .tuple(fc.integer({ min: 251, max: 254 }), fc.integer({ min: 0, max: 255 }))
    .map(([verb, opt]) => [IAC, verb, opt]),
  fc.integer({ min: 241, max: 249 }).map((cmd) => [IAC, cmd]),
  fc
    .uint8Array({ maxLength: 40 })
    .map((body) => [
      IAC,
      250,
      ...[...body].flatMap((b) => (b === IAC ? [IAC, IAC] : [b])),
      IAC,
      240,
    ]),
);

describe("TelnetFilter", () => {
  it("drops negotiation, subnegotiation and commands, keeping the text", () => {
    const input = bytes(
      [IAC, 253, 1],
      "he",
      [IAC, 251, 31],
      "llo",
      [IAC, 250, 24, 0],
      "xterm",
      [IAC, 240],
      "\r\n",
      [IAC, 241],
    );
    assert.equal(filterAll([input]).toString(), "hello\r\n");
  });

  it("turns IAC IAC into one 0xFF byte and telnet's CR NUL into CR", () => {
    assert.deepEqual(
      [...filterAll([bytes("a", [IAC, IAC], "b\r", [0], "c")])],
      [...bytes("a", [IAC], "b\rc")],
    );
  });

  it("handles every sequence split across chunks, down to one byte at a time", () => {
    const input = bytes("x\r", [0, IAC, 250, 1, IAC, IAC, 2, IAC, 240, IAC, 254, 3], "y", [
      IAC,
      IAC,
    ]);
    const whole = filterAll([input]);
    assert.deepEqual([...whole], [...bytes("x\ry", [IAC])]);
    assert.deepEqual(filterAll(bytePieces(input)), whole);
  });

  it("is midCommand from a command's IAC to its end, through a subnegotiation", () => {
    const filter = new TelnetFilter();
    assert.equal(filter.midCommand, false);
    filter.push(Buffer.from([0x68, 0x0d]));
    assert.equal(filter.midCommand, false, "a CR waiting for its NUL is text");
    filter.push(Buffer.from([0xff, 0xfa, 0x18]));
    assert.equal(filter.midCommand, true);
    filter.push(Buffer.from("endless subnegotiation"));
    assert.equal(filter.midCommand, true);
    filter.push(Buffer.from([0xff, 0xf0]));
    assert.equal(filter.midCommand, false);
    filter.push(Buffer.from([0xff, 0xfd]));
    assert.equal(filter.midCommand, true, "the option byte is still to come");
    filter.push(Buffer.from([0x01]));
    assert.equal(filter.midCommand, false);
  });

  it("returns a chunk without IAC or NUL as it is, with no copy", () => {
    const chunk = Buffer.from("plain text\r\n");
    assert.equal(new TelnetFilter().push(chunk), chunk);
  });

  it("property: text with telnet sequences inserted anywhere comes out as the text, however it is cut", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 20 }).map((a) => [...a].filter((b) => b !== IAC && b !== 0)),
            telnetSequence,
          ),
          { maxLength: 30 },
        ),
        fc.array(fc.nat(2000)),
        (parts, cuts) => {
          const input = Buffer.from(parts.flat());
          // The text: what the non-sequence parts hold, NUL after CR excepted (none: NUL filtered).
          const text = Buffer.from(parts.filter((p) => p[0] !== IAC).flat());
          assert.deepEqual(filterAll(cut(input, cuts)), text);
        },
      ),
    );
  });

  it("property: arbitrary bytes never throw, never grow, and cutting never changes the result", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.array(fc.nat(500)), (raw, cuts) => {
        const input = Buffer.from(raw);
        const whole = filterAll([input]);
        assert.ok(whole.length <= input.length);
        assert.deepEqual(filterAll(cut(input, cuts)), whole);
      }),
    );
  });
});
