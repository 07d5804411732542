/**
 * Property tests of the parsers that read from a live connection: `BufferedReader`'s
 * lines with limits, and the `serve command` shell, over loopback TCP (and UDP for the
 * shell), with the input sent in arbitrary pieces.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { command, runCommand } from "../../src/apps/services/command-shell.ts";
import { TelnetFilter } from "../../src/codec/telnet-filter.ts";
import type { SocketAddress } from "../../src/core/address.ts";
import {
  AF_INET,
  IPPROTO_TCP,
  SHUT_WR,
  SO_RCVBUF,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../../src/core/constants.ts";
import { IncompleteReadError, isDisconnect } from "../../src/core/errors.ts";
import { TCPServer } from "../../src/server/tcp-server.ts";
import { UDPServer } from "../../src/server/udp-server.ts";
import { createConnection } from "../../src/socket/create-connection.ts";
import { kStream } from "../../src/socket/internal.ts";
import { type Socket, socket } from "../../src/socket/socket.ts";
import { cut } from "../helpers/chunks.ts";
import { buffered, recvAll, until } from "../helpers/net.ts";
import {
  assertCoded,
  assertPrintable,
  asyncBudget,
  cutsArb,
  TERMINAL_CONTROL,
  textArb,
} from "./properties-helpers.ts";

const LF = 0x0a;

/** Lines of arbitrary bytes (no LF inside), each ended by LF or, for the last, maybe not. */
const linesArb = (maxLineBytes: number) =>
  fc
    .array(
      fc.tuple(
        fc
          .uint8Array({ maxLength: maxLineBytes })
          .map((a) => Buffer.from(a.filter((b) => b !== LF))),
        fc.boolean(),
      ),
      { maxLength: 12 },
    )
    .map((lines) =>
      Buffer.concat(
        lines.flatMap(([line, ended], i) =>
          ended || i < lines.length - 1 ? [line, Buffer.from([LF])] : [line],
        ),
      ),
    );

async function connectedPair(listener: Socket, port: number): Promise<[Socket, Socket]> {
  const client = socket(AF_INET, SOCK_STREAM);
  await client.connect(["127.0.0.1", port]);
  client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  const [conn] = await listener.accept();
  return [client, conn];
}

describe("BufferedReader.readline (properties)", () => {
  let listener: Socket;
  let port = 0;
  before(async () => {
    listener = socket(AF_INET, SOCK_STREAM);
    await listener.bind(["127.0.0.1", 0]);
    listener.listen(16);
    port = (listener.getsockname() as [string, number])[1];
  });
  after(() => listener.close());

  type Item = string | "TOO_LONG";

  /** Python's readline with a limit, written from its rules: LF ends a line and is kept. */
  function model(input: Buffer, maxLength: number): Item[] {
    const out: Item[] = [];
    let pos = 0;
    while (pos < input.length) {
      const at = input.indexOf(LF, pos);
      if (at === -1) {
        out.push(input.length - pos > maxLength ? "TOO_LONG" : input.toString("latin1", pos));
        break;
      }
      out.push(at - pos > maxLength ? "TOO_LONG" : input.toString("latin1", pos, at + 1));
      pos = at + 1;
    }
    return out;
  }

  /**
   * Sends `pieces` to a fresh connection, each once the reader's side has the one before,
   * then ends the stream; meanwhile `next` reads items until it returns null. Checks after
   * every item and every piece that the connection holds at most `limit` bytes beyond
   * its high-water mark, plus the piece in flight.
   */
  async function exercise(
    pieces: Buffer[],
    highWaterMark: number,
    limit: number,
    open: (conn: Socket) => () => Promise<Item | null>,
  ): Promise<Item[]> {
    const [client, conn] = await connectedPair(listener, port);
    try {
      conn.setsockopt(SOL_SOCKET, SO_RCVBUF, highWaterMark);
      const next = open(conn);
      const bound = Math.max(highWaterMark, limit) + Math.max(0, ...pieces.map((p) => p.length));
      const checkBound = () => {
        const held = buffered(conn);
        assert.ok(held <= bound, `${held} bytes buffered, bound ${bound}`);
      };
      const got: Item[] = [];
      const reading = (async () => {
        for (let item = await next(); item !== null; item = await next()) {
          got.push(item);
          checkBound();
        }
      })();
      const socketIn = conn[kStream]().socket;
      let sent = 0;
      for (const piece of pieces) {
        await client.sendall(piece);
        sent += piece.length;
        await until(() => socketIn.bytesRead >= sent, `${sent} bytes received`, 10_000);
        checkBound();
      }
      client.shutdown(SHUT_WR);
      await reading;
      return got;
    } finally {
      await client.close();
      await conn.close();
    }
  }

  it("reads lines as Python's readline does, or ERR_LINE_TOO_LONG, holding at most the limits, for any bytes in any pieces", async () => {
    await fc.assert(
      fc.asyncProperty(
        linesArb(100),
        cutsArb(1200),
        fc.integer({ min: 0, max: 80 }),
        fc.oneof(fc.integer({ min: 1, max: 128 }), fc.constant(65536)),
        fc.constantFrom("readline", "readline with a timeout", "for await"),
        async (input, cuts, maxLength, highWaterMark, mode) => {
          const got = await exercise(cut(input, cuts), highWaterMark, maxLength + 1, (conn) => {
            if (mode === "readline with a timeout") conn.settimeout(5);
            const rfile = conn.makefile("r", { maxLineLength: maxLength });
            const lines = rfile[Symbol.asyncIterator]();
            return async () => {
              try {
                if (mode === "for await") {
                  const r = await lines.next();
                  return r.done ? null : r.value.toString("latin1");
                }
                const line = await rfile.readline({ maxLength });
                return line.length === 0 ? null : line.toString("latin1");
              } catch (err) {
                assertCoded(err, ["ERR_LINE_TOO_LONG"]);
                return "TOO_LONG";
              }
            };
          });
          assert.deepEqual(got, model(input, maxLength));
        },
      ),
      asyncBudget(150, 15_000),
    );
  });

  it("reads up to any separator, or ERR_LINE_TOO_LONG, then ERR_INCOMPLETE_READ with what is left, for any bytes in any pieces", async () => {
    /** asyncio's readuntil with a limit, from its rules: the separator is kept. */
    function untilModel(input: Buffer, sep: Buffer, maxLength: number): Item[] {
      const out: Item[] = [];
      let pos = 0;
      for (;;) {
        const at = input.indexOf(sep, pos);
        if (at === -1) {
          const rest = input.length - pos;
          // A tail too long to be a line is dropped as one; end of stream then finds nothing.
          if (rest > maxLength + sep.length - 1) out.push("TOO_LONG", "INCOMPLETE:");
          else out.push(`INCOMPLETE:${input.toString("latin1", pos)}`);
          return out;
        }
        out.push(
          at - pos > maxLength ? "TOO_LONG" : input.toString("latin1", pos, at + sep.length),
        );
        pos = at + sep.length;
      }
    }
    const small = (min: number, max: number) =>
      fc
        .uint8Array({ minLength: min, maxLength: max })
        .map((a) => Buffer.from(a.map((b) => b % 3)));
    await fc.assert(
      fc.asyncProperty(
        small(0, 300),
        small(1, 3),
        cutsArb(300),
        fc.integer({ min: 0, max: 40 }),
        fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constant(65536)),
        async (input, sep, cuts, maxLength, highWaterMark) => {
          let ended = false;
          const got = await exercise(
            cut(input, cuts),
            highWaterMark,
            maxLength + sep.length,
            (conn) => {
              const rfile = conn.makefile("r");
              return async () => {
                if (ended) return null;
                try {
                  return (await rfile.readuntil(sep, { maxLength })).toString("latin1");
                } catch (err) {
                  assertCoded(err, ["ERR_LINE_TOO_LONG", "ERR_INCOMPLETE_READ"]);
                  if (!(err instanceof IncompleteReadError)) return "TOO_LONG";
                  ended = true;
                  assert.equal(err.expected, null);
                  return `INCOMPLETE:${err.partial.toString("latin1")}`;
                }
              };
            },
          );
          assert.deepEqual(got, untilModel(input, sep, maxLength));
        },
      ),
      asyncBudget(150, 15_000),
    );
  });

  it("drops every byte of a tail too long to be a line, even at end of stream", async () => {
    const got = await exercise([Buffer.from("xxxxa")], 65536, 4, (conn) => {
      const rfile = conn.makefile("r");
      let calls = 0;
      return async () => {
        if (calls++ === 2) return null;
        try {
          return (await rfile.readuntil("ab", { maxLength: 2 })).toString("latin1");
        } catch (err) {
          assertCoded(err, ["ERR_LINE_TOO_LONG", "ERR_INCOMPLETE_READ"]);
          return err instanceof IncompleteReadError
            ? `INCOMPLETE:${err.partial.toString("latin1")}`
            : "TOO_LONG";
        }
      };
    });
    assert.deepEqual(got, ["TOO_LONG", "INCOMPLETE:"]);
  });
});

describe("the command shell (properties)", () => {
  const MAX = 1024;
  const words = [
    "help",
    "time",
    "echo",
    "ECHO",
    "upper",
    "stats",
    "whoami",
    "quit",
    "exit",
    "",
    "rm",
    "\x1b[2J",
  ];
  const lineArb = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.constantFrom(...words), fc.constantFrom(" ", "  ", "\t", ""), textArb(20))
        .map(([w, gap, arg]) => Buffer.from(`${w}${gap}${arg}`, "utf8")),
    },
    {
      weight: 2,
      // Any bytes but telnet's IAC: a peer that sends telnet commands is answered in
      // telnet (src/codec/telnet-filter.test.ts and the telnet tests cover that).
      arbitrary: fc
        .uint8Array({ maxLength: 30 })
        .map((a) => Buffer.from(a.filter((b) => b !== 0xff))),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(MAX - 1, MAX, MAX + 1, 3000)
        .map((n) => Buffer.from(`echo ${"x".repeat(n - 5)}`)),
    },
  );
  const inputArb = fc.tuple(
    fc.array(fc.tuple(lineArb, fc.constantFrom("\n", "\r\n", "\r\n", "\r", "")), {
      maxLength: 8,
    }),
    fc.boolean(),
  );

  /** The shell's escaping, written from its rule: controls as \xNN, or \uNNNN above U+00FF. */
  function shown(text: string): string {
    let out = "";
    for (const ch of text) {
      const code = ch.codePointAt(0) as number;
      if (!TERMINAL_CONTROL.test(ch)) out += ch;
      else if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, "0")}`;
      else out += `\\u${code.toString(16).padStart(4, "0")}`;
    }
    return out;
  }

  /** Time stamps and counters differ between the model and the server: compare their shape. */
  function normalise(text: string): string {
    return text
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "<time>")
      .replace(/accepted \d+, active \d+, rejected \d+, errors \d+/g, "<stats>");
  }

  const stats = { accepted: 0, active: 0, rejected: 0, errors: 0 };

  /** What the session sends back for `lines`, and the bytes it reads before it ends. */
  function session(lines: Buffer[], client: SocketAddress): { reply: string; used: number } {
    let reply = "Hello! Type a command, or help.\r\n> ";
    let used = 0;
    // The shell reads through telnet's filter: of these bytes, only a NUL after a CR (telnet's
    // bare carriage return) is not text.
    const telnet = new TelnetFilter();
    for (const raw of lines) {
      used += raw.length;
      const line = Buffer.from(telnet.push(raw));
      const content = line.subarray(0, line[line.length - 1] === LF ? -1 : undefined);
      if (content.length > MAX) {
        reply += `error: line longer than ${MAX} bytes\r\n> `;
        continue;
      }
      const text = line.toString("utf8").replace(/\r?\n$/, "");
      const r = runCommand(text, { clientAddress: client, server: { stats } });
      reply += r.lines.map((l) => `${shown(l)}\r\n`).join("");
      if (r.quit) return { reply, used };
      reply += "> ";
    }
    return { reply, used };
  }

  describe("over TCP", () => {
    let server: TCPServer;
    const logs: string[] = [];
    before(async () => {
      server = await TCPServer.create(["127.0.0.1", 0], command.stream, {
        log: (line) => logs.push(line),
      });
      void server.serveForever();
    });
    after(async () => {
      await server.shutdown();
      await server.close();
    });

    it("answers any lines sent in any pieces as the shell's rules say, with no control character, and never fails", async () => {
      await fc.assert(
        fc.asyncProperty(inputArb, cutsArb(8000), async ([parts, lastEnded], cuts) => {
          // The lines as readline will see them: LF ends a line.
          const wire = Buffer.concat(
            parts.flatMap(([line, end], i) => [
              line,
              Buffer.from(i === parts.length - 1 && !lastEnded ? "" : end || "\n"),
            ]),
          );
          const lines: Buffer[] = [];
          for (let pos = 0; pos < wire.length; ) {
            const at = wire.indexOf(LF, pos);
            const end = at === -1 ? wire.length : at + 1;
            lines.push(wire.subarray(pos, end));
            pos = end;
          }
          const client = await createConnection(server.serverAddress as [string, number]);
          try {
            client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
            const expected = session(lines, client.getsockname());
            // Nothing is sent after a quit: a close with unread bytes would be a reset.
            for (const piece of cut(wire.subarray(0, expected.used), cuts)) {
              await client.sendall(piece);
              await new Promise((resolve) => setImmediate(resolve));
            }
            client.shutdown(SHUT_WR);
            const reply = (await recvAll(client)).toString("utf8");
            for (const line of reply.split("\r\n")) assertPrintable(line, "a reply line");
            assert.equal(normalise(reply), normalise(expected.reply));
          } catch (err) {
            if (isDisconnect(err)) assert.fail(`the server dropped the connection: ${err}`);
            throw err;
          } finally {
            await client.close();
          }
          assert.deepEqual(
            logs.filter((l) => l.startsWith("Error")),
            [],
          );
        }),
        asyncBudget(100, 15_000),
      );
      assert.equal(server.stats.errors, 0);
    });
  });

  describe("over UDP", () => {
    let server: UDPServer;
    before(async () => {
      server = await UDPServer.create(["127.0.0.1", 0], command.datagram, { log: () => {} });
      void server.serveForever();
    });
    after(async () => {
      await server.shutdown();
      await server.close();
    });

    it("answers any datagram with one reply of printable lines, or the length error", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(lineArb, { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          async (datagrams, newline) => {
            // A socket per run: a late answer to a run that failed cannot meet the next.
            const client = socket(AF_INET, SOCK_DGRAM);
            try {
              await client.connect(server.serverAddress as [string, number]);
              client.settimeout(10);
              for (const line of datagrams) {
                const data = newline ? Buffer.concat([line, Buffer.from("\n")]) : line;
                const text = data.toString("utf8").replace(/\r?\n$/, "");
                const expected =
                  data.length > MAX
                    ? [`error: line longer than ${MAX} bytes`]
                    : runCommand(text, {
                        clientAddress: client.getsockname(),
                        server: { stats },
                      }).lines;
                await client.send(data);
                // An empty command has an empty answer, which is not sent: an answer to
                // it would be taken for the next command's, and fail there.
                if (expected.length === 0) continue;
                const reply = (await client.recv(65536)).toString("utf8");
                for (const l of reply.split("\n")) assertPrintable(l, "a reply line");
                assert.equal(
                  normalise(reply),
                  normalise(expected.map((l) => `${shown(l)}\n`).join("")),
                );
              }
            } finally {
              await client.close();
            }
          },
        ),
        asyncBudget(60, 15_000),
      );
    });
  });
});
