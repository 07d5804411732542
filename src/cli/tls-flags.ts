import type { Command } from "commander";
import { clientTls, type ServerTls, serverTls } from "../apps/tls-setup.ts";

/** The TLS flags `serve` and `listen` share. */
export interface ServerTlsFlags {
  tls?: boolean;
  cert?: string;
  key?: string;
  tlsSelfSigned?: boolean;
  udp?: boolean;
  workers?: number;
}

/** Adds `--tls`, `--cert`, `--key` and `--tls-self-signed` to a command. */
export function addServerTlsFlags(command: Command): Command {
  return command
    .option("--tls", "serve TLS, with --cert and --key")
    .option("--cert <file>", "PEM certificate for --tls")
    .option("--key <file>", "PEM private key for --tls")
    .option("--tls-self-signed", "serve TLS with a throwaway certificate made in memory");
}

/**
 * The server's TLS setup from its flags, or undefined for plain TCP. Prints the
 * certificate's fingerprint, which clients can pin with `connect --fingerprint`.
 */
export async function serverTlsFromFlags(
  command: Command,
  flags: ServerTlsFlags,
): Promise<ServerTls | undefined> {
  if (!flags.tls && !flags.tlsSelfSigned) return undefined;
  if (flags.udp)
    command.error("error: TLS needs a stream: --tls does not go with --udp", { exitCode: 2 });
  if (flags.tlsSelfSigned && (flags.workers ?? 1) > 1) {
    command.error(
      "error: each worker would make its own certificate: use --cert and --key with --workers",
      {
        exitCode: 2,
      },
    );
  }
  const setup = await serverTls({
    cert: flags.cert,
    key: flags.key,
    selfSigned: flags.tlsSelfSigned,
  });
  process.stderr.write(`tls certificate SHA-256 fingerprint ${setup.fingerprint256}\n`);
  return setup;
}

/** The TLS flags of the client commands (`connect`, `send`, `fetch`). */
export interface ClientTlsFlags {
  tls?: boolean;
  tlsInsecure?: boolean;
  fingerprint?: string;
}

/** Adds `--tls`, `--tls-insecure` and `--fingerprint` to a command. */
export function addClientTlsFlags(command: Command): Command {
  return command
    .option("--tls", "use TLS (the server's certificate is verified)")
    .option("--tls-insecure", "with --tls: accept any certificate")
    .option(
      "--fingerprint <sha256>",
      "with --tls: accept only this certificate (SHA-256, AA:BB:...)",
    );
}

/** The client's TLS options from its flags; empty for plain TCP. */
export function clientTlsFromFlags(
  flags: ClientTlsFlags,
): ReturnType<typeof clientTls> | Record<string, never> {
  const secure = flags.tls || flags.tlsInsecure || flags.fingerprint !== undefined;
  return secure ? clientTls({ insecure: flags.tlsInsecure, fingerprint: flags.fingerprint }) : {};
}
