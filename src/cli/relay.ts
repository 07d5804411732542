import type { Command } from "commander";
import { relay } from "../apps/wormhole/relay.ts";
import { parseHost, parsePort, parseSeconds } from "./parsers.ts";
import { untilStopped } from "./until-stopped.ts";

interface RelayFlags {
  port: number;
  transitPort?: number;
  host: string;
  maxConnsPerAddress: number;
  idleTimeout: number;
}

/** `relay`: a Magic Wormhole rendezvous server and transit relay of one's own. */
export function registerRelay(program: Command): void {
  program
    .command("relay")
    .description("run a Magic Wormhole rendezvous server (and a transit relay with --transit-port)")
    .option("--port <port>", "rendezvous server port (0 picks a free one)", parsePort, 4000)
    .option("--transit-port <port>", "transit relay port (0 picks a free one)", parsePort)
    .option("--host <host>", "address to bind", parseHost, "127.0.0.1")
    .option(
      "--max-conns-per-address <n>",
      "connections from one address at once, on each server",
      (v) => parsePort(v),
      32,
    )
    .option("--idle-timeout <seconds>", "close connections silent this long", parseSeconds, 600)
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit relay --port 4000 --transit-port 4001\n  $ wormhole --relay-url ws://127.0.0.1:4000/v1 --transit-helper tcp:127.0.0.1:4001 send --text hi",
    )
    .action(async (flags: RelayFlags) => {
      await untilStopped((signal) =>
        relay({
          host: flags.host,
          port: flags.port,
          transitPort: flags.transitPort ?? null,
          rendezvous: {
            maxConnectionsPerAddress: flags.maxConnsPerAddress,
            idleTimeout: flags.idleTimeout,
          },
          transit: {
            maxConnectionsPerAddress: flags.maxConnsPerAddress,
            idleTimeout: flags.idleTimeout,
          },
          signal,
        }),
      );
    })
    .exitOverride();
}
