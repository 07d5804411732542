import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import type { TlsOptions } from "node:tls";
import { formatAddress, ipVersion } from "../core/address.ts";
import { AF_INET, AF_INET6, AF_UNIX, SHUT_WR, SOCK_DGRAM } from "../core/constants.ts";
import { createServer } from "../socket/create-server.ts";
import { type Socket, socket } from "../socket/socket.ts";
import { inputToSocket, socketToSink } from "./pump.ts";
import { typeLines } from "./type-lines.ts";

/** Seconds a live session may go on after SIGINT/SIGTERM. */
const GRACE_MS = 2000;

/** Options of {@link listen}. */
export interface ListenOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Listen on this Unix socket path instead. @default undefined */
  unix?: string;
  /** Use UDP. @default false */
  udp?: boolean;
  /** Serve connections one after another until stopped, instead of one. @default false */
  keepOpen?: boolean;
  /** Send this file to each client, then close (the seed's file server). @default undefined */
  send?: string;
  /** Write what clients send to this file instead of the output. @default undefined */
  outputFile?: string;
  /** Bytes to send come from here. @default process.stdin */
  input?: Readable;
  /** Received bytes go here. @default process.stdout */
  output?: Writable;
  /** Lines about the server (`listening on ...`). @default process.stderr */
  log?: (line: string) => void;
  /** Stops the server when aborted (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  /** Serve TLS with these options (TCP and Unix). @default undefined */
  tls?: TlsOptions;
  /**
   * Line-interactive, as the seed's 1:1 chat server: a prompt on `prompts`, each typed
   * line sent to the client, `q` alone closing the connection. The CLI turns it on when
   * standard input is a terminal. @default false
   */
  interactive?: boolean;
  /** Where the interactive prompt goes. @default process.stderr */
  prompts?: Writable;
}

/**
 * What `socketkit listen` does, as `nc -l`: waits for a client, then copies input to it
 * and what it sends to the output, byte for byte; with `send`, serves a file instead, and
 * with `outputFile`, collects what the client sends.
 *
 * @example
 * ```ts
 * import { listen } from "socketkit/apps/listen";
 * await listen(5001, { send: "test.txt", keepOpen: true });
 * ```
 */
export async function listen(port: number, options: ListenOptions = {}): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const host = options.host ?? "127.0.0.1";
  if (options.udp) return listenUdp(port, host, options, log);
  const server = await createServer(options.unix ?? [host, port], {
    family: options.unix ? AF_UNIX : ipVersion(host) === 6 ? AF_INET6 : AF_INET,
    dualstackIpv6: host === "::",
    tls: options.tls,
  });
  let current: Socket | null = null;
  // Stop accepting at once; a live session gets a grace period to finish.
  const onAbort = () => {
    void server.close();
    const live = current;
    if (live !== null) setTimeout(() => void live.close(), GRACE_MS).unref();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    warnIfAllInterfaces(host, options.unix, log);
    const proto = options.unix ? "unix" : options.tls ? "tls" : "tcp";
    log(`listening on ${formatAddress(server.getsockname())} (${proto})`);
    const sink = options.outputFile
      ? createWriteStream(options.outputFile)
      : (options.output ?? process.stdout);
    try {
      for await (const [conn] of server) {
        current = conn;
        try {
          await serveOne(conn, options, sink);
        } catch (err) {
          if (!options.signal?.aborted) throw err;
        } finally {
          current = null;
        }
        if (!options.keepOpen || options.signal?.aborted) break;
      }
    } finally {
      if (options.outputFile) {
        (sink as ReturnType<typeof createWriteStream>).end();
        await once(sink, "close");
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await server.close();
  }
}

/** The warning to print when `host` means every interface, else null. */
export function allInterfacesWarning(host: string, unix?: string): string | null {
  if (unix !== undefined || (host !== "" && host !== "0.0.0.0" && host !== "::")) return null;
  return "warning: listening on all interfaces: other machines can connect";
}

function warnIfAllInterfaces(
  host: string,
  unix: string | undefined,
  log: (line: string) => void,
): void {
  const warning = allInterfacesWarning(host, unix);
  if (warning !== null) log(warning);
}

/** One client: a file to send, or a two-way copy until the client closes. */
async function serveOne(conn: Socket, options: ListenOptions, sink: Writable): Promise<void> {
  try {
    if (options.send !== undefined) {
      await sendFile(conn, options.send);
      conn.shutdown(SHUT_WR);
      await socketToSink(conn, null); // whatever the client says (the seed's greeting) is read and dropped
      return;
    }
    const receiving = socketToSink(conn, sink);
    // Standard input belongs to one client: with --keep-open it is not sent.
    if (options.outputFile === undefined && !options.keepOpen) {
      const input = options.input ?? process.stdin;
      const typing = options.interactive
        ? typeLines(input, options.prompts ?? process.stderr, conn, false)
        : inputToSocket(input, conn);
      void typing.catch(() => {});
    }
    await receiving;
  } finally {
    await conn.close();
  }
}

async function sendFile(conn: Socket, path: string): Promise<void> {
  const file = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      // sendall resolves once the kernel has the bytes, so the buffer can be reused.
      await conn.sendall(buf.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
}

async function listenUdp(
  port: number,
  host: string,
  options: ListenOptions,
  log: (line: string) => void,
) {
  const family = ipVersion(host) === 6 ? AF_INET6 : AF_INET;
  await using s = socket(family, SOCK_DGRAM);
  await s.bind([host, port]);
  warnIfAllInterfaces(host, undefined, log);
  log(`listening on ${formatAddress(s.getsockname())} (udp)`);
  const onAbort = () => void s.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const sink = options.output ?? process.stdout;
  let peer: [string, number] | null = null;
  // Input lines go back to whoever sent the last datagram.
  void (async () => {
    for await (const chunk of options.input ?? process.stdin) {
      if (peer !== null) await s.sendto(chunk as Buffer, peer);
    }
  })().catch(() => {});
  try {
    for (;;) {
      const [data, from] = await s.recvfrom(65535);
      peer = from as [string, number];
      if (!sink.write(data)) await once(sink, "drain");
    }
  } catch (err) {
    if (!s.closed) throw err;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}
