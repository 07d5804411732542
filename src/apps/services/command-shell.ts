import { LineSplitter } from "../../codec/line-splitter.ts";
import { TelnetFilter } from "../../codec/telnet-filter.ts";
import { formatAddress, type SocketAddress } from "../../core/address.ts";
import { LineTooLongError } from "../../core/errors.ts";
import { escapeControlCodes } from "../../core/escape.ts";
import type { ServerStats } from "../../server/base-server.ts";
import { DatagramRequestHandler } from "../../server/datagram-request-handler.ts";
import { StreamRequestHandler } from "../../server/stream-request-handler.ts";
import { DEFAULT_IDLE_TIMEOUT, TCPServer } from "../../server/tcp-server.ts";
import { LineDeadline } from "../line-deadline.ts";
import type { Service } from "./service.ts";

/** Longest command line accepted, in bytes. */
export const MAX_COMMAND_LENGTH = 1024;

const HELP = [
  "commands:",
  "  help          this list",
  "  time          the server's date and time (UTC)",
  "  echo TEXT     TEXT back",
  "  upper TEXT    TEXT in upper case",
  "  stats         connections served so far",
  "  whoami        your address as the server sees it",
  "  quit          end the session",
];

/** What one command line gives: the reply lines, and whether the session ends. */
export interface CommandResult {
  lines: string[];
  quit: boolean;
}

/** The context a command runs in. */
export interface CommandContext {
  clientAddress: SocketAddress;
  server: { readonly stats: ServerStats };
}

/**
 * Runs one command of the Russian seed's server. It never runs a shell and never
 * evaluates input: each command is a fixed function of its text.
 */
export function runCommand(line: string, context: CommandContext): CommandResult {
  const text = line.trim();
  const space = text.indexOf(" ");
  const word = space === -1 ? text : text.slice(0, space);
  const name = word.toLowerCase();
  const arg = space === -1 ? "" : text.slice(space + 1);
  switch (name) {
    case "":
      return { lines: [], quit: false };
    case "help":
      return { lines: HELP, quit: false };
    case "time":
      return { lines: [new Date().toISOString()], quit: false };
    case "echo":
      return { lines: [arg], quit: false };
    case "upper":
      return { lines: [arg.toUpperCase()], quit: false };
    case "stats": {
      const { accepted, active, rejected, errors } = context.server.stats;
      return {
        lines: [`accepted ${accepted}, active ${active}, rejected ${rejected}, errors ${errors}`],
        quit: false,
      };
    }
    case "whoami":
      return {
        lines: [formatAddress(context.clientAddress) || "a Unix socket client"],
        quit: false,
      };
    case "quit":
    case "exit":
      return { lines: ["bye"], quit: true };
    default:
      return { lines: [`error: unknown command "${printable(word)}" (try help)`], quit: false };
  }
}

/**
 * Control characters shown escaped, so an echo cannot drive the client's terminal: C0,
 * DEL, C1 (CSI U+009B acts as ESC [) and the bidirectional controls.
 */
const printable = escapeControlCodes;

const PROMPT = "> ";

/** What one read from the connection takes. */
const READ_SIZE = 64 * 1024;

/**
 * The seed's greeting-and-prompt server over a stream (telnet-friendly: CRLF line ends).
 * Lines are split as `rfile.readline()` splits them (LF ends a line), here rather than by
 * `readline`, so that the time a line takes from its first byte can be bounded: a line
 * must be finished within the server's idle timeout, or the session is closed, which a
 * client dribbling a byte at a time would otherwise hold forever.
 *
 * telnet's protocol is filtered out and answered ({@link TelnetFilter}): once the client
 * has shown it speaks telnet it is asked for BINARY, so that it sends UTF-8 untouched, and
 * Ctrl-C (`IAC IP`) drops the line being typed and gives a fresh prompt. A client that
 * sends no telnet command (nc, the seed's Python client) never gets a telnet byte.
 */
class CommandStream extends StreamRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(`Hello! Type a command, or help.\r\n${PROMPT}`);
    const telnet = new TelnetFilter();
    const lines = new LineSplitter({ maxLineLength: MAX_COMMAND_LENGTH, lfOnly: true });
    const deadline = new LineDeadline(lineSeconds(this.server));
    for (;;) {
      const data = await this.request.recv(READ_SIZE);
      if (data.length === 0) {
        // The end of the input ends an unfinished last line, as `readline` returns it.
        await this.#answer(lines, true);
        return;
      }
      const text = telnet.push(data);
      // First: telnet shows nothing after an interrupt until its timing mark is answered.
      const reply = telnet.takeReply();
      if (reply !== undefined) await this.wfile.write(reply);
      if (telnet.cancelledLine) lines.discardPartial();
      lines.push(text);
      const answered = await this.#answer(lines, false);
      if (answered < 0) return;
      if (telnet.interrupted && answered === 0) await this.wfile.write(`\r\n${PROMPT}`);
      if (deadline.check(lines.midLine || telnet.midCommand, answered > 0)) {
        await this.wfile.write(`error: line not finished within ${deadline.seconds} s\r\n`);
        return;
      }
    }
  }

  /**
   * Answers every complete line (at the end of the input, the rest too): how many, or -1
   * after quit.
   */
  async #answer(lines: LineSplitter, end: boolean): Promise<number> {
    let answered = 0;
    for (;;) {
      let line: Buffer | undefined;
      try {
        line = end ? lines.end() : lines.next();
      } catch (err) {
        if (!(err instanceof LineTooLongError)) throw err;
        await this.wfile.write(`error: line longer than ${MAX_COMMAND_LENGTH} bytes\r\n${PROMPT}`);
        continue;
      }
      if (line === undefined) return answered;
      answered++;
      const result = runCommand(line.toString("utf8").replace(/\r$/, ""), this);
      const reply = result.lines.map((l) => `${printable(l)}\r\n`).join("");
      await this.wfile.write(result.quit ? reply : `${reply}${PROMPT}`);
      if (result.quit) return -1;
    }
  }
}

/** The seconds a command line may take from its first byte: the server's idle timeout. */
function lineSeconds(server: unknown): number | null {
  return server instanceof TCPServer ? server.idleTimeout : DEFAULT_IDLE_TIMEOUT;
}

/** Over UDP: each datagram is one command, the reply one datagram. */
class CommandDatagram extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    const data = await this.rfile.read();
    const text =
      data.length > MAX_COMMAND_LENGTH ? null : data.toString("utf8").replace(/\r?\n$/, "");
    const lines =
      text === null
        ? [`error: line longer than ${MAX_COMMAND_LENGTH} bytes`]
        : runCommand(text, this).lines;
    await this.wfile.write(lines.map((l) => `${printable(l)}\n`).join(""));
  }
}

export const command: Service = {
  name: "command",
  summary:
    "a greeting, a prompt, and one command per line (help, time, echo, upper, stats, whoami, quit)",
  stream: CommandStream,
  datagram: CommandDatagram,
};
