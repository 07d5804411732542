import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { AF_INET, AF_INET6, SO_RCVBUF, SO_SNDBUF, SOL_SOCKET } from "../../core/constants.ts";
import { WormholeError } from "../../core/errors.ts";
import { createConnection } from "../../socket/create-connection.ts";
import { createServer } from "../../socket/create-server.ts";
import type { Socket } from "../../socket/socket.ts";
import { deriveKey, NONCE_SIZE, openInto, sealInto, TAG_SIZE } from "./crypto.ts";

/**
 * Magic Wormhole's transit (transit.md): each side listens and gives the other its
 * direct hints and its relay, both try every hint at once (relays a little later when a
 * direct hint exists), each connection does the sender/receiver handshake derived from
 * the transit key, and the sender picks the first to finish (`go`) and dismisses the
 * rest (`nevermind`). What follows is records: a 4-byte big-endian length, then a
 * secretbox whose nonce is a counter from 0, one key per direction.
 * @module
 */

/** A `tcp:HOST:PORT` hint, parsed. */
export interface TcpHint {
  host: string;
  port: number;
}

/** Parses `tcp:HOST:PORT` (IPv6 in brackets), as `--transit-helper` takes it. */
export function parseTcpHint(text: string): TcpHint {
  const m = /^tcp:(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535)
    throw new WormholeError(`Cannot use the hint ${JSON.stringify(text)}: expected tcp:HOST:PORT`, {
      code: "ERR_WORMHOLE_HINT",
    });
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Options of {@link Transit}. */
export interface TransitOptions {
  /** The sender picks the connection; the receiver waits for its `go`. */
  isSender: boolean;
  /** Our transit relay, if any. */
  relay: TcpHint | null;
  /**
   * Addresses to listen on and give the peer as direct hints (one port for all); an
   * empty list listens nowhere, so the peer must come through a relay.
   */
  listen: readonly string[];
  /** Seconds to make the connection, all hints together. @default 120 */
  timeout?: number;
  /** Seconds to wait before the relays when direct hints exist. @default 2 */
  relayDelay?: number;
}

/** Receive and send buffer of the chosen connection (socketkit's own, in user space). */
const BULK_BUFFER = 4 * 1024 * 1024;

/** Largest record accepted from the peer (wormhole's are 16 KiB; socketkit's 256 KiB). */
const MAX_RECORD = 64 * 1024 * 1024;

/** A connection with a read buffer: exact reads for the handshakes, then the records. */
class Conn {
  readonly sock: Socket;
  readonly label: string;
  /** What came and was not read yet, in the order it came: joined once, when read. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Where a read that spans chunks is joined: reused, so a read is valid until the next. */
  #span: Buffer = Buffer.alloc(0);

  constructor(sock: Socket, label: string) {
    this.sock = sock;
    this.label = label;
  }

  async #fill(min: number): Promise<boolean> {
    while (this.#buffered < min) {
      const data = await this.sock.recv(Math.max(256 * 1024, min - this.#buffered));
      if (data.length === 0) return false;
      this.#chunks.push(data);
      this.#buffered += data.length;
    }
    return true;
  }

  /** Exactly `n` bytes, or null at end of stream; valid until the next read. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.#fill(n))) return null;
    this.#buffered -= n;
    const head = this.#chunks[0] as Buffer;
    if (head.length >= n) {
      if (head.length === n) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(n);
      return head.subarray(0, n);
    }
    // A record spans chunks: copied once, into a buffer kept for the next such record.
    if (this.#span.length < n) this.#span = Buffer.allocUnsafe(Math.max(n, 2 * this.#span.length));
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[0] as Buffer;
      const take = Math.min(chunk.length, n - at);
      chunk.copy(this.#span, at, 0, take);
      at += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return this.#span.subarray(0, n);
  }

  /** Reads `expected` and throws unless that is what came. */
  async expect(expected: Buffer | string): Promise<void> {
    const want = typeof expected === "string" ? Buffer.from(expected) : expected;
    const got = await this.read(want.length);
    if (got === null || !got.equals(want))
      throw new WormholeError(`Bad transit handshake from ${this.label}`, {
        code: "ERR_WORMHOLE_TRANSIT",
      });
  }

  /** What was read past the last exact read (the peer's first bytes after the handshake). */
  takeBuffered(): Buffer {
    const out = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    return out;
  }

  close(): void {
    void this.sock.close();
  }
}

/** The encrypted record stream on the chosen connection. */
export class RecordPipe {
  readonly #conn: Conn;
  readonly #sendKey: Buffer;
  readonly #receiveKey: Buffer;
  #sendNonce = 0n;
  #receiveNonce = 0n;
  /**
   * How the connection was made: `direct 127.0.0.1:4000` (dialled), `direct from
   * 127.0.0.1:51000` (accepted), `relay 127.0.0.1:4001`.
   */
  readonly description: string;

  constructor(conn: Conn, sendKey: Buffer, receiveKey: Buffer, description: string) {
    // Bulk data: room for a few megabytes each way keeps the pipe full (as send --to does).
    conn.sock.setsockopt(SOL_SOCKET, SO_RCVBUF, BULK_BUFFER);
    conn.sock.setsockopt(SOL_SOCKET, SO_SNDBUF, BULK_BUFFER);
    this.#conn = conn;
    this.#sendKey = sendKey;
    this.#receiveKey = receiveKey;
    this.description = description;
  }

  /**
   * Hands the connection over to another record layer, for two peers that agreed on one
   * (socketkit's own, native-transfer.ts): its socket, and the bytes already read from it
   * past the handshake, which come first. This pipe must not send or receive after.
   */
  detach(): { socket: Socket; buffered: Buffer } {
    return { socket: this.#conn.sock, buffered: this.#conn.takeBuffered() };
  }

  /** Seals `record` under the next nonce and writes it, length first. */
  async send(record: Uint8Array): Promise<void> {
    await this.sendMany([record]);
  }

  /**
   * Seals each record under the next nonce, each after its length, into one buffer (in
   * place, with libsodium), and writes them all at once. The records may be reused as
   * soon as this is called: they are sealed before it first waits.
   */
  async sendMany(records: readonly Uint8Array[]): Promise<void> {
    await this.write(this.seal(records));
  }

  /**
   * The records sealed under the next nonces, each after its length, in one buffer (in
   * place, with libsodium), for {@link RecordPipe.write}: a sender seals the next batch
   * while the last one is being written.
   */
  seal(records: readonly Uint8Array[]): Buffer {
    let total = 0;
    for (const record of records) total += 4 + NONCE_SIZE + TAG_SIZE + record.length;
    const out = Buffer.allocUnsafe(total);
    const nonce = Buffer.alloc(NONCE_SIZE);
    let at = 0;
    for (const record of records) {
      const length = NONCE_SIZE + TAG_SIZE + record.length;
      out.writeUInt32BE(length, at);
      nonce.writeBigUInt64BE(this.#sendNonce, NONCE_SIZE - 8);
      this.#sendNonce++;
      sealInto(this.#sendKey, record, nonce, out.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    return out;
  }

  /** Writes what {@link RecordPipe.seal} made; one write at a time. */
  async write(sealed: Buffer): Promise<void> {
    await this.#conn.sock.sendall(sealed);
  }

  /** The next record, opened; null at a clean end of stream. */
  async receive(): Promise<Buffer | null> {
    let plain: Buffer | null = null;
    const got = await this.receiveInto((length) => {
      plain = Buffer.allocUnsafe(length);
      return [plain, 0];
    });
    return got === null ? null : (plain as unknown as Buffer);
  }

  /**
   * Opens the next record where `place` says, given its plaintext's length (a receiver
   * fills reused buffers this way, without a buffer for each record); resolves with the
   * length, or null at a clean end of stream.
   */
  async receiveInto(
    place: (length: number) => [Buffer, number] | Promise<[Buffer, number]>,
  ): Promise<number | null> {
    const head = await this.#conn.read(4);
    if (head === null) return null;
    const length = head.readUInt32BE(0);
    if (length < NONCE_SIZE + TAG_SIZE || length > MAX_RECORD)
      throw new WormholeError(`Cannot take a transit record of ${length} bytes`, {
        code: "ERR_WORMHOLE_TRANSIT",
      });
    const box = await this.#conn.read(length);
    if (box === null)
      throw new WormholeError("The transit connection ended inside a record", {
        code: "ERR_WORMHOLE_TRANSIT",
      });
    const nonce = box.subarray(0, NONCE_SIZE);
    if (
      nonce.readBigUInt64BE(NONCE_SIZE - 8) !== this.#receiveNonce ||
      !nonce.subarray(0, NONCE_SIZE - 8).equals(Buffer.alloc(NONCE_SIZE - 8))
    )
      throw new WormholeError("A transit record came out of order", {
        code: "ERR_WORMHOLE_TRANSIT",
      });
    this.#receiveNonce++;
    const plainLength = length - NONCE_SIZE - TAG_SIZE;
    // The box stays valid meanwhile: nothing reads the connection until this returns.
    const [out, at] = await place(plainLength);
    if (!openInto(this.#receiveKey, box, out.subarray(at, at + plainLength)))
      throw new WormholeError("A transit record does not open under the transit key", {
        code: "ERR_WORMHOLE_TRANSIT",
      });
    return plainLength;
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.#conn.sock.close();
  }
}

interface Hint {
  type: string;
  hostname?: unknown;
  port?: unknown;
  priority?: unknown;
  hints?: unknown;
}

/**
 * One side's transit: {@link hints} (starts the listener), {@link addPeerHints},
 * {@link setKey}, then {@link connect} for the record pipe.
 *
 * @example
 * ```ts
 * import { Transit } from "./transit.ts";
 * const transit = new Transit({ isSender: true, relay: { host: "127.0.0.1", port: 4001 }, listen: ["127.0.0.1"] });
 * const hints = await transit.hints(); // sent to the peer as {"transit": {...}}
 * ```
 */
export class Transit {
  readonly #options: TransitOptions;
  readonly #side = randomBytes(8).toString("hex");
  #listener: Socket | null = null;
  #key: Buffer | null = null;
  readonly #direct: TcpHint[] = [];
  readonly #relays: TcpHint[] = [];

  constructor(options: TransitOptions) {
    this.#options = options;
    if (options.relay !== null) this.#relays.push(options.relay);
  }

  /** The `transit` message's content: abilities and hints; starts listening. */
  async hints(): Promise<Record<string, unknown>> {
    const hints: Record<string, unknown>[] = [];
    const hosts = this.#options.listen;
    if (hosts.length > 0 && this.#listener === null) {
      const first = hosts[0] as string;
      const wildcard = hosts.length > 1;
      const bindHost = wildcard ? (hosts.some((h) => isIP(h) === 6) ? "::" : "0.0.0.0") : first;
      this.#listener = await createServer([bindHost, 0], {
        family: isIP(bindHost) === 6 ? AF_INET6 : AF_INET,
        dualstackIpv6: bindHost === "::",
      });
    }
    if (this.#listener !== null) {
      const port = (this.#listener.getsockname() as [string, number])[1];
      for (const host of hosts)
        hints.push({ type: "direct-tcp-v1", priority: 0.0, hostname: host, port });
    }
    if (this.#options.relay !== null) {
      const { host, port } = this.#options.relay;
      hints.push({
        type: "relay-v1",
        hints: [{ type: "direct-tcp-v1", priority: 0.0, hostname: host, port }],
      });
    }
    return {
      "abilities-v1": [{ type: "direct-tcp-v1" }, { type: "relay-v1" }],
      "hints-v1": hints,
    };
  }

  /** Takes the peer's `hints-v1`: its direct hints and its relays. Malformed ones are skipped. */
  addPeerHints(hints: unknown): void {
    if (!Array.isArray(hints)) return;
    const tcp = (h: Hint): TcpHint | null =>
      (h.type === "direct-tcp-v1" || h.type === "tcp") &&
      typeof h.hostname === "string" &&
      h.hostname.length > 0 &&
      h.hostname.length < 256 &&
      Number.isInteger(h.port) &&
      (h.port as number) > 0 &&
      (h.port as number) < 65536
        ? { host: h.hostname, port: h.port as number }
        : null;
    for (const raw of hints.slice(0, 32)) {
      if (typeof raw !== "object" || raw === null) continue;
      const h = raw as Hint;
      if (h.type === "direct-tcp-v1") {
        const d = tcp(h);
        if (d !== null) this.#direct.push(d);
      } else if (h.type === "relay-v1" && Array.isArray(h.hints)) {
        for (const inner of h.hints.slice(0, 8)) {
          if (typeof inner !== "object" || inner === null) continue;
          const r = tcp(inner as Hint);
          if (r !== null && !this.#relays.some((x) => x.host === r.host && x.port === r.port))
            this.#relays.push(r);
        }
      }
    }
  }

  /** The transit key, derived from the wormhole's key with purpose `APPID/transit-key`. */
  setKey(key: Buffer): void {
    this.#key = key;
  }

  /** Tries every way at once and resolves with the first connection that passes. */
  async connect(): Promise<RecordPipe> {
    const key = this.#key;
    if (key === null) throw new Error("No transit key: call setKey() first");
    const isSender = this.#options.isSender;
    const senderHello = Buffer.from(
      `transit sender ${deriveKey(key, "transit_sender").toString("hex")} ready\n\n`,
    );
    const receiverHello = Buffer.from(
      `transit receiver ${deriveKey(key, "transit_receiver").toString("hex")} ready\n\n`,
    );
    const mine = isSender ? senderHello : receiverHello;
    const theirs = isSender ? receiverHello : senderHello;
    const relayHello = Buffer.from(
      `please relay ${deriveKey(key, "transit_relay_token").toString("hex")} for side ${this.#side}\n`,
    );
    const sendKey = deriveKey(
      key,
      isSender ? "transit_record_sender_key" : "transit_record_receiver_key",
    );
    const receiveKey = deriveKey(
      key,
      isSender ? "transit_record_receiver_key" : "transit_record_sender_key",
    );

    const open = new Set<Conn>();
    let winner: Conn | null = null;
    let winnerLabel = "";
    let settle!: (conn: Conn | null) => void;
    const won = new Promise<Conn | null>((resolve) => {
      settle = resolve;
    });
    let pending = 0;
    let over = false;
    let starting = true;
    const timers: NodeJS.Timeout[] = [];
    const maybeLost = () => {
      if (winner === null && pending === 0 && !starting && this.#listener === null) settle(null);
    };

    /** The handshake on one connection; true when it is the one. */
    const negotiate = async (conn: Conn, relayed: boolean, label: string) => {
      if (over) {
        conn.close();
        return;
      }
      pending++;
      open.add(conn);
      try {
        if (relayed) {
          await conn.sock.sendall(relayHello);
          await conn.expect("ok\n");
        }
        await conn.sock.sendall(mine);
        await conn.expect(theirs);
        if (isSender) {
          if (winner !== null) {
            await conn.sock.sendall("nevermind\n");
            conn.close();
            return;
          }
          winner = conn;
          winnerLabel = label;
          await conn.sock.sendall("go\n");
          settle(conn);
        } else {
          await conn.expect("go\n");
          if (winner !== null) {
            conn.close();
            return;
          }
          winner = conn;
          winnerLabel = label;
          settle(conn);
        }
      } catch {
        conn.close();
      } finally {
        pending--;
        if (winner !== conn) open.delete(conn);
        maybeLost();
      }
    };

    const dial = (hint: TcpHint, relayed: boolean) => {
      const label = `${relayed ? "relay" : "direct"} ${hint.host}:${hint.port}`;
      pending++;
      void createConnection([hint.host, hint.port], { timeout: 30 })
        .then((sock) => {
          sock.settimeout(null);
          return negotiate(new Conn(sock, label), relayed, label);
        })
        .catch(() => {})
        .finally(() => {
          pending--;
          maybeLost();
        });
    };

    if (this.#listener !== null) {
      const listener = this.#listener;
      void (async () => {
        for (;;) {
          let sock: Socket;
          let address: unknown;
          try {
            [sock, address] = await listener.accept();
          } catch {
            return;
          }
          if (winner !== null || open.size >= 16) {
            void sock.close();
            continue;
          }
          const [h, p] = address as [string, number];
          void negotiate(new Conn(sock, `direct from ${h}:${p}`), false, `direct from ${h}:${p}`);
        }
      })();
    }
    for (const hint of this.#direct) dial(hint, false);
    const delay = this.#direct.length > 0 ? (this.#options.relayDelay ?? 2) : 0;
    for (const relay of this.#relays) {
      if (delay === 0) dial(relay, true);
      else {
        pending++;
        timers.push(
          setTimeout(() => {
            pending--;
            if (winner === null) dial(relay, true);
          }, delay * 1000),
        );
      }
    }
    starting = false;
    const seconds = this.#options.timeout ?? 120;
    timers.push(setTimeout(() => settle(null), seconds * 1000));
    maybeLost();
    const conn = await won;
    // Connections still being made are closed as they come.
    over = true;
    for (const timer of timers) clearTimeout(timer);
    if (this.#listener !== null) {
      void this.#listener.close();
      this.#listener = null;
    }
    for (const other of open) if (other !== conn) other.close();
    if (conn === null)
      throw new WormholeError(
        `Cannot make a transit connection: no direct hint nor relay worked within ${seconds} s`,
        { code: "ERR_WORMHOLE_TRANSIT" },
      );
    return new RecordPipe(conn, sendKey, receiveKey, winnerLabel);
  }

  /** Stops listening (when the transfer ends before a connection is needed). */
  async close(): Promise<void> {
    await this.#listener?.close();
    this.#listener = null;
  }
}
