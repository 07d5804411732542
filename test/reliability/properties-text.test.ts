/**
 * Property tests of what turns untrusted text into something shown on a terminal (the
 * chat's escaping, nicknames and relayed lines, the command shell's replies) and of the
 * parsers of what a user types on the command line (`scan`'s ports, the CLI's numbers).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "commander";
import fc from "fast-check";
import { ChatRoom, type Member, type MemberLink } from "../../src/apps/chat/room.ts";
import {
  decodeLine,
  escapeControls,
  MAX_NICK_LENGTH,
  nickProblem,
} from "../../src/apps/chat/text.ts";
import { parsePorts } from "../../src/apps/scan.ts";
import { runCommand } from "../../src/apps/services/command-shell.ts";
import { parseCount, parseCountOrZero, parsePort, parseSeconds } from "../../src/cli/parsers.ts";
import { LineSplitter } from "../../src/codec/line-splitter.ts";
import { TelnetFilter } from "../../src/codec/telnet-filter.ts";
import { ArgumentError, LineTooLongError } from "../../src/core/errors.ts";
import { escapeControlCodes } from "../../src/core/escape.ts";
import { cut } from "../helpers/chunks.ts";
import {
  assertCoded,
  assertPrintable,
  budget,
  cutsArb,
  TERMINAL_CONTROL,
  textArb,
} from "./properties-helpers.ts";

/** Any text: hostile controls, any code point, and lone surrogates. */
const anyText = fc.oneof(
  textArb(10),
  fc.string({ maxLength: 30, unit: "binary" }),
  fc.string({
    maxLength: 30,
    unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  }),
);

describe("terminal escaping (properties)", () => {
  for (const [name, escapeText] of [
    ["escapeControls", escapeControls],
    ["escapeControlCodes", escapeControlCodes],
  ] as const) {
    it(`${name} leaves no C0, C1 or bidirectional control, changes nothing else, and is idempotent`, () => {
      fc.assert(
        fc.property(anyText, (text) => {
          const shown = escapeText(text);
          assertPrintable(shown);
          assert.equal(escapeText(shown), shown);
          if (!TERMINAL_CONTROL.test(text)) assert.equal(shown, text);
          // Everything but the controls comes through in order. The kept characters are
          // taken one by one from the text: removing the controls first could join a lone
          // high and a lone low surrogate that a control stood between into one character
          // the text never had ("\ud800\u0000\udc00").
          const kept = [...text].filter((ch) => !TERMINAL_CONTROL.test(ch));
          let at = 0;
          for (const ch of kept) {
            at = shown.indexOf(ch, at);
            assert.notEqual(at, -1, `${JSON.stringify(ch)} lost from ${JSON.stringify(text)}`);
            at += ch.length;
          }
        }),
        budget(2000),
      );
    });
  }

  it("decodeLine turns any bytes into text, and valid UTF-8 into the text it encodes", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 60 }).map((a) => ({ bytes: Buffer.from(a), text: null })),
          fc
            .string({ maxLength: 30, unit: "binary" })
            .map((text) => ({ bytes: Buffer.from(text, "utf8"), text })),
        ),
        ({ bytes, text }) => {
          const decoded = decodeLine(bytes);
          assert.equal(typeof decoded, "string");
          if (text !== null) assert.equal(decoded, text);
        },
      ),
      budget(1000),
    );
  });

  it("nickProblem accepts only short names with no control, space or leading digit", () => {
    const nickArb = fc.oneof(
      anyText,
      fc.stringMatching(/^[a-zA-Z_\u00e9\u4e00-\u4e09][\w.\-[\]{}|^`]{0,30}$/),
    );
    fc.assert(
      fc.property(nickArb, (nick) => {
        const problem = nickProblem(nick);
        if (problem !== null) {
          assert.equal(typeof problem, "string");
          return;
        }
        const chars = [...nick];
        assert.ok(chars.length >= 1 && chars.length <= MAX_NICK_LENGTH, nick);
        assertPrintable(nick, "an accepted nickname");
        assert.doesNotMatch(nick, /\s/u);
        assert.doesNotMatch(nick, /^[\p{N}-]/u);
      }),
      budget(2000),
    );
  });
});

describe("the chat room (properties)", () => {
  /** A member's connection that records what it is sent. */
  class Link implements MemberLink {
    readonly address = "127.0.0.1:40000";
    received = "";
    closed = false;
    send(data: Buffer): boolean {
      this.received += data.toString("utf8");
      return true;
    }
    close(): void {
      this.closed = true;
    }
  }

  const IAC = 0xff;
  const lineArb = fc.oneof(
    { weight: 4, arbitrary: textArb(8) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            "/nick",
            "/me",
            "/msg",
            "/msg alice",
            "/msg mallory",
            "/who",
            "/help",
            "/NICK",
            "//",
            "/",
            "/quit",
            "/x",
          ),
          fc.constantFrom(" ", "  ", "\t", ""),
          textArb(6),
        )
        .map(([command, gap, arg]) => `${command}${gap}${arg}`),
    },
  );
  const wireArb = fc
    .array(
      fc.oneof(
        { weight: 5, arbitrary: lineArb.map((l) => Buffer.from(l, "utf8")) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            Buffer.from([IAC, 251, 1]),
            Buffer.from([IAC, 250, 24, 0, IAC, 240]),
            Buffer.from([IAC, IAC]),
          ),
        },
      ),
      { maxLength: 10 },
    )
    .chain((parts) =>
      fc
        .array(fc.constantFrom("\r\n", "\n", "\r", "\r\0"), {
          minLength: parts.length,
          maxLength: parts.length,
        })
        .map((ends) =>
          Buffer.concat(parts.flatMap((p, i) => [p, Buffer.from(ends[i] as string, "latin1")])),
        ),
    );

  it("shows every member only printable lines, whatever bytes another member sends, in any pieces", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("mallory", "/nick mallory", "", "\x1b[2J"),
        wireArb,
        cutsArb(2000),
        fc.array(fc.boolean(), { maxLength: 24 }),
        fc.integer({ min: 1, max: 200 }),
        (first, wire, cuts, pauses, maxLineLength) => {
          const room = new ChatRoom({
            now: () => new Date(2026, 0, 1, 12, 0, 0),
            burst: 1000,
            rate: 1000,
          });
          const alice = new Link();
          room.line(room.join(alice) as Member, Buffer.from("alice"));
          const link = new Link();
          const mallory = room.join(link) as Member;
          room.line(mallory, Buffer.from(first));
          // What the chat server does with a member's bytes.
          const telnet = new TelnetFilter();
          const lines = new LineSplitter({ maxLineLength });
          cut(wire, cuts).forEach((piece, i) => {
            if (mallory.gone) return; // leaving: the server drains the rest unread
            lines.push(telnet.push(piece));
            for (;;) {
              let line: Buffer | undefined;
              try {
                line = lines.next();
              } catch (err) {
                assertCoded(err, ["ERR_LINE_TOO_LONG"]);
                assert.ok(err instanceof LineTooLongError);
                room.tooLong(mallory, maxLineLength);
                continue;
              }
              if (line === undefined || mallory.gone) break;
              room.line(mallory, line);
            }
            // The sender paused: a partial line is taken as complete.
            if (pauses[i] === true) {
              let rest: Buffer | undefined;
              try {
                rest = lines.end();
              } catch (err) {
                assertCoded(err, ["ERR_LINE_TOO_LONG"]);
                assert.ok(mallory.gone, "a line over the limit left after the lines were drained");
              }
              if (rest !== undefined && rest.length > 0 && !mallory.gone) room.line(mallory, rest);
            }
          });
          const late = new Link();
          room.line(room.join(late) as Member, Buffer.from("late"));
          for (const [who, l] of [
            ["alice", alice],
            ["mallory", link],
            ["a member who joined later", late],
          ] as const) {
            for (const line of l.received.split("\r\n"))
              assertPrintable(line, `a line ${who} was sent`);
          }
        },
      ),
      budget(500, 3000),
    );
  });
});

describe("the command shell's own escaping (properties)", () => {
  const context = {
    clientAddress: ["127.0.0.1", 5555] as [string, number],
    server: { stats: { accepted: 0, active: 0, rejected: 0, errors: 0 } },
  };

  it("names an unknown command with its controls escaped", () => {
    fc.assert(
      fc.property(textArb(6), textArb(4), (word, rest) => {
        const line = `${word} ${rest}`;
        const name = line.trim().split(" ")[0]?.toLowerCase() ?? "";
        fc.pre(
          !["", "help", "time", "echo", "upper", "stats", "whoami", "quit", "exit"].includes(name),
        );
        const r = runCommand(line, context);
        assert.equal(r.quit, false);
        assert.equal(r.lines.length, 1);
        assert.match(r.lines[0] as string, /^error: unknown command "/);
        assertPrintable(r.lines[0] as string, "the error line");
      }),
      budget(1000),
    );
  });
});

describe("parsePorts (properties)", () => {
  // Ranges anywhere, and ranges crowded into a few ports so that most lists overlap.
  const rangeArb = fc.oneof(
    fc
      .tuple(fc.integer({ min: 1, max: 65535 }), fc.nat(300))
      .map(([low, span]) => [low, Math.min(65535, low + span)] as const),
    fc
      .tuple(fc.integer({ min: 1, max: 40 }), fc.nat(20))
      .map(([low, span]) => [low, low + span] as const),
  );
  const space = fc.constantFrom("", " ", "  ", "\t");

  it("gives the sorted, distinct ports of any list of ports and ranges", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(rangeArb, fc.boolean(), space, space), { minLength: 1, maxLength: 8 }),
        (parts) => {
          const spec = parts
            .map(([[low, high], single, a, b]) =>
              single ? `${a}${low}${b}` : `${a}${low}${b}-${a}${high}${b}`,
            )
            .join(",");
          const expected = new Set<number>();
          for (const [[low, high], single] of parts) {
            for (let p = low; p <= (single ? low : high); p++) expected.add(p);
          }
          assert.deepEqual(
            parsePorts(spec),
            [...expected].sort((x, y) => x - y),
          );
        },
      ),
      budget(500),
    );
  });

  it("gives ports within 1-65535, or a coded error naming the spec, for any text", () => {
    const specArb = fc.oneof(
      anyText,
      fc
        .array(
          fc.constantFrom(
            "0",
            "1",
            "22",
            "65535",
            "65536",
            "99999999999999999999",
            "-",
            ",",
            " ",
            "x",
            "1e3",
            "0x10",
            "+1",
            "٣",
          ),
          {
            maxLength: 8,
          },
        )
        .map((pieces) => pieces.join("")),
    );
    fc.assert(
      fc.property(specArb, (spec) => {
        let ports: number[];
        try {
          ports = parsePorts(spec);
        } catch (err) {
          // Its documented contract; the CLI turns it into a usage error.
          assertCoded(err, ["ERR_INVALID_ARGUMENT"]);
          assert.ok(err instanceof ArgumentError, `not an ArgumentError: ${String(err)}`);
          assert.ok(err.message.startsWith("Cannot scan ports "));
          assert.ok(!err.message.includes("\n"), "one line");
          return;
        }
        assert.ok(ports.length > 0);
        for (let i = 0; i < ports.length; i++) {
          const p = ports[i] as number;
          assert.ok(Number.isInteger(p) && p >= 1 && p <= 65535);
          if (i > 0) assert.ok(p > (ports[i - 1] as number));
        }
      }),
      budget(2000),
    );
  });
});

describe("CLI number parsers (properties)", () => {
  const parsers = [
    {
      name: "parsePort",
      parse: parsePort,
      ok: (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535,
    },
    { name: "parseSeconds", parse: parseSeconds, ok: (n: number) => Number.isFinite(n) && n >= 0 },
    { name: "parseCount", parse: parseCount, ok: (n: number) => Number.isInteger(n) && n >= 1 },
    {
      name: "parseCountOrZero",
      parse: parseCountOrZero,
      ok: (n: number) => Number.isInteger(n) && n >= 0,
    },
  ];
  const numberish = fc.oneof(
    anyText,
    fc.double({ noNaN: false }).map(String),
    fc.integer({ min: -10, max: 70000 }).map(String),
    fc
      .array(
        fc.constantFrom(
          "0",
          "1",
          "9",
          ".",
          "-",
          "+",
          "e",
          "x",
          "b",
          "o",
          " ",
          "\n",
          "_",
          "Infinity",
        ),
        { maxLength: 6 },
      )
      .map((p) => p.join("")),
  );

  for (const { name, parse, ok } of parsers) {
    it(`${name} returns a value in range or throws commander's InvalidArgumentError, for any text`, () => {
      fc.assert(
        fc.property(numberish, (text) => {
          let value: number;
          try {
            value = parse(text);
          } catch (err) {
            assert.ok(
              err instanceof InvalidArgumentError,
              `not an InvalidArgumentError: ${String(err)}`,
            );
            assert.equal(err.code, "commander.invalidArgument");
            return;
          }
          assert.ok(ok(value), `${name}(${JSON.stringify(text)}) gave ${value}`);
        }),
        budget(1000),
      );
    });
  }

  it("reads back every value in range written in decimal", () => {
    const digits = fc.string({ unit: fc.constantFrom(..."0123456789"), maxLength: 9 });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 1e9 }),
        digits,
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        (n, whole, fraction, s) => {
          assert.equal(parsePort(String(n)), n);
          assert.equal(parseCountOrZero(String(n)), n);
          if (n >= 1) assert.equal(parseCount(String(n)), n);
          const decimal = fraction === "" ? String(whole) : `${whole}.${fraction}`;
          assert.equal(parseSeconds(decimal), Number(decimal));
          // A double is read back as JavaScript writes it, unless that takes an exponent.
          if (/e/.test(String(s)))
            assert.throws(() => parseSeconds(String(s)), InvalidArgumentError);
          else assert.equal(parseSeconds(String(s)), s);
        },
      ),
      budget(500),
    );
  });

  it("accepts only decimal numbers, not empty text, spaces, signs, hexadecimal or exponents", () => {
    const notWhole = ["", " ", "\n", " 80", "80 ", "+80", "-0", "0x50", "0b1", "0o7", "1e3", "8.0"];
    for (const text of [...notWhole, "\u0663", "Infinity", "1".repeat(400)]) {
      for (const parse of [parsePort, parseCount, parseCountOrZero]) {
        assert.throws(
          () => parse(text),
          InvalidArgumentError,
          `${parse.name}(${JSON.stringify(text)})`,
        );
      }
    }
    for (const text of [
      "",
      " ",
      "\n",
      " 1",
      "+1",
      "-1",
      "0x10",
      "1e3",
      "1.",
      ".",
      "Infinity",
      "NaN",
    ]) {
      assert.throws(() => parseSeconds(text), InvalidArgumentError, JSON.stringify(text));
    }
    assert.equal(parsePort("0080"), 80);
    assert.equal(parseSeconds("1.5"), 1.5);
    assert.equal(parseSeconds(".25"), 0.25);
    assert.equal(parseSeconds("0"), 0);
  });
});
