import type { Command } from "commander";
import { connect } from "../apps/connect.ts";
import { parsePort, parseSeconds } from "./parsers.ts";
import { addClientTlsFlags, type ClientTlsFlags, clientTlsFromFlags } from "./tls-flags.ts";

interface ConnectFlags extends ClientTlsFlags {
  unix?: string;
  udp?: boolean;
  crlf?: boolean;
  timeout?: number;
}

/** `socketkit connect HOST PORT`: stdin to the socket, the socket to stdout. */
export function registerConnect(program: Command): void {
  const command = program.command("connect");
  addClientTlsFlags(command);
  command
    .description("connect to HOST PORT (or --unix PATH): stdin to the socket, the socket to stdout")
    .argument("[host]", "host name or address")
    .argument("[port]", "port number", parsePort)
    .option("--unix <path>", "connect to a Unix stream socket instead")
    .option("--udp", "use UDP: each chunk of input is one datagram")
    .option("--crlf", "send line ends as CRLF")
    .option(
      "--timeout <seconds>",
      "connect timeout (TCP); how long to wait for replies after input ends (UDP, default 1)",
      parseSeconds,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ printf 'hello' | socketkit connect 127.0.0.1 5000\n  $ socketkit connect --unix /tmp/socketfile < request.bin > reply.bin\n  $ echo ping | socketkit connect --udp 127.0.0.1 12345\n  $ socketkit connect --tls --fingerprint AA:BB:... 127.0.0.1 8443",
    )
    .action(async (host: string | undefined, port: number | undefined, flags: ConnectFlags) => {
      if (flags.unix === undefined && (host === undefined || port === undefined)) {
        program.commands
          .find((c) => c.name() === "connect")
          ?.error("error: connect needs HOST PORT or --unix PATH", {
            exitCode: 2,
            code: "socketkit.usage",
          });
      }
      const tls = clientTlsFromFlags(flags);
      await connect(host ?? "", port ?? 0, {
        ...tls,
        unix: flags.unix,
        udp: flags.udp,
        crlf: flags.crlf,
        timeout: flags.timeout ?? null,
        interactive: process.stdin.isTTY === true && !flags.udp,
      });
    });
}
