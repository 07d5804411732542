import { hkdfSync } from "node:crypto";
import {
  checkMessageLength,
  checkPreamble,
  decodeMessage,
  encodeMessage,
  encodePreamble,
  PREAMBLE_SIZE,
  type Role,
  type TransferMessage,
} from "../../codec/transfer-codec.ts";
import {
  IPPROTO_TCP,
  SHUT_WR,
  SO_RCVBUF,
  SO_SNDBUF,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../../core/constants.ts";
import { IncompleteReadError, messageOf, TimeoutError, TransferError } from "../../core/errors.ts";
import { BufferedReader } from "../../socket/buffered-reader.ts";
import type { Socket } from "../../socket/socket.ts";
import { PlainWire, SealedWire, type Wire } from "./wire.ts";

/** Receive and send buffer of a transfer connection (socketkit's own, in user space). */
const BULK_BUFFER = 4 * 1024 * 1024;

/** What one read takes while draining a failed transfer. */
const DRAIN_READ = 64 * 1024;

type Of<T extends TransferMessage["t"]> = Extract<TransferMessage, { t: T }>;

/** The SPAKE2 identity of this protocol: a password agreed for another use does not fit. */
const PAKE_ID = "socketkit transfer v2";

/**
 * One side of a transfer connection: the handshake (preamble, then, with a secret, a
 * SPAKE2 exchange after which everything travels in encrypted records) and the control
 * messages. An `error` message from the peer becomes a `TransferError` with the peer's
 * words; a message of the wrong kind is a protocol error.
 */
export class Channel {
  readonly conn: Socket;
  readonly rfile: BufferedReader;
  readonly role: Role;
  readonly peerLabel: string;
  /** Bumped by every step that moves bytes; the watchdog looks for change. */
  activity = 0;
  /**
   * Why the connection was cut from outside the transfer (the watchdog saw a silent
   * peer, the server is stopping), the error to report in place of what the cut caused.
   */
  cutBy: Error | null = null;
  /** The last `error` message the peer sent, as the error to report. */
  peerSaid: TransferError | null = null;
  /** What messages and data travel on: the connection, or encrypted records once keyed. */
  wire: Wire;
  #watchdog: NodeJS.Timeout | null = null;

  /**
   * `timeout`: seconds without any progress after which the connection is closed and the
   * transfer fails with a `TimeoutError` (null: never). Checked a few times per period
   * against a counter, so the data path pays nothing for it (a socket timeout would arm a
   * timer for every read). `wire`: what the protocol travels on when it is not `conn`'s
   * own bytes from the start (records under keys agreed before, as through a wormhole).
   */
  constructor(
    conn: Socket,
    role: Role,
    peerLabel: string,
    timeout: number | null = 30,
    wire?: Wire,
  ) {
    this.conn = conn;
    if (timeout !== null && timeout > 0) {
      let seen = -1;
      let since = performance.now();
      this.#watchdog = setInterval(
        () => {
          if (this.activity !== seen) {
            seen = this.activity;
            since = performance.now();
          } else if (performance.now() - since >= timeout * 1000) {
            this.cut(
              new TimeoutError(`Cannot transfer with ${peerLabel}: silent for ${timeout} s`),
            );
          }
        },
        Math.max(20, (timeout * 1000) / 4),
      );
      this.#watchdog.unref();
    }
    // Bulk data: room for a few megabytes each way keeps the pipe full.
    conn.setsockopt(SOL_SOCKET, SO_RCVBUF, BULK_BUFFER);
    conn.setsockopt(SOL_SOCKET, SO_SNDBUF, BULK_BUFFER);
    // Every message is written whole, often the last before a wait for the peer's answer:
    // Nagle's delay would hold it back (40 ms a file for a folder of small files).
    conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    // Not makefile: the channel reads, but closing the connection is up to its owner.
    this.rfile = new BufferedReader(conn);
    this.wire = wire ?? new PlainWire(conn, this.rfile);
    this.role = role;
    this.peerLabel = peerLabel;
  }

  async send(message: TransferMessage): Promise<void> {
    this.activity++;
    await this.wire.sendall(encodeMessage(message));
  }

  /** Sends messages made by {@link encodeMessage} (and files' data), as one write. */
  async sendRaw(parts: Buffer[]): Promise<void> {
    this.activity++;
    await this.wire.sendall(...parts);
  }

  /** Stops the watchdog. */
  close(): void {
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#watchdog = null;
  }

  /**
   * Ends the transfer from outside: closes the connection, and `reason` becomes the error
   * reported for whatever the closing makes fail. A `.part` being written is left as it
   * is, for a later transfer to resume.
   */
  cut(reason: Error): void {
    if (this.cutBy !== null) return;
    this.cutBy = reason;
    this.close();
    void this.conn.close();
  }

  /** The error to report for `err`: the cause of a cut, when there was one. */
  reason(err: unknown): unknown {
    return this.cutBy ?? err;
  }

  /** The next message, which must be one of `kinds`. */
  async expect<T extends TransferMessage["t"]>(...kinds: T[]): Promise<Of<T>> {
    const message = await this.#read();
    if (message.t === "error") throw this.#says(message);
    if (!(kinds as string[]).includes(message.t)) {
      throw new TransferError(`The peer sent ${message.t} where ${kinds.join(" or ")} was due`, {
        code: "ERR_TRANSFER_PROTOCOL",
      });
    }
    return message as Of<T>;
  }

  /** The peer's `error` message as the error to report, kept in {@link peerSaid}. */
  #says(message: Of<"error">): TransferError {
    this.peerSaid = new TransferError(`The ${this.#peerRole()} says: ${message.message}`, {
      code: message.code,
    });
    return this.peerSaid;
  }

  /**
   * Ends a transfer that failed while the peer was sending file data, after our `error`
   * message: closes our side (FIN) and reads and drops what the peer still sends until it
   * closes too, for at most `ms`. Closing with its data unread would reset the
   * connection, and the reset can destroy the `error` message on its way.
   */
  async drain(ms = 2000): Promise<void> {
    const deadline = performance.now() + ms;
    try {
      this.conn.shutdown(SHUT_WR);
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0) return;
        this.conn.settimeout(left / 1000);
        if ((await this.conn.recv(DRAIN_READ)).length === 0) return;
        this.activity++;
      }
    } catch {
      // Reset, closed or out of time: there is nothing more to wait for.
    }
  }

  async #read(): Promise<TransferMessage> {
    const header = await this.#exactly(4, "a message");
    const length = header.readUInt32BE(0);
    checkMessageLength(length);
    return decodeMessage(await this.#exactly(length, "a message"));
  }

  /** Exactly `n` bytes of file data (a `pack`'s files). */
  readData(n: number): Promise<Buffer> {
    return this.#exactly(n, "a file's data");
  }

  async #exactly(n: number, what: string): Promise<Buffer> {
    try {
      const data = await this.wire.readexactly(n);
      this.activity++;
      return data;
    } catch (err) {
      if (err instanceof IncompleteReadError) {
        throw new TransferError(
          `The ${this.#peerRole()} closed the connection in the middle of ${what}`,
          {
            code: "ERR_TRANSFER_CLOSED",
          },
        );
      }
      throw err;
    }
  }

  /** Tells the peer why we stop (best effort: it may be gone already). */
  async fail(err: unknown): Promise<void> {
    const code = err instanceof TransferError ? err.code : "ERR_TRANSFER";
    try {
      await this.send({ t: "error", code, message: messageOf(err) });
    } catch {
      // The peer is gone: nothing to tell.
    }
  }

  /**
   * Preambles both ways, then `hello` both ways; with a secret, a SPAKE2 exchange keys
   * both directions and each side's first encrypted message confirms the key before any
   * file message. A peer whose preamble was right is told why the handshake fails (an
   * `error` message); one that is not a transfer peer at all is only closed.
   */
  async handshake(secret: string | null): Promise<void> {
    await this.wire.sendall(encodePreamble(this.role));
    let preamble: Buffer;
    try {
      preamble = await this.wire.readexactly(PREAMBLE_SIZE);
    } catch (err) {
      if (!(err instanceof IncompleteReadError)) throw err;
      preamble = err.partial;
    }
    checkPreamble(preamble, this.role === "sender" ? "receiver" : "sender");
    try {
      await this.#greet(secret);
    } catch (err) {
      // Our own finding about what the peer sent (not the peer's own error, nor a
      // connection already gone): the peer speaks the protocol, so it can be told.
      if (
        err instanceof TransferError &&
        err !== this.peerSaid &&
        err.code !== "ERR_TRANSFER_CLOSED" &&
        this.cutBy === null
      ) {
        await this.fail(err);
      }
      throw err;
    }
  }

  /**
   * `hello` both ways, then with a secret: SPAKE2 messages both ways, the wire switched to
   * records under keys derived from the shared key, and `ready` both ways in them. A peer
   * with another secret derives other keys, so its `ready` fails its check: it learns
   * nothing it could test a guess against offline, and has one guess per connection.
   */
  async #greet(secret: string | null): Promise<void> {
    await this.send({ t: "hello", auth: secret !== null });
    const hello = await this.expect("hello");
    if (hello.auth !== (secret !== null)) {
      throw new TransferError(
        secret === null
          ? "The peer requires a secret: set SOCKETKIT_SECRET and pass --secret"
          : "The peer has no secret: both sides need --secret",
        { code: "ERR_TRANSFER_AUTH" },
      );
    }
    if (secret === null) return;
    // Loaded only here: the curve's modules take a tenth of the start-up time of `send`.
    const { Spake2Symmetric } = await import("./spake2.ts");
    const pake = new Spake2Symmetric(secret, PAKE_ID);
    await this.send({ t: "pake", msg: pake.start().toString("hex") });
    const theirs = await this.expect("pake");
    const key = pake.finish(Buffer.from(theirs.msg, "hex"));
    const mine = directionKey(key, this.role);
    const peers = directionKey(key, this.#peerRole() as Role);
    this.wire = new SealedWire(this.conn, mine, peers);
    await this.send({ t: "ready" });
    try {
      await this.expect("ready");
    } catch (err) {
      if (err instanceof TransferError && err.code === "ERR_TRANSFER_AUTH" && err !== this.peerSaid)
        throw new TransferError("The secrets do not match", { code: "ERR_TRANSFER_AUTH" });
      throw err;
    }
  }

  #peerRole(): string {
    return this.role === "sender" ? "receiver" : "sender";
  }
}

/** The key of what `from` sends, from the SPAKE2 key (HKDF-SHA256, one per direction). */
function directionKey(key: Uint8Array, from: Role): Buffer {
  const info = `socketkit transfer v2 ${from === "sender" ? "sender to receiver" : "receiver to sender"}`;
  return Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), info, 32));
}
