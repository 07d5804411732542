import { type Command, InvalidArgumentError, Option } from "commander";
import { chatJoin } from "../apps/chat/client.ts";
import { parseRedisUrl } from "../apps/chat/redis-connection.ts";
import { chatServe } from "../apps/chat/server.ts";
import { nickProblem, roomProblem } from "../apps/chat/text.ts";
import { serverTls } from "../apps/tls-setup.ts";
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

function parseRedis(value: string): string {
  try {
    parseRedisUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/** One `--web-origin` value (comma-separated origins) added to those given before. */
function collectOrigins(value: string, previous: string[] | undefined): string[] {
  const origins = value
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
  for (const origin of origins) {
    let url: URL | null = null;
    try {
      url = new URL(origin);
    } catch {
      // Reported below.
    }
    if (
      url === null ||
      !/^https?:$/.test(url.protocol) ||
      url.origin !== origin.replace(/\/$/, "")
    ) {
      throw new InvalidArgumentError(
        `expected origins such as https://chat.example.org or http://localhost:3000, got "${origin}"`,
      );
    }
  }
  return [...(previous ?? []), ...origins];
}

interface ServeFlags extends AccessFlags {
  webPort?: number;
  webOrigin?: string[];
  webMaxPerAddress: number;
  webTls?: boolean;
  cert?: string;
  key?: string;
  tlsSelfSigned?: boolean;
  redis?: string;
  port: number;
  host: string;
  history: number;
  nick?: string;
  name: string;
  maxClients: number;
  maxPerHost: number;
  nickTimeout: number;
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
      "share the rooms with every chat server on this Redis (redis://HOST:PORT, redis-sentinel://HOST:PORT,.../MASTER, redis-cluster://HOST:PORT,...)",
      parseRedis,
    )
    .option("--max-clients <n>", "members at once", parseCount, 10_000)
    .option(
      "--max-per-host <n>",
      "connections at once from one address (an IPv6 /64), with or without a nickname",
      parseCount,
      20,
    )
    .option(
      "--nick-timeout <seconds>",
      "close a connection that has not chosen a nickname this long after connecting (0: never)",
      parseSeconds,
      60,
    )
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
    .option(
      "--web-port <port>",
      "also serve the chat's web page at / and its WebSocket at /ws on this port",
      parsePort,
    )
    .option(
      "--web-origin <list>",
      "other origins whose pages may use the WebSocket (comma-separated, repeatable; default: the page's own only)",
      collectOrigins,
    )
    .option(
      "--web-max-per-address <n>",
      "web connections at once from one IP address",
      parseCount,
      16,
    )
    .option("--web-tls", "serve the web page over https (wss) with --cert and --key")
    .option("--cert <file>", "PEM certificate for --web-tls")
    .option("--key <file>", "PEM private key for --web-tls")
    .option("--tls-self-signed", "serve the web page over https with a throwaway certificate")
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit chat serve --port 5000 --history 50\n  $ socketkit chat serve --nick host     # the server's terminal takes part\n  $ socketkit chat serve --port 5001 --redis redis://127.0.0.1:6379   # rooms shared by many servers\n  $ socketkit chat serve --web-port 8080   # and a web page: http://127.0.0.1:8080/",
    )
    .action(async (flags: ServeFlags) => {
      const access = accessFromFlags(serve, flags);
      const wantsTls = flags.webTls === true || flags.tlsSelfSigned === true;
      if (flags.webPort === undefined && (wantsTls || flags.webOrigin !== undefined)) {
        serve.error("error: --web-tls, --tls-self-signed and --web-origin go with --web-port", {
          exitCode: 2,
          code: "socketkit.usage",
        });
      }
      if (!wantsTls && (flags.cert !== undefined || flags.key !== undefined)) {
        serve.error("error: --cert and --key go with --web-tls", {
          exitCode: 2,
          code: "socketkit.usage",
        });
      }
      let webTls: Awaited<ReturnType<typeof serverTls>> | undefined;
      if (wantsTls) {
        webTls = await serverTls({
          cert: flags.cert,
          key: flags.key,
          selfSigned: flags.tlsSelfSigned,
        });
        process.stderr.write(`tls certificate SHA-256 fingerprint ${webTls.fingerprint256}\n`);
      }
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
          maxPerHost: flags.maxPerHost,
          nickTimeout: flags.nickTimeout === 0 ? null : flags.nickTimeout,
          maxLineLength: flags.maxLine,
          rate: flags.rate,
          burst: flags.rate * 2,
          idleTimeout: flags.idleTimeout === 0 ? null : flags.idleTimeout,
          quietAbove: flags.quietAbove,
          redis: flags.redis,
          webPort: flags.webPort,
          webTls: webTls?.options,
          webOrigins: flags.webOrigin,
          webMaxPerAddress: flags.webMaxPerAddress,
          ...access,
          signal,
          onListening: ([host, port]) => {
            const where = formatAddress([host, port]).replace(/:\d+$/, "");
            process.stderr.write(
              `join with: npx socketkit chat join ${where} ${port}   (or: telnet ${where} ${port}, nc ${where} ${port})\n`,
            );
          },
          onWebListening: (url) => process.stderr.write(`or in a browser: ${url}\n`),
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
