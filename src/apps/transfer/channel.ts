import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
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
import { SHUT_WR, SO_RCVBUF, SO_SNDBUF, SOL_SOCKET } from "../../core/constants.ts";
import { IncompleteReadError, messageOf, TimeoutError, TransferError } from "../../core/errors.ts";
import type { BufferedReader } from "../../socket/buffered-reader.ts";
import type { Socket } from "../../socket/socket.ts";

/** Receive and send buffer of a transfer connection (socketkit's own, in user space). */
const BULK_BUFFER = 4 * 1024 * 1024;

/** What one read takes while draining a failed transfer. */
const DRAIN_READ = 64 * 1024;

type Of<T extends TransferMessage["t"]> = Extract<TransferMessage, { t: T }>;

/**
 * One side of a transfer connection: the handshake (preamble, then the secret's
 * challenge-response when there is one) and the control messages. An `error` message from
 * the peer becomes a `TransferError` with the peer's words; a message of the wrong kind
 * is a protocol error.
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
  /** True while file data streams in from the peer (a failure then leaves some unread). */
  receivingData = false;
  #watchdog: NodeJS.Timeout | null = null;

  /**
   * `timeout`: seconds without any progress after which the connection is closed and the
   * transfer fails with a `TimeoutError` (null: never). Checked a few times per period
   * against a counter, so the data path pays nothing for it (a socket timeout would arm a
   * timer for every read).
   */
  constructor(conn: Socket, role: Role, peerLabel: string, timeout: number | null = 30) {
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
    this.rfile = conn.makefile("r");
    this.role = role;
    this.peerLabel = peerLabel;
  }

  async send(message: TransferMessage): Promise<void> {
    this.activity++;
    await this.conn.sendall(encodeMessage(message));
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

  async #exactly(n: number, what: string): Promise<Buffer> {
    try {
      const data = await this.rfile.readexactly(n);
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
   * Preambles both ways, then, with a secret on either side, each side proves it knows
   * the secret by an HMAC over both nonces and its role, checked in constant time. A peer
   * whose preamble was right is told why the handshake fails (an `error` message); one
   * that is not a transfer peer at all is only closed.
   */
  async handshake(secret: string | null): Promise<void> {
    await this.conn.sendall(encodePreamble(this.role));
    let preamble: Buffer;
    try {
      preamble = await this.rfile.readexactly(PREAMBLE_SIZE);
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

  /** `hello` both ways, then the proofs of the secret when there is one. */
  async #greet(secret: string | null): Promise<void> {
    const nonce = secret === null ? null : randomBytes(32).toString("hex");
    await this.send({ t: "hello", auth: secret !== null, nonce });
    const hello = await this.expect("hello");
    if (hello.auth !== (secret !== null)) {
      throw new TransferError(
        secret === null
          ? "The peer requires a secret: set SOCKETKIT_SECRET and pass --secret"
          : "The peer has no secret: both sides need --secret",
        { code: "ERR_TRANSFER_AUTH" },
      );
    }
    if (secret === null || nonce === null || hello.nonce === null) return;
    await this.send({ t: "proof", mac: proof(secret, hello.nonce, nonce, this.role) });
    const theirs = await this.expect("proof");
    const peerRole: Role = this.role === "sender" ? "receiver" : "sender";
    const expected = Buffer.from(proof(secret, nonce, hello.nonce, peerRole), "hex");
    if (!timingSafeEqual(expected, Buffer.from(theirs.mac, "hex"))) {
      throw new TransferError("The secrets do not match", { code: "ERR_TRANSFER_AUTH" });
    }
  }

  #peerRole(): string {
    return this.role === "sender" ? "receiver" : "sender";
  }
}

/** What `role` sends to prove the secret: HMAC-SHA256 over the challenge it answers. */
function proof(secret: string, challenge: string, ownNonce: string, role: Role): string {
  return createHmac("sha256", secret)
    .update(`socketkit transfer v1\n${role}\n${challenge}\n${ownNonce}`)
    .digest("hex");
}
