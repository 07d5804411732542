import type { Command } from "commander";
import { listen } from "../apps/listen.ts";
import { ipVersion } from "../core/address.ts";
import { messageOf } from "../core/errors.ts";
import { type AccessFlags, accessFromFlags, addAccessFlags } from "./access-flags.ts";
import { parseCount, parseHost, parsePort, parseSeconds } from "./parsers.ts";
import { addServerTlsFlags, type ServerTlsFlags, serverTlsFromFlags } from "./tls-flags.ts";
import { untilStopped } from "./until-stopped.ts";

interface ListenFlags extends ServerTlsFlags, AccessFlags {
  host?: string;
  port?: number;
  udp?: boolean;
  unix?: string;
  keepOpen?: boolean;
  send?: string;
  output?: string;
  maxConns: number;
  idleTimeout?: number;
  verbose?: boolean;
  crlf?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
  numeric?: boolean;
}

/** The address to bind when no host is given: loopback, of the family -4/-6 ask for. */
const LOOPBACK = { 4: "127.0.0.1", 6: "::1" } as const;

/** `socketkit listen PORT`: wait for a client; stdin to it, what it sends to stdout. */
export function registerListen(program: Command): void {
  const command = program.command("listen");
  const usage = (message: string): never =>
    command.error(`error: ${message}`, { exitCode: 2, code: "socketkit.usage" });
  addServerTlsFlags(command);
  command
    .description(
      "wait for a client on PORT (or --unix PATH): stdin to it, what it sends to stdout (nc -l)",
    )
    .usage("[options] [HOST] PORT | --port P | --unix PATH")
    .argument("[host]", "address to bind, when a PORT follows (as with nc -l HOST PORT)")
    .argument("[port]", "port number (0 picks a free one)")
    .option("-p, --port <port>", "port number, instead of the PORT argument", parsePort)
    .option("-s, --host <host>", "address to bind (default: 127.0.0.1)", parseHost)
    .option("-u, --udp", "use UDP")
    .option("-U, --unix <path>", "listen on a Unix stream socket instead")
    .option(
      "-k, --keep-open",
      "serve clients until stopped, at once (stdin goes to all of them; with --output, one after another)",
    )
    .option("--send <file>", "send FILE to each client, then close")
    .option("--output <file>", "write what clients send to FILE")
    .option(
      "-m, --max-conns <n>",
      "with --keep-open, clients at once; one more is closed at once",
      parseCount,
      100,
    )
    .option(
      "-i, --idle-timeout <seconds>",
      "close a client when no byte has moved either way for this long (default: never)",
      parseSeconds,
    )
    .option(
      "-v, --verbose",
      "say on stderr who connects, and with --keep-open which client the bytes come from",
    )
    .option("-C, --crlf", "send line ends as CRLF")
    .option("-4, --ipv4", "bind an IPv4 address (127.0.0.1 unless --host says otherwise)")
    .option("-6, --ipv6", "bind an IPv6 address (::1 unless --host says otherwise)")
    .option("-n, --numeric", "the host must be a numeric address (no name lookup)")
    .option("-N, --shutdown", "half-close at the end of stdin (always done; for nc's habit)")
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit listen 5001 --send test.txt       # the tutorial's file server\n  $ socketkit listen 1090 --output received.bin  # collect what a client sends\n  $ socketkit listen 5000                        # a two-way pipe, as nc -l\n  $ socketkit listen -k -v -p 5000               # many clients, as ncat -l -k -v -p 5000",
    )
    .action(async (first: string | undefined, second: string | undefined, flags: ListenFlags) => {
      const port = portFrom(first, second, flags, usage);
      const hostArg = second === undefined ? undefined : parseHostArg(first as string, usage);
      if (hostArg !== undefined && flags.host !== undefined && hostArg !== flags.host) {
        usage(`listen got two hosts: ${hostArg} and --host ${flags.host}`);
      }
      if (flags.unix === undefined && port === undefined) {
        usage("listen needs PORT, --port P or --unix PATH");
      }
      if (flags.ipv4 && flags.ipv6) usage("-4 and -6 cannot go together");
      const version = flags.ipv6 ? 6 : flags.ipv4 ? 4 : null;
      const host = hostArg ?? flags.host ?? LOOPBACK[version ?? 4];
      const hostVersion = ipVersion(host);
      if (flags.numeric && hostVersion === 0) {
        usage(`-n (--numeric) takes numeric addresses only, got ${host}`);
      }
      if (version !== null && hostVersion !== 0 && hostVersion !== version && host !== "") {
        usage(`-${version} asks for IPv${version}, but ${host} is not an IPv${version} address`);
      }
      const access = accessFromFlags(command, flags);
      const tls = await serverTlsFromFlags(command, flags);
      let stopped = false;
      try {
        await untilStopped((signal) => {
          signal.addEventListener("abort", () => {
            stopped = true;
          });
          return listen(port ?? 0, {
            host,
            udp: flags.udp,
            unix: flags.unix,
            keepOpen: flags.keepOpen,
            send: flags.send,
            outputFile: flags.output,
            maxConns: flags.maxConns,
            idleTimeout: flags.idleTimeout,
            verbose: flags.verbose,
            crlf: flags.crlf,
            signal,
            tls: tls?.options,
            ...access,
            interactive: process.stdin.isTTY === true && !flags.udp,
          });
        });
      } finally {
        process.stdin.destroy();
      }
      // Stopped by a signal, with the grace period over: a client still in its TLS
      // handshake must not hold the process (its own timeout is 10 s).
      if (stopped) setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
    });
  addAccessFlags(command);
}

/** The port from `listen PORT`, `listen HOST PORT` or `--port P` (not two different ones). */
function portFrom(
  first: string | undefined,
  second: string | undefined,
  flags: ListenFlags,
  usage: (message: string) => never,
): number | undefined {
  const text = second ?? first;
  let port: number | undefined;
  if (text !== undefined) {
    try {
      port = parsePort(text);
    } catch (err) {
      usage(messageOf(err));
    }
  }
  if (port !== undefined && flags.port !== undefined && port !== flags.port) {
    usage(`listen got two ports: ${port} and --port ${flags.port}`);
  }
  return port ?? flags.port;
}

function parseHostArg(text: string, usage: (message: string) => never): string {
  try {
    return parseHost(text);
  } catch (err) {
    return usage(messageOf(err));
  }
}
