import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { type Readable, Writable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import type { TlsOptions } from "node:tls";
import { allInterfacesWarning, formatAddress, hostOf, ipVersion } from "../core/address.ts";
import { BoundedLog } from "../core/bounded-log.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SHUT_WR,
  SO_LINGER,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { AccessListError, messageOf, TimeoutError } from "../core/errors.ts";
import { stderrLine } from "../core/log-budget.ts";
import { whenAborted } from "../core/when-aborted.ts";
import { AccessGate } from "../server/access-gate.ts";
import { createServer } from "../socket/create-server.ts";
import { type Socket, socket } from "../socket/socket.ts";
import { Outbox } from "./outbox.ts";
import { type ByteTarget, inputToSocket, socketToSink } from "./pump.ts";
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
   * IPv4 and IPv6 addresses and CIDR ranges (comma-separated within a string) of the only
   * peers let in; others are closed at once (TCP) or their datagrams dropped (UDP), and
   * logged once per host. Not with `unix`. @default undefined (every peer)
   */
  allow?: readonly string[];
  /** Addresses and CIDR ranges of peers refused, whatever `allow` says. @default undefined */
  deny?: readonly string[];
  /**
   * Line-interactive, as the seed's 1:1 chat server: a prompt on `prompts`, each typed
   * line sent to the client, `q` alone closing the connection. The CLI turns it on when
   * standard input is a terminal. @default false
   */
  interactive?: boolean;
  /** Where the interactive prompt goes. @default process.stderr */
  prompts?: Writable;
  /**
   * With keepOpen: milliseconds a client may take no bytes of the input while the others
   * wait for it, before it is dropped. @default 5000
   */
  stallMs?: number;
  /**
   * With keepOpen: clients served at once; one more is closed at once, and logged (once
   * per host, at most 10 lines in 10 s). @default 100
   */
  maxConns?: number;
  /**
   * Seconds a client may go without a byte moving either way before it is closed (TCP
   * and Unix; null or 0: never, as with ncat). @default null
   */
  idleTimeout?: number | null;
  /**
   * Say more on `log`, as `ncat -v`: `Connection from HOST:PORT` for each client, and with
   * keepOpen, `from HOST:PORT` before the bytes of a client other than the last one's.
   * @default false
   */
  verbose?: boolean;
  /** Send the input's line ends as CRLF (`ncat -C`). @default false */
  crlf?: boolean;
}

/**
 * What `socketkit listen` does, as `nc -l`: waits for a client, then copies input to it
 * and what it sends to the output, byte for byte; with `send`, serves a file instead, and
 * with `outputFile`, collects what the client sends.
 *
 * @example
 * ```ts
 * import { listen } from "./listen.ts";
 * await listen(5001, { send: "test.txt", keepOpen: true });
 * ```
 */
export async function listen(port: number, options: ListenOptions = {}): Promise<void> {
  const log = options.log ?? stderrLine;
  const host = options.host ?? "127.0.0.1";
  const gate = AccessGate.create(options, { log });
  if (gate !== null && options.unix !== undefined) {
    throw new AccessListError(
      "Cannot filter the peers of a Unix socket: allow and deny take IP addresses",
    );
  }
  try {
    if (options.udp) return await listenUdp(port, host, options, log, gate);
    return await listenStream(port, host, options, log, gate);
  } finally {
    gate?.close();
  }
}

async function listenStream(
  port: number,
  host: string,
  options: ListenOptions,
  log: (line: string) => void,
  gate: AccessGate | null,
): Promise<void> {
  const server = await createServer(options.unix ?? [host, port], {
    family: options.unix ? AF_UNIX : ipVersion(host) === 6 ? AF_INET6 : AF_INET,
    dualstackIpv6: host === "::",
    tls: options.tls,
    // A refused peer is closed as it connects, before a TLS handshake.
    admit: gate?.admits,
  });
  // Clients being served: one at a time, or all at once with keepOpen.
  const live = new Set<Socket>();
  const maxConns = options.maxConns ?? MAX_CONNS;
  const refused = new BoundedLog({
    log,
    summary: (n) => `refused ${n} more ${n === 1 ? "client" : "clients"} (not logged one by one)`,
  });
  // Stop accepting at once; live sessions get a grace period to finish.
  const stop = () => {
    void server.close();
    if (live.size > 0) {
      setTimeout(() => {
        for (const conn of live) abort(conn);
      }, GRACE_MS).unref();
    }
  };
  // Read before an abort (one that came already included) closes the socket.
  const where = formatAddress(server.getsockname());
  const unwire = whenAborted(options.signal, stop);
  try {
    warnIfAllInterfaces(host, options.unix, log);
    const proto = options.unix ? "unix" : options.tls ? "tls" : "tcp";
    log(`listening on ${where} (${proto})`);
    const sink = options.outputFile
      ? createWriteStream(options.outputFile)
      : (options.output ?? process.stdout);
    // Clients at once: each gets the file (send), or they share standard input and the
    // output (as ncat --keep-open). Collected output (outputFile) stays one client at a
    // time, so one client's bytes are never interleaved with another's.
    const together = options.keepOpen === true && options.outputFile === undefined;
    const input = options.input ?? process.stdin;
    const everyone =
      together && options.send === undefined
        ? new Broadcast(log, options.stallMs ?? STALL_MS)
        : null;
    const crlf = options.crlf ?? false;
    let screen = sink;
    if (everyone !== null) {
      const typed = options.interactive
        ? typeLines(input, options.prompts ?? process.stderr, everyone, crlf)
        : null;
      if (typed !== null) screen = typed.above(sink);
      const typing = typed?.done ?? inputToSocket(input, everyone, crlf);
      // `q` typed (or an input error) ends the whole listener, as it ends a single session.
      void typing.then(() => everyone.quitted && stop(), stop);
    }
    const labels = options.verbose && together ? new SourceLabels(log) : null;
    const sessions: Promise<void>[] = [];
    try {
      for await (const [conn, address] of server) {
        const who = formatAddress(address) || "a client";
        if (together && live.size >= maxConns) {
          refused.note(hostOf(address), `refused ${who} (${live.size} clients already)`);
          void conn.close();
          continue;
        }
        live.add(conn);
        if (options.verbose) log(`Connection from ${who}`);
        if (options.idleTimeout) conn.setIdleTimeout(options.idleTimeout);
        const out = labels === null ? screen : labels.sink(screen, who);
        const session = serveOne(conn, who, options, out, everyone, input)
          .catch((err: unknown) => {
            // A client of many that fails or falls idle ends its own session only.
            if (together || (options.keepOpen && err instanceof TimeoutError)) {
              log(`${who}: ${messageOf(err)}`);
            } else if (!options.signal?.aborted) throw err;
          })
          .finally(() => live.delete(conn));
        if (!together) {
          await session;
          if (!options.keepOpen || options.signal?.aborted) break;
        } else {
          sessions.push(session);
          void session.then(() => sessions.splice(sessions.indexOf(session), 1));
        }
      }
      await Promise.all(sessions);
    } finally {
      if (options.outputFile) {
        (sink as ReturnType<typeof createWriteStream>).end();
        await once(sink, "close");
      }
    }
  } finally {
    unwire();
    refused.close();
    await server.close();
  }
}

/** Clients of `--keep-open` served at once, unless told otherwise. */
const MAX_CONNS = 100;

function warnIfAllInterfaces(
  host: string,
  unix: string | undefined,
  log: (line: string) => void,
): void {
  const warning = allInterfacesWarning(host, unix);
  if (warning !== null) log(warning);
}

/**
 * One client: a file to send, or a copy of what it sends to the sink until it closes,
 * with standard input going to it (alone, or through `everyone` with keepOpen).
 */
async function serveOne(
  conn: Socket,
  who: string,
  options: ListenOptions,
  sink: Writable,
  everyone: Broadcast | null,
  input: Readable,
): Promise<void> {
  try {
    if (options.send !== undefined) {
      await sendFile(conn, options.send);
      conn.shutdown(SHUT_WR);
      await socketToSink(conn, null); // whatever the client says (the seed's greeting) is read and dropped
      return;
    }
    let screen = sink;
    let sending: Promise<void> | null = null;
    if (everyone !== null) everyone.add(conn, who);
    else if (options.outputFile === undefined && !options.keepOpen) {
      const crlf = options.crlf ?? false;
      const typed = options.interactive
        ? typeLines(input, options.prompts ?? process.stderr, conn, crlf)
        : null;
      if (typed !== null) screen = typed.above(sink);
      sending = (typed?.done ?? inputToSocket(input, conn, crlf)).catch(() => {});
    }
    const receiving = socketToSink(conn, screen);
    try {
      await receiving;
      // The client has ended its side, maybe before the input was read: what a pipe or a
      // file still holds goes to it all the same, as nc sends it (a client that has gone
      // makes the sending fail, which ends it). A terminal's user is done with the client.
      if (sending !== null && !(input as { isTTY?: boolean }).isTTY) await sending;
    } finally {
      await everyone?.delete(conn);
    }
  } finally {
    await conn.close();
  }
}

/**
 * Closes a client at once, dropping what it has not taken: the grace period is over, and
 * an orderly close would linger while a client that reads nothing holds the bytes back.
 */
function abort(conn: Socket): void {
  try {
    if (!conn.closed) conn.setsockopt(SOL_SOCKET, SO_LINGER, LINGER_RESET);
  } catch {
    // Closed meanwhile: nothing to reset.
  }
  void conn.close();
}

/** SO_LINGER on with 0 seconds (Python's `struct.pack("ii", 1, 0)`): close() resets. */
const LINGER_RESET = Buffer.from(new Int32Array([1, 0]).buffer);

/**
 * With `--keep-open -v`: a `from HOST:PORT` line on the log before the bytes of a client
 * other than the one whose bytes came last, so a reader can tell who sent what while the
 * output stays the clients' bytes.
 */
class SourceLabels {
  readonly #log: (line: string) => void;
  #last: string | null = null;

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  sink(output: Writable, who: string): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.#last !== who) this.#log(`from ${who}:`);
        this.#last = who;
        if (output.write(chunk)) callback();
        else output.once("drain", () => callback());
      },
    });
  }
}

/** How long a client may take no bytes at all while the input waits for it (ms). */
const STALL_MS = 5000;

/**
 * Standard input for every client of `listen --keep-open` (as ncat broadcasts it): each
 * client has its own bounded queue, the input is read as fast as the clients take it,
 * and a client that takes nothing for `stallMs` while the others wait is dropped,
 * so it cannot hold everyone up. At the end of the input every client, present and
 * future, is half-closed.
 */
class Broadcast implements ByteTarget {
  readonly #log: (line: string) => void;
  /** Each client's queue, and its name for the log. */
  readonly #clients = new Map<Socket, { out: Outbox; who: string }>();
  #ended = false;
  /** `q` was typed: the listener stops. */
  quitted = false;

  readonly #stallMs: number;

  constructor(log: (line: string) => void, stallMs: number) {
    this.#log = log;
    this.#stallMs = stallMs;
  }

  get closed(): boolean {
    return this.quitted;
  }

  add(conn: Socket, who: string): void {
    if (this.#ended) conn.shutdown(SHUT_WR);
    else this.#clients.set(conn, { out: new Outbox(conn, { limit: OUTBOX_LIMIT }), who });
  }

  /**
   * The client has ended its side: what the others sent it is still delivered (now, not at
   * the turn's end), for as long as it keeps taking bytes, before its connection closes.
   */
  async delete(conn: Socket): Promise<void> {
    const client = this.#clients.get(conn);
    this.#clients.delete(conn);
    if (client === undefined) return;
    client.out.flush();
    await Promise.race([client.out.below(0), delay(this.#stallMs, undefined, { ref: false })]);
  }

  async sendall(data: Buffer | string): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    for (const [conn, { out }] of this.#clients) if (!out.push(bytes)) this.#drop(conn);
    // Read on once every client has room for more (or was dropped for taking nothing).
    await Promise.all([...this.#clients].map(([conn, { out }]) => this.#room(conn, out)));
  }

  async #room(conn: Socket, out: Outbox): Promise<void> {
    const half = OUTBOX_LIMIT / 2;
    while (out.queued > half && !out.failed && this.#clients.has(conn)) {
      await Promise.race([out.below(half), delay(this.#stallMs / 5, undefined, { ref: false })]);
      if (out.stalledFor >= this.#stallMs) this.#drop(conn);
    }
  }

  #drop(conn: Socket): void {
    const client = this.#clients.get(conn);
    if (client === undefined) return;
    this.#clients.delete(conn);
    this.#log(`dropped ${client.who}: it is not reading`);
    void conn.close();
  }

  shutdown(): void {
    this.#ended = true;
    for (const [conn, { out }] of this.#clients) {
      void out.below(0).then(() => {
        if (!conn.closed) conn.shutdown(SHUT_WR);
      });
    }
  }

  async close(): Promise<void> {
    this.quitted = true;
    await Promise.all([...this.#clients.keys()].map((conn) => conn.close()));
  }
}

/** Bytes of standard input queued per client of `--keep-open`. */
const OUTBOX_LIMIT = 1024 * 1024;

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

/** Bytes of input kept for the first sender of `listen --udp` (more is dropped). */
const EARLY_INPUT_LIMIT = 1024 * 1024;

async function listenUdp(
  port: number,
  host: string,
  options: ListenOptions,
  log: (line: string) => void,
  gate: AccessGate | null,
): Promise<void> {
  const family = ipVersion(host) === 6 ? AF_INET6 : AF_INET;
  await using s = socket(family, SOCK_DGRAM);
  await s.bind([host, port]);
  warnIfAllInterfaces(host, undefined, log);
  log(`listening on ${formatAddress(s.getsockname())} (udp)`);
  const unwire = whenAborted(options.signal, () => void s.close());
  const sink = options.output ?? process.stdout;
  let peer: [string, number] | null = null;
  // Input goes back to whoever sent the last datagram; what comes before the first one is
  // kept (up to EARLY_INPUT_LIMIT bytes) for the first sender, as ncat keeps it.
  const early: Buffer[] = [];
  let earlyBytes = 0;
  void (async () => {
    for await (const chunk of options.input ?? process.stdin) {
      const data = chunk as Buffer;
      if (peer !== null) await s.sendto(data, peer);
      else if (earlyBytes + data.length <= EARLY_INPUT_LIMIT) {
        early.push(data);
        earlyBytes += data.length;
      }
    }
  })().catch(() => {});
  try {
    for (;;) {
      const [data, from] = await s.recvfrom(65535);
      if (gate !== null && !gate.admits(from)) continue;
      // In order: input read while these are sent joins them, until `peer` is set.
      for (let chunk = early.shift(); peer === null && chunk !== undefined; chunk = early.shift()) {
        await s.sendto(chunk, from);
      }
      peer = from as [string, number];
      if (!sink.write(data)) await once(sink, "drain");
    }
  } catch (err) {
    if (!s.closed) throw err;
  } finally {
    unwire();
  }
}
