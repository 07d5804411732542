import type { Command } from "commander";
import { listen } from "../apps/listen.ts";
import { type AccessFlags, accessFromFlags, addAccessFlags } from "./access-flags.ts";
import { parseCount, parsePort, parseSeconds } from "./parsers.ts";
import { addServerTlsFlags, type ServerTlsFlags, serverTlsFromFlags } from "./tls-flags.ts";
import { untilStopped } from "./until-stopped.ts";

interface ListenFlags extends ServerTlsFlags, AccessFlags {
  host: string;
  udp?: boolean;
  unix?: string;
  keepOpen?: boolean;
  send?: string;
  output?: string;
  maxConns: number;
  idleTimeout?: number;
}

/** `socketkit listen PORT`: wait for a client; stdin to it, what it sends to stdout. */
export function registerListen(program: Command): void {
  const command = program.command("listen");
  addServerTlsFlags(command);
  command
    .description("wait for a client on PORT (or --unix PATH): stdin to it, what it sends to stdout")
    .argument("[port]", "port number (0 picks a free one)", parsePort)
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--udp", "use UDP")
    .option("--unix <path>", "listen on a Unix stream socket instead")
    .option(
      "--keep-open",
      "serve clients until stopped, at once (stdin goes to all of them; with --output, one after another)",
    )
    .option("--send <file>", "send FILE to each client, then close")
    .option("--output <file>", "write what clients send to FILE")
    .option(
      "--max-conns <n>",
      "with --keep-open, clients at once; one more is closed at once",
      parseCount,
      100,
    )
    .option(
      "--idle-timeout <seconds>",
      "close a client when no byte has moved either way for this long (default: never)",
      parseSeconds,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit listen 5001 --send test.txt       # the tutorial's file server\n  $ socketkit listen 1090 --output received.bin  # collect what a client sends\n  $ socketkit listen 5000                        # a two-way pipe, as nc -l",
    )
    .action(async (port: number | undefined, flags: ListenFlags) => {
      if (flags.unix === undefined && port === undefined) {
        program.commands
          .find((c) => c.name() === "listen")
          ?.error("error: listen needs PORT or --unix PATH", {
            exitCode: 2,
            code: "socketkit.usage",
          });
      }
      const access = accessFromFlags(command, flags);
      const tls = await serverTlsFromFlags(command, flags);
      try {
        await untilStopped((signal) =>
          listen(port ?? 0, {
            host: flags.host,
            udp: flags.udp,
            unix: flags.unix,
            keepOpen: flags.keepOpen,
            send: flags.send,
            outputFile: flags.output,
            maxConns: flags.maxConns,
            idleTimeout: flags.idleTimeout,
            signal,
            tls: tls?.options,
            ...access,
            interactive: process.stdin.isTTY === true && !flags.udp,
          }),
        );
      } finally {
        process.stdin.destroy();
      }
    });
  addAccessFlags(command);
}
