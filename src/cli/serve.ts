import { Argument, type Command, Option } from "commander";
import { serve } from "../apps/serve.ts";
import { SERVICES } from "../apps/services/index.ts";
import { type AccessFlags, accessFromFlags, addAccessFlags } from "./access-flags.ts";
import { parseCount, parseHost, parsePort, parseSeconds } from "./parsers.ts";
import { addServerTlsFlags, type ServerTlsFlags, serverTlsFromFlags } from "./tls-flags.ts";
import { untilStopped } from "./until-stopped.ts";

interface ServeFlags extends ServerTlsFlags, AccessFlags {
  port: number;
  host: string;
  udp?: boolean;
  unix?: string;
  maxConns?: number;
  idleTimeout?: number;
  workers?: number;
}

/** `socketkit serve SERVICE`: a built-in service on TCP, UDP or a Unix socket. */
export function registerServe(program: Command): void {
  const names = Object.keys(SERVICES);
  const command = program.command("serve");
  addServerTlsFlags(command);
  command
    .description("run a built-in service until SIGINT/SIGTERM")
    .addArgument(new Argument("<service>", "the service to run").choices(names))
    .addOption(
      new Option("--port <port>", "port (0 picks a free one)").argParser(parsePort).default(0),
    )
    .option("--host <host>", "address to bind", parseHost, "127.0.0.1")
    .option("--udp", "serve over UDP")
    .option("--unix <path>", "serve on a Unix stream socket")
    .option("--max-conns <n>", "connections handled at once", parseCount)
    .option(
      "--idle-timeout <seconds>",
      "close a connection when no byte has moved either way for this long; with command, also when a line is not finished this long after its first byte (default 300, 0: never)",
      parseSeconds,
    )
    .option("--workers <n>", "processes serving the port together (TCP)", parseCount)
    .addHelpText(
      "after",
      `\nServices:\n${names.map((n) => `  ${n.padEnd(8)} ${SERVICES[n]?.summary}`).join("\n")}\n\nExamples:\n  $ socketkit serve echo --port 7007\n  $ socketkit serve greet --port 40674      # the Spanish tutorial's server\n  $ socketkit serve command --port 1090     # the Russian tutorial's server; try telnet\n  $ socketkit serve daytime --udp --port 1313\n  $ socketkit serve echo --host 0.0.0.0 --port 7007 --allow 192.168.1.0/24 --deny 192.168.1.13`,
    )
    .action(async (service: string, flags: ServeFlags) => {
      const access = accessFromFlags(command, flags);
      const tls = await serverTlsFromFlags(command, flags);
      await untilStopped((signal) =>
        serve(service, {
          port: flags.port,
          host: flags.host,
          udp: flags.udp,
          unix: flags.unix,
          maxConns: flags.maxConns,
          idleTimeout: flags.idleTimeout,
          workers: flags.workers,
          signal,
          tls: tls?.options,
          ...access,
        }),
      );
    });
  addAccessFlags(command);
}
