import { type Command, InvalidArgumentError, Option } from "commander";
import { chatJoin } from "../apps/chat/client.ts";
import { chatServe } from "../apps/chat/server.ts";
import { nickProblem, roomProblem } from "../apps/chat/text.ts";
import { formatAddress } from "../core/address.ts";
import { type AccessFlags, accessFromFlags, addAccessFlags } from "./access-flags.ts";
import { parseCount, parseCountOrZero, parseHost, parsePort, parseSeconds } from "./parsers.ts";
import { untilStopped } from "./until-stopped.ts";

function parseNick(value: string): string {
  const problem = nickProblem(value);
  if (problem !== null) throw new InvalidArgumentError(problem);
  return value;
}

function parseRoom(value: string): string {
  const problem = roomProblem(value);
  if (problem !== null) throw new InvalidArgumentError(problem);
  return value;
}

function parseRedisUrl(value: string): string {
  if (!/^rediss?:\/\/./.test(value)) {
    throw new InvalidArgumentError(
      `expected redis://HOST:PORT or rediss://HOST:PORT, got "${value}"`,
    );
  }
  return value;
}

interface ServeFlags extends AccessFlags {
  redis?: string;
  port: number;
  host: string;
  history: number;
  nick?: string;
  name: string;
  maxClients: number;
  maxLine: number;
  rate: number;
  idleTimeout: number;
  quietAbove: number;
}

interface JoinFlags {
  nick?: string;
  reconnect: boolean;
}

/** `socketkit chat serve` and `socketkit chat join`. */
export function registerChat(program: Command): void {
  const chat = program
    .command("chat")
    .description("a chat room for many clients: serve one, or join one")
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit chat serve --port 5000\n  $ socketkit chat join 127.0.0.1 5000 --nick alice\n  $ telnet 127.0.0.1 5000            # no client software needed",
    );

  const serve = chat
    .command("serve")
    .description("run a chat room until SIGINT/SIGTERM")
    .addOption(
      new Option("--port <port>", "port (0 picks a free one)").argParser(parsePort).default(5000),
    )
    .option("--host <host>", "address to bind", parseHost, "127.0.0.1")
    .option("--history <n>", "messages shown to whoever joins", parseCountOrZero, 20)
    .option("--nick <name>", "take part from this terminal under NAME", parseNick)
    .option("--name <room>", "the first room, where every member starts", parseRoom, "lobby")
    .option(
      "--redis <url>",
      "share the rooms with every chat server on this Redis (redis://HOST:PORT)",
      parseRedisUrl,
    )
    .option("--max-clients <n>", "members at once", parseCount, 10_000)
    .option("--max-line <bytes>", "longest line a member may send", parseCount, 1024)
    .option("--rate <n>", "messages (renames too) a second a member may send", parseCount, 5)
    .option(
      "--idle-timeout <seconds>",
      "close a connection when no byte has moved either way for this long, or when a line is not finished this long after its first byte (0: never)",
      parseSeconds,
      3600,
    )
    .option(
      "--quiet-above <n>",
      "no join, leave or rename notices above N members",
      parseCountOrZero,
      200,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit chat serve --port 5000 --history 50\n  $ socketkit chat serve --nick host     # the server's terminal takes part\n  $ socketkit chat serve --port 5001 --redis redis://127.0.0.1:6379   # rooms shared by many servers",
    )
    .action(async (flags: ServeFlags) => {
      const access = accessFromFlags(serve, flags);
      await untilStopped((signal) =>
        chatServe({
          port: flags.port,
          host: flags.host,
          history: flags.history,
          nick: flags.nick,
          // The operator's prompt, with the room and the log above it, on a terminal only.
          interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
          name: flags.name,
          maxMembers: flags.maxClients,
          maxLineLength: flags.maxLine,
          rate: flags.rate,
          burst: flags.rate * 2,
          idleTimeout: flags.idleTimeout === 0 ? null : flags.idleTimeout,
          quietAbove: flags.quietAbove,
          redis: flags.redis,
          ...access,
          signal,
          onListening: ([host, port]) => {
            const where = formatAddress([host, port]).replace(/:\d+$/, "");
            process.stderr.write(
              `join with: npx socketkit chat join ${where} ${port}   (or: telnet ${where} ${port}, nc ${where} ${port})\n`,
            );
          },
        }),
      );
    });

  addAccessFlags(serve);

  const join = chat
    .command("join")
    .description("join a chat room: type messages, /help for the commands, /quit to leave")
    .argument("<host>", "the server's host", parseHost)
    .argument("<port>", "the server's port", parsePort)
    .option("--nick <name>", "your nickname (asked for otherwise)", parseNick)
    .option("--no-reconnect", "exit when the connection is lost instead of reconnecting")
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit chat join 127.0.0.1 5000 --nick alice\n  $ printf 'hello\\n' | socketkit chat join 127.0.0.1 5000 --nick bot   # scripted",
    )
    .action(async (host: string, port: number, flags: JoinFlags) => {
      const interactive = process.stdin.isTTY === true;
      try {
        await untilStopped((signal) =>
          chatJoin(host, port, {
            nick: flags.nick,
            reconnect: flags.reconnect,
            interactive,
            color: process.stdout.isTTY === true && !process.env.NO_COLOR,
            signal,
          }),
        );
      } finally {
        process.stdin.destroy();
      }
    });

  for (const command of [chat, serve, join]) command.exitOverride();
}
