/**
 * File transfer (docs/transfer-protocol.md): `send`/`receive` push files to a waiting
 * receiver; `share`/`fetch` serve them to whoever connects, the tutorials' direction.
 * Every file is checked with SHA-256 before it gets its name, a cut transfer resumes, and
 * the receiver decides where files go.
 *
 * @example
 * ```ts
 * import { receive, send } from "./index.ts";
 * const stop = new AbortController();
 * void receive({ port: 9000, dir: "incoming", signal: stop.signal });
 * await send(["photos"], ["127.0.0.1", 9000]);
 * ```
 * @module
 */
import type { ConnectionOptions, TlsOptions } from "node:tls";
import type { Role } from "../../codec/transfer-codec.ts";
import {
  allInterfacesWarning,
  formatAddress,
  hostOf,
  ipVersion,
  type SocketAddress,
} from "../../core/address.ts";
import { BoundedLog } from "../../core/bounded-log.ts";
import { AF_INET, AF_INET6 } from "../../core/constants.ts";
import { messageOf, TransferError } from "../../core/errors.ts";
import { stderrLine } from "../../core/log-budget.ts";
import { whenAborted } from "../../core/when-aborted.ts";
import { AccessGate } from "../../server/access-gate.ts";
import { createConnection } from "../../socket/create-connection.ts";
import { createServer } from "../../socket/create-server.ts";
import type { Socket } from "../../socket/socket.ts";
import { Channel } from "./channel.ts";
import { DestDir, STAGING_DIR } from "./dest-dir.ts";
import { listSources, type SourceTree } from "./files.ts";
import {
  type HandshakeOutcome,
  HandshakePool,
  type HandshakePoolOptions,
} from "./handshake-pool.ts";
import {
  type ReceiveOptions,
  runReceiver,
  runSender,
  type TransferProgress,
  type TransferSummary,
} from "./transfer.ts";

export { checkRelativePath } from "../../codec/transfer-codec.ts";
export { DestDir, STAGING_DIR } from "./dest-dir.ts";
export { listSources } from "./files.ts";
export type {
  FileOutcome,
  TransferProgress,
  TransferredFile,
  TransferSummary,
} from "./transfer.ts";

/** Options every transfer command takes. */
export interface TransferOptions {
  /**
   * Both sides must know it: a SPAKE2 exchange proves it without handing the peer anything
   * to test guesses against, and keys the encryption of the whole transfer. @default null
   */
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
  /**
   * Seconds a transfer in progress when the signal aborts may take to end; then its
   * connection is closed, the partial files kept for a later transfer to resume, and
   * the stop is logged in one line. @default 5
   */
  gracePeriod?: number;
}

/** Sends files and folders to a waiting `receive`. */
export async function send(
  paths: string[],
  to: [string, number],
  options: TransferClientOptions = {},
): Promise<TransferSummary> {
  const tree = await sources(paths, options);
  const conn = await connectTo(to, options);
  const channel = await handshakeOn(conn, "sender", formatAddress(to), options);
  return transferOn(channel, (c) => runSender(c, tree, options.progress));
}

/**
 * Downloads what a `share` serves into `dir`, made first if it is not there (a `dir` that
 * cannot be written fails before connecting).
 */
export async function fetch(
  from: [string, number],
  options: TransferClientOptions & Omit<ReceiveOptions, "dir"> & { dir?: string } = {},
): Promise<TransferSummary> {
  await DestDir.prepare(options.dir ?? ".");
  const conn = await connectTo(from, options);
  const channel = await handshakeOn(conn, "receiver", formatAddress(from), options);
  return transferOn(channel, (c) =>
    runReceiver(c, { ...options, dir: options.dir ?? "." }, options.progress),
  );
}

/**
 * Waits for one `send` and writes what it sends into `dir`, made first if it is not there
 * (a `dir` that cannot be written fails before listening). A connection that fails
 * before the transfer begins (not a transfer peer, the wrong version or role, a secret
 * that does not match, silent for `timeout`) is logged in one line (a flood of them in a
 * few) and closed, and the wait goes on. Up to `maxHandshakes` are checked at once, and a
 * connection past them drops the oldest of the host with the most, so silent ones only
 * delay the sender; a host whose secret did not match is refused for 1 s, then 2, 4, ...
 * up to 60 s while it goes on failing. Once a sender has passed the handshake, its
 * transfer is the one: it succeeds or fails as a whole.
 *
 * Resolves with null when the signal stops the wait before a sender comes, or stops the
 * transfer in progress (after `gracePeriod`: see {@link TransferServerOptions}).
 */
export async function receive(
  options: TransferServerOptions &
    Pick<HandshakePoolOptions, "maxHandshakes"> &
    Omit<ReceiveOptions, "dir"> & { dir?: string } = {},
): Promise<TransferSummary | null> {
  await DestDir.prepare(options.dir ?? ".");
  const { server, gate } = await listenOn(options);
  let channel: Channel | null;
  try {
    channel = await firstSender(server, options);
  } finally {
    await server.close();
    gate?.close();
  }
  if (channel === null) return null;
  try {
    return await transferOn(
      channel,
      (c) => runReceiver(c, { ...options, dir: options.dir ?? "." }, options.progress),
      options,
    );
  } catch (err) {
    if (!isStopped(err)) throw err;
    log(options)(
      `${err.message}; what arrived is kept in ${STAGING_DIR} for the same send to resume`,
    );
    return null;
  }
}

/**
 * Handshakes run side by side while `receive` waits for its sender; a connection past it
 * drops the oldest handshake of the busiest host (see {@link HandshakePool}).
 */
const MAX_HANDSHAKES = 32;

/**
 * Accepts connections and runs their handshakes side by side until one passes: its
 * channel (the others are closed), or null when the signal stops the wait. A failed
 * handshake is logged through a {@link BoundedLog} and the wait goes on. The
 * {@link HandshakePool} delays rather than refuses: a full pool drops the oldest handshake
 * of the host with the most, and a host whose secret failed is refused for a while.
 */
async function firstSender(
  server: Socket,
  options: TransferServerOptions & Pick<HandshakePoolOptions, "maxHandshakes">,
): Promise<Channel | null> {
  const ignored = new BoundedLog({
    log: log(options),
    summary: (n) =>
      `ignored ${n} more ${n === 1 ? "connection" : "connections"} (not logged one by one)`,
  });
  const max = options.maxHandshakes ?? MAX_HANDSHAKES;
  const pool = new HandshakePool<Socket>({ maxHandshakes: max });
  let failedSecrets = 0;
  let winner: Channel | null = null;
  let won!: () => void;
  const found = new Promise<void>((resolve) => {
    won = resolve;
  });
  const check = async (conn: Socket, address: SocketAddress) => {
    const peer = formatAddress(address) || "a peer";
    const admission = pool.admit(hostOf(address), conn);
    if (!admission.admitted) {
      const { host, seconds, failures } = admission;
      if (admission.first) {
        ignored.note(
          `${host} refusing ${failures}`,
          `refusing ${host} for ${seconds} s after ${failures} failed ${failures === 1 ? "secret" : "secrets"}`,
        );
      }
      void conn.close();
      return;
    }
    const { entry, dropped } = admission;
    // Its own handshake fails on the close and logs it.
    if (dropped !== null) void dropped.value.close();
    let outcome: HandshakeOutcome = "failed";
    try {
      const channel = await handshakeOn(conn, "receiver", peer, options);
      if (entry.dropped) {
        // Dropped as its last step ended: its connection is closed already.
        channel.close();
        throw new TransferError(`Dropped ${peer}`, { code: "ERR_TRANSFER_CLOSED" });
      }
      outcome = "passed";
      if (winner === null) {
        winner = channel;
        won();
      } else {
        await channel.fail(busy());
        channel.close();
        await conn.close();
      }
    } catch (err) {
      if (winner !== null || options.signal?.aborted) return;
      if (entry.dropped) {
        ignored.note(
          `${entry.host} dropped`,
          `ignored ${peer}: dropped for a newer connection (${max} handshakes in progress)`,
        );
        return;
      }
      if (options.secret != null && isAuthFailure(err)) {
        outcome = "bad-secret";
        // Each in a line of its own (within the log's budget): every guess is worth seeing.
        ignored.note(`secret ${++failedSecrets}`, `ignored ${peer}: ${messageOf(err)}`);
        return;
      }
      // The same words from the same host are written once a window: a scan, say.
      ignored.note(`${hostOf(address)} ${messageOf(err)}`, `ignored ${peer}: ${messageOf(err)}`);
    } finally {
      pool.finish(entry, outcome);
    }
  };
  const accepting = (async () => {
    for (;;) {
      const [conn, address] = await server.accept();
      void check(conn, address);
    }
  })();
  try {
    await Promise.race([found, accepting]);
    return winner;
  } catch (err) {
    // The listening socket was closed: by the signal, or it failed.
    if (options.signal?.aborted) return null;
    throw err;
  } finally {
    accepting.catch(() => {});
    for (const conn of pool.values()) void conn.close();
    ignored.close();
  }
}

/** A handshake that failed on the secret: not the same one on both sides. */
function isAuthFailure(err: unknown): boolean {
  return err instanceof TransferError && err.code === "ERR_TRANSFER_AUTH";
}

/** Why a second sender that passed the handshake while the first was starting is closed. */
function busy(): TransferError {
  return new TransferError("The receiver is taken by another sender", {
    code: "ERR_TRANSFER_BUSY",
  });
}

/**
 * Serves `paths` to every `fetch` that connects, one after another, until the signal
 * aborts (or after one with `once`). Resolves with the summaries of the transfers made.
 * A transfer in progress when the signal aborts gets `gracePeriod` to end.
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
      const peer = formatAddress(address);
      let began = false;
      try {
        const channel = await handshakeOn(conn, "sender", peer, options, options.signal);
        began = true;
        const result = await transferOn(
          channel,
          (c) => runSender(c, tree, options.progress),
          options,
        );
        results.push(result);
        options.onTransfer?.(peer, result);
      } catch (err) {
        if (!isStopped(err)) {
          // One fetch failing (a wrong secret, a peer gone) never stops the share.
          options.onTransfer?.(peer, err instanceof Error ? err : new Error(String(err)));
        } else if (began) {
          log(options)(`${err.message}; the same fetch again resumes from what it received`);
        }
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
 * A channel on a new connection, as `role`, once the handshake has passed; when it
 * fails, the connection is closed and the reason thrown (a stall the watchdog saw is
 * reported as such). A `signal` that aborts meanwhile ends it at once, nothing having
 * begun: the error is then an `ERR_TRANSFER_STOPPED`.
 */
async function handshakeOn(
  conn: Socket,
  role: Role,
  peer: string,
  options: TransferOptions,
  signal?: AbortSignal,
): Promise<Channel> {
  const channel = new Channel(conn, role, peer, options.timeout ?? 30);
  const onStop = () =>
    channel.cut(
      new TransferError(`Stopped before a transfer with ${peer} began`, {
        code: "ERR_TRANSFER_STOPPED",
      }),
    );
  const unwire = whenAborted(signal, onStop);
  try {
    await channel.handshake(options.secret ?? null);
    return channel;
  } catch (err) {
    channel.close();
    await conn.close();
    throw channel.reason(err);
  } finally {
    unwire();
  }
}

/**
 * Runs a transfer on a channel that passed its handshake; the connection is closed
 * however it ends. With a `signal` (a server's), its abort gives the transfer
 * `gracePeriod` seconds, then cuts it: the error thrown is then an `ERR_TRANSFER_STOPPED`.
 */
async function transferOn(
  channel: Channel,
  run: (channel: Channel) => Promise<TransferSummary>,
  stop: Pick<TransferServerOptions, "signal" | "gracePeriod"> = {},
): Promise<TransferSummary> {
  const grace = stop.gracePeriod ?? 5;
  let timer: NodeJS.Timeout | null = null;
  const onStop = () => {
    timer = setTimeout(() => {
      const err = new TransferError(
        `Stopped: the transfer with ${channel.peerLabel} did not end within the ${grace} s grace period`,
        { code: "ERR_TRANSFER_STOPPED" },
      );
      // A receiver's messages may come at any time, even while data flows: it says why.
      if (channel.role === "receiver") void channel.fail(err);
      channel.cut(err);
    }, grace * 1000);
  };
  const unwire = whenAborted(stop.signal, onStop);
  try {
    return await run(channel);
  } catch (err) {
    throw channel.reason(err);
  } finally {
    unwire();
    if (timer !== null) clearTimeout(timer);
    channel.close();
    await channel.conn.close();
  }
}

/** An error of a transfer cut because the server stopped. */
function isStopped(err: unknown): err is TransferError {
  return err instanceof TransferError && err.code === "ERR_TRANSFER_STOPPED";
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
    // A refused peer is closed as it connects, before a TLS handshake.
    admit: gate?.admits,
  });
  const say = log(options);
  for (const warning of listenWarnings(host, options.secret ?? null)) say(warning);
  const address = server.getsockname() as [string, number];
  say(`listening on ${formatAddress(address)} (${options.tls ? "tls" : "tcp"})`);
  options.onListening?.(address);
  // Closing the socket ends the accepting (an abort before it began included).
  whenAborted(options.signal, () => void server.close());
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
  return options.log ?? stderrLine;
}
