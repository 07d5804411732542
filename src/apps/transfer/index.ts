/**
 * File transfer (docs/transfer-protocol.md): `send`/`receive` push files to a waiting
 * receiver; `share`/`fetch` serve them to whoever connects, the tutorials' direction.
 * Every file is checked with SHA-256 before it gets its name, a cut transfer resumes, and
 * the receiver decides where files go.
 *
 * @example
 * ```ts
 * import { receive, send } from "socketkit/apps/transfer";
 * const stop = new AbortController();
 * void receive({ port: 9000, dir: "incoming", signal: stop.signal });
 * await send(["photos"], ["127.0.0.1", 9000]);
 * ```
 * @module
 */
import type { ConnectionOptions, TlsOptions } from "node:tls";
import type { Role } from "../../codec/transfer-codec.ts";
import { formatAddress, ipVersion } from "../../core/address.ts";
import { AF_INET, AF_INET6 } from "../../core/constants.ts";
import { AccessGate } from "../../server/access-gate.ts";
import { createConnection } from "../../socket/create-connection.ts";
import { createServer } from "../../socket/create-server.ts";
import type { Socket } from "../../socket/socket.ts";
import { allInterfacesWarning } from "../listen.ts";
import { Channel } from "./channel.ts";
import { listSources, type SourceTree } from "./files.ts";
import {
  type ReceiveOptions,
  runReceiver,
  runSender,
  type TransferProgress,
  type TransferSummary,
} from "./transfer.ts";

export { checkRelativePath } from "../../codec/transfer-codec.ts";
export { listSources, targetPath } from "./files.ts";
export type { TransferProgress, TransferSummary } from "./transfer.ts";

/** Options every transfer command takes. */
export interface TransferOptions {
  /** Both sides must know it: an HMAC challenge-response proves it. @default null */
  secret?: string | null;
  /** Seconds a silent peer is waited for before the transfer fails. @default 30 */
  timeout?: number;
  /** Progress as it goes. */
  progress?: TransferProgress;
  /** Notices (listening on, warnings). @default process.stderr */
  log?: (line: string) => void;
}

/** Options of the client side (`send`, `fetch`). */
export interface TransferClientOptions extends TransferOptions {
  /** TLS to the server. */
  tls?: ConnectionOptions;
  /** With `tls`: the certificate's SHA-256 fingerprint to accept. */
  fingerprint256?: string;
}

/** Options of the server side (`receive`, `share`). */
export interface TransferServerOptions extends TransferOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Serve TLS. */
  tls?: TlsOptions;
  /** Stops waiting when aborted. */
  signal?: AbortSignal;
  /** Called with the bound address once it accepts. */
  onListening?: (address: [string, number]) => void;
  /**
   * IPv4 and IPv6 addresses and CIDR ranges (comma-separated within a string) of the only
   * peers let in; others are closed at once, before any transfer message, and logged
   * once per host. @default undefined (every peer)
   */
  allow?: readonly string[];
  /** Addresses and CIDR ranges of peers refused, whatever `allow` says. @default undefined */
  deny?: readonly string[];
}

/** Sends files and folders to a waiting `receive`. */
export async function send(
  paths: string[],
  to: [string, number],
  options: TransferClientOptions = {},
): Promise<TransferSummary> {
  const tree = await sources(paths, options);
  const conn = await connectTo(to, options);
  return transferOn(conn, "sender", formatAddress(to), options, (channel) =>
    runSender(channel, tree, options.progress),
  );
}

/** Downloads what a `share` serves into `dir`. */
export async function fetch(
  from: [string, number],
  options: TransferClientOptions & Omit<ReceiveOptions, "dir"> & { dir?: string } = {},
): Promise<TransferSummary> {
  const conn = await connectTo(from, options);
  return transferOn(conn, "receiver", formatAddress(from), options, (channel) =>
    runReceiver(channel, { ...options, dir: options.dir ?? "." }, options.progress),
  );
}

/**
 * Waits for one `send` and writes what it sends into `dir`. Resolves with null when the
 * signal stops the wait before a sender comes.
 */
export async function receive(
  options: TransferServerOptions & Omit<ReceiveOptions, "dir"> & { dir?: string } = {},
): Promise<TransferSummary | null> {
  const { server, gate } = await listenOn(options);
  let accepted: Awaited<ReturnType<Socket["accept"]>>;
  try {
    for (;;) {
      accepted = await server.accept();
      if (gate === null || gate.admits(accepted[1])) break;
      void accepted[0].close();
    }
  } catch (err) {
    if (options.signal?.aborted) return null;
    throw err;
  } finally {
    await server.close();
    gate?.close();
  }
  const [conn, address] = accepted;
  return transferOn(conn, "receiver", formatAddress(address), options, (channel) =>
    runReceiver(channel, { ...options, dir: options.dir ?? "." }, options.progress),
  );
}

/**
 * Serves `paths` to every `fetch` that connects, one after another, until the signal
 * aborts (or after one with `once`). Resolves with the summaries of the transfers made.
 */
export async function share(
  paths: string[],
  options: TransferServerOptions & {
    once?: boolean;
    /** Called after each transfer, with its summary or its error. */
    onTransfer?: (peer: string, result: TransferSummary | Error) => void;
  } = {},
): Promise<TransferSummary[]> {
  const tree = await sources(paths, options);
  const results: TransferSummary[] = [];
  const { server, gate } = await listenOn(options);
  try {
    for await (const [conn, address] of server) {
      if (gate !== null && !gate.admits(address)) {
        void conn.close();
        continue;
      }
      const peer = formatAddress(address);
      try {
        const result = await transferOn(conn, "sender", peer, options, (channel) =>
          runSender(channel, tree, options.progress),
        );
        results.push(result);
        options.onTransfer?.(peer, result);
      } catch (err) {
        // One fetch failing (a wrong secret, a peer gone) never stops the share.
        options.onTransfer?.(peer, err instanceof Error ? err : new Error(String(err)));
      }
      if (options.once || options.signal?.aborted) break;
    }
  } finally {
    await server.close();
    gate?.close();
  }
  return results;
}

/** The files to send, with a line for each link or special file left out. */
async function sources(paths: string[], options: TransferOptions): Promise<SourceTree> {
  const tree = await listSources(paths);
  for (const skipped of tree.skipped) {
    log(options)(`skipped ${skipped}: not a file or folder (links are not followed)`);
  }
  return tree;
}

/**
 * One transfer on a connection, as `role`: the handshake, then `run`; a stall the
 * watchdog saw is reported as such; the connection is closed however it ends.
 */
async function transferOn(
  conn: Socket,
  role: Role,
  peer: string,
  options: TransferOptions,
  run: (channel: Channel) => Promise<TransferSummary>,
): Promise<TransferSummary> {
  const channel = new Channel(conn, role, peer, options.timeout ?? 30);
  try {
    await channel.handshake(options.secret ?? null);
    return await run(channel);
  } catch (err) {
    throw channel.reason(err);
  } finally {
    channel.close();
    await conn.close();
  }
}

/** The listening socket, and the gate for its peers (null: everyone is let in). */
async function listenOn(
  options: TransferServerOptions,
): Promise<{ server: Socket; gate: AccessGate | null }> {
  const host = options.host ?? "127.0.0.1";
  const gate = AccessGate.create(options, { log: log(options) });
  const server = await createServer([host, options.port ?? 0], {
    family: ipVersion(host) === 6 ? AF_INET6 : AF_INET,
    dualstackIpv6: host === "::",
    tls: options.tls,
  });
  const say = log(options);
  for (const warning of listenWarnings(host, options.secret ?? null)) say(warning);
  const address = server.getsockname() as [string, number];
  say(`listening on ${formatAddress(address)} (${options.tls ? "tls" : "tcp"})`);
  options.onListening?.(address);
  const onAbort = () => void server.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  return { server, gate };
}

async function connectTo(to: [string, number], options: TransferClientOptions): Promise<Socket> {
  const conn = await createConnection(to, {
    timeout: options.timeout ?? 30,
    tls: options.tls,
    fingerprint256: options.fingerprint256,
  });
  // The connect timeout is not kept as the socket's: the channel's watchdog watches the
  // transfer instead, at no cost per read.
  conn.settimeout(null);
  return conn;
}

/** The warnings for a transfer server on `host`: every interface, and no secret off loopback. */
export function listenWarnings(host: string, secret: string | null): string[] {
  const out: string[] = [];
  const all = allInterfacesWarning(host);
  if (all !== null) out.push(all);
  if (!isLoopback(host) && !secret) {
    out.push("warning: no --secret: anyone who can reach this port can take part in the transfer");
  }
  return out;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function log(options: TransferOptions): (line: string) => void {
  return options.log ?? ((line) => process.stderr.write(`${line}\n`));
}
