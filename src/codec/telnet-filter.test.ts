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
  // NOP, DM, AYT, EC, GA: commands that leave the text alone (IP and its kind cancel a line).
  fc.constantFrom(241, 242, 246, 247, 249).map((cmd) => [IAC, cmd]),
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

  it("says nothing to a peer that sends no telnet command, whatever its bytes", () => {
    const filter = new TelnetFilter();
    const text = Buffer.from("echo муж, NÃO há problema 😀\r\n\x03\x83\x9d", "utf8");
    assert.deepEqual(filterAll(bytePieces(text)), text);
    assert.equal(filter.push(text), text);
    assert.equal(filter.takeReply(), undefined);
    assert.equal(filter.isTelnet, false);
  });

  it("takes a stray 0xFF before a byte that is no command for a program's byte, not for telnet", () => {
    const filter = new TelnetFilter();
    // Invalid UTF-8 from a program: FE FF '|' (FF 7C is no telnet command).
    const out = filter.push(Buffer.from([0x62, 0xfe, IAC, 0x7c, 0x0a]));
    assert.deepEqual(out, Buffer.from([0x62, 0xfe, 0x0a]), "the IAC and its byte dropped");
    assert.equal(filter.takeReply(), undefined, "nothing sent to a peer that is not telnet");
    assert.equal(filter.isTelnet, false);
  });

  it("asks a telnet peer for BINARY once, on its first command, and answers every DO TIMING-MARK", () => {
    const filter = new TelnetFilter();
    filter.push(bytes("hi", [IAC, 253, 6]));
    assert.deepEqual(filter.takeReply(), Buffer.from([IAC, 253, 0, IAC, 251, 6]));
    assert.equal(filter.takeReply(), undefined, "handed out once");
    assert.equal(filter.isTelnet, true);
    assert.equal(filter.binary, false);
    filter.push(Buffer.from([IAC, 251, 0]));
    assert.equal(filter.takeReply(), undefined, "WILL BINARY answers our DO: no reply");
    assert.equal(filter.binary, true);
    filter.push(Buffer.from([IAC, 244, IAC, 253, 6]));
    assert.deepEqual(filter.takeReply(), Buffer.from([IAC, 251, 6]));
  });

  it("refuses the other options and never acknowledges a refusal (no negotiation loop)", () => {
    const filter = new TelnetFilter();
    // DO ECHO, WILL NAWS, DO BINARY, DONT SGA, WONT TTYPE.
    filter.push(Buffer.from([IAC, 253, 1, IAC, 251, 31, IAC, 253, 0, IAC, 254, 3, IAC, 252, 24]));
    assert.deepEqual(
      filter.takeReply(),
      Buffer.from([IAC, 253, 0, IAC, 252, 1, IAC, 254, 31, IAC, 252, 0]),
    );
    filter.push(Buffer.from([IAC, 252, 0]));
    assert.equal(filter.takeReply(), undefined, "WONT BINARY to our DO: refused, not answered");
    assert.equal(filter.binary, false);
    filter.push(Buffer.from([IAC, 251, 0, IAC, 252, 0]));
    assert.deepEqual(filter.takeReply(), Buffer.from([IAC, 253, 0, IAC, 254, 0]));
  });

  it("answers IAC AYT with [yes]", () => {
    const filter = new TelnetFilter();
    filter.push(Buffer.from([IAC, 246]));
    assert.deepEqual(filter.takeReply(), bytes([IAC, 253, 0], "\r\n[yes]\r\n"));
  });

  it("puts back the UTF-8 byte telnet took for Ctrl-C, Ctrl-\\, Ctrl-Z, Ctrl-O or Ctrl-D before BINARY", () => {
    // What telnet sends for `echo муж` before BINARY: у (D1 83) masks to ^C, sent as IAC IP
    // and IAC DO TIMING-MARK in the place of 0x83.
    const wire = bytes("echo \xd0\xbc\xd1", [IAC, 244, IAC, 253, 6], "\xd0\xb6\r\n");
    assert.equal(filterAll([wire]).toString(), "echo муж\r\n");
    assert.equal(filterAll(bytePieces(wire)).toString(), "echo муж\r\n");
    const cases: Array<[number, string]> = [
      [244, "NÃO"], // Ã: C3 83, ^C → IP
      [238, "Мир"], // М: D0 9C, ^\\ → ABORT
      [243, "Мир"], // the same, as BRK (telnet in kludge line mode)
      [237, "Карол"], // К: D0 9A, ^Z → SUSP
      [245, "я"], // я: D1 8F, ^O → AO
      [236, "Ä"], // Ä: C3 84, ^D → EOF
    ];
    for (const [command, word] of cases) {
      const utf8 = Buffer.from(word, "utf8");
      const at = utf8.findIndex(
        (b, i) => i > 0 && (b & 0x7f) < 0x20 && (utf8[i - 1] as number) >= 0xc0,
      );
      const masked = Buffer.concat([
        utf8.subarray(0, at),
        Buffer.from([IAC, command, IAC, 253, 6]),
        utf8.subarray(at + 1),
      ]);
      assert.equal(filterAll(bytePieces(masked)).toString(), word, `IAC ${command} in ${word}`);
    }
  });

  it("takes IAC IP in a UTF-8 character as Ctrl-C once BINARY is on", () => {
    const filter = new TelnetFilter();
    filter.push(Buffer.from([IAC, 251, 0]));
    assert.equal(filter.binary, true);
    assert.deepEqual([...filter.push(Buffer.from([0xd1, IAC, 244, 0x61]))], [0x61]);
    assert.equal(filter.cancelledLine, true);
  });

  it("cancels the line being typed on IAC IP, ABORT, SUSP, BRK and EL", () => {
    for (const command of [244, 238, 237, 243, 248]) {
      const filter = new TelnetFilter();
      assert.equal(filter.push(Buffer.from("held ")).toString(), "held ");
      assert.equal(filter.cancelledLine, false);
      assert.equal(filter.push(bytes("more", [IAC, command], "new")).toString(), "new");
      assert.equal(filter.cancelledLine, true, `IAC ${command}: the held part goes too`);
      assert.equal(filter.interrupted, true);
      const out = filter.push(bytes("done\r\nhalf", [IAC, command], "next\n"));
      assert.equal(out.toString(), "done\r\nnext\n");
      assert.equal(filter.cancelledLine, false, "a line ended before it: nothing held to drop");
      assert.equal(filter.interrupted, true);
      filter.push(Buffer.from("plain"));
      assert.equal(filter.interrupted, false);
    }
  });

  it("leaves the text alone on IAC AO, NOP, DM, EC and GA", () => {
    const filter = new TelnetFilter();
    filter.push(Buffer.from("a"));
    const out = filter.push(bytes("b", [IAC, 245, IAC, 241, IAC, 242, IAC, 247, IAC, 249], "c"));
    assert.equal(out.toString(), "bc");
    assert.equal(filter.cancelledLine, false);
    assert.equal(filter.interrupted, false);
  });
});
