import type { Command } from "commander";
import { connect } from "../apps/connect.ts";
import { AF_INET, AF_INET6 } from "../core/constants.ts";
import { stderrLine } from "../core/log-budget.ts";
import { parseHost, parsePort, parseRemotePort, parseSeconds } from "./parsers.ts";
import { addClientTlsFlags, type ClientTlsFlags, clientTlsFromFlags } from "./tls-flags.ts";

interface ConnectFlags extends ClientTlsFlags {
  unix?: string;
  udp?: boolean;
  crlf?: boolean;
  timeout?: number;
  idleTimeout?: number;
  verbose?: boolean;
  zeroIo?: boolean;
  source?: string;
  sourcePort?: number;
  ipv4?: boolean;
  ipv6?: boolean;
  numeric?: boolean;
  quitAfter?: number;
  shutdown?: boolean;
}

/** `socketkit connect HOST PORT`: stdin to the socket, the socket to stdout. */
export function registerConnect(program: Command): void {
  const command = program.command("connect");
  const usage = (message: string): never =>
    command.error(`error: ${message}`, { exitCode: 2, code: "socketkit.usage" });
  addClientTlsFlags(command);
  command
    .description("connect to HOST PORT (or --unix PATH): stdin to the socket, the socket to stdout")
    .argument("[host]", "host name or address (IPv6 with or without brackets)", parseHost)
    .argument("[port]", "port number (1-65535)", parseRemotePort)
    .option("-U, --unix <path>", "connect to a Unix stream socket instead")
    .option("-u, --udp", "use UDP: each chunk of input is one datagram")
    .option("-C, --crlf", "send line ends as CRLF")
    .option(
      "-w, --timeout <seconds>",
      "connect timeout (TCP); how long to wait for replies after input ends (UDP, default 1)",
      parseSeconds,
    )
    .option(
      "-i, --idle-timeout <seconds>",
      "give up (exit 1) when no byte has moved either way for this long (default: never)",
      parseSeconds,
    )
    .option("-v, --verbose", "say on stderr when connected")
    .option("-z, --zero-io", "only connect and report, sending nothing (a one-port scan)")
    .option("-s, --source <addr>", "connect from this local address", parseHost)
    .option("-p, --source-port <port>", "connect from this local port", parsePort)
    .option("-4, --ipv4", "use IPv4 addresses only")
    .option("-6, --ipv6", "use IPv6 addresses only")
    .option("-n, --numeric", "HOST must be a numeric address: no name lookup")
    .option(
      "-q, --quit-after <seconds>",
      "at the end of stdin, quit this many seconds later even if the peer has not closed",
      parseSeconds,
    )
    .option("-N, --shutdown", "half-close at the end of stdin (always done; for nc's habit)")
    .option("-l, --listen", "listen instead, as nc -l: the same as socketkit listen")
    .addHelpText(
      "after",
      "\nExamples:\n  $ printf 'hello' | socketkit connect 127.0.0.1 5000\n  $ socketkit connect --unix /tmp/socketfile < request.bin > reply.bin\n  $ echo ping | socketkit connect --udp 127.0.0.1 12345\n  $ socketkit connect -v -z 127.0.0.1 22          # is the port open? (exit 0 or 1)\n  $ socketkit connect --tls --fingerprint AA:BB:... 127.0.0.1 8443",
    )
    .action(async (host: string | undefined, port: number | undefined, flags: ConnectFlags) => {
      if (flags.unix === undefined && (host === undefined || port === undefined)) {
        usage("connect needs HOST PORT or --unix PATH");
      }
      if (flags.ipv4 && flags.ipv6) usage("-4 and -6 cannot go together");
      if (flags.zeroIo && flags.udp) {
        usage("-z goes with TCP only (UDP has no connection to report: socketkit scan --udp)");
      }
      if (
        flags.unix !== undefined &&
        (flags.source !== undefined || flags.sourcePort !== undefined)
      ) {
        usage("-s and -p (source address and port) do not go with --unix");
      }
      const tls = clientTlsFromFlags(flags);
      const source =
        flags.source === undefined && flags.sourcePort === undefined
          ? undefined
          : ([flags.source ?? "", flags.sourcePort ?? 0] as [string, number]);
      await connect(host ?? "", port ?? 0, {
        ...tls,
        unix: flags.unix,
        udp: flags.udp,
        crlf: flags.crlf,
        timeout: flags.timeout ?? null,
        idleTimeout: flags.idleTimeout ?? null,
        log: flags.verbose ? stderrLine : null,
        zeroIo: flags.zeroIo,
        ...(source === undefined ? {} : { source }),
        ...(flags.ipv4 ? { family: AF_INET } : flags.ipv6 ? { family: AF_INET6 } : {}),
        numeric: flags.numeric,
        quitAfter: flags.quitAfter ?? null,
        interactive: process.stdin.isTTY === true && !flags.udp && !flags.zeroIo,
      });
    });
}
