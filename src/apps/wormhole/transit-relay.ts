import type { SocketAddress } from "../../core/address.ts";
import { AF_INET, AF_INET6 } from "../../core/constants.ts";
import { createServer } from "../../socket/create-server.ts";
import type { Socket } from "../../socket/socket.ts";

/**
 * The transit relay of the Magic Wormhole protocol (transit.md, "Relay Handshake"): two
 * TCP connections that send the same `please relay TOKEN for side SIDE\n` (from
 * different sides) are answered `ok\n` and glued together, each one's bytes written to
 * the other until either ends. What goes through is the peers' encrypted records; the
 * relay never sees a key.
 * @module
 */

/** Options of {@link TransitRelay}. */
export interface TransitRelayOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Connections at once (waiting or piping). @default 1024 */
  maxConnections?: number;
  /** Connections from one IP address at once. @default 32 */
  maxConnectionsPerAddress?: number;
  /** Seconds a connection may take to send its handshake. @default 30 */
  handshakeTimeout?: number;
  /** Seconds a connection that sent its handshake waits for its partner. @default 600 */
  waitTimeout?: number;
  /** Seconds a paired connection may go without a byte either way before both are closed. @default 600 */
  idleTimeout?: number;
  /** Where one-line notices go. @default nothing */
  log?: (line: string) => void;
}

/** The longest handshake line there is (the sided one is 99 bytes). */
const MAX_HANDSHAKE = 128;
const CHUNK = 256 * 1024;
const HANDSHAKE = /^please relay ([0-9a-f]{64})(?: for side ([0-9a-f]{1,64}))?\n$/;

interface Waiting {
  conn: Socket;
  side: string | null;
  /** Bytes that came after the handshake line (a client that did not wait for `ok`). */
  rest: Buffer;
  /** The read in flight while it waits. */
  pending: Promise<Buffer>;
  /** Ends the wait's part of serving it. */
  done: () => void;
  timer: NodeJS.Timeout;
}

/**
 * A transit relay on `host:port`, what `wormhole --transit-helper tcp:HOST:PORT` and
 * socketkit's `--transit-helper` connect to.
 *
 * @example
 * ```ts
 * import { TransitRelay } from "./transit-relay.ts";
 * const relay = await TransitRelay.listen({ port: 4001 });
 * console.log(relay.hint); // tcp:127.0.0.1:4001
 * await relay.close();
 * ```
 */
export class TransitRelay {
  readonly #server: Socket;
  readonly #options: Required<Omit<TransitRelayOptions, "log">> & Pick<TransitRelayOptions, "log">;
  readonly #waiting = new Map<string, Waiting[]>();
  readonly #open = new Set<Socket>();
  readonly #perAddress = new Map<string, number>();
  readonly #accepting: Promise<void>;
  #pairs = 0;

  private constructor(server: Socket, options: TransitRelayOptions) {
    this.#server = server;
    this.#options = {
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      maxConnections: options.maxConnections ?? 1024,
      maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 32,
      handshakeTimeout: options.handshakeTimeout ?? 30,
      waitTimeout: options.waitTimeout ?? 600,
      idleTimeout: options.idleTimeout ?? 600,
      log: options.log,
    };
    this.#accepting = this.#acceptLoop();
  }

  /** Binds and starts accepting. */
  static async listen(options: TransitRelayOptions = {}): Promise<TransitRelay> {
    const host = options.host ?? "127.0.0.1";
    const server = await createServer([host, options.port ?? 0], {
      family: host.includes(":") ? AF_INET6 : AF_INET,
    });
    return new TransitRelay(server, options);
  }

  /** The bound address. */
  get address(): [string, number] {
    return this.#server.getsockname() as [string, number];
  }

  /** The hint clients give as `--transit-helper`. */
  get hint(): string {
    const [host, port] = this.address;
    return `tcp:${host.includes(":") ? `[${host}]` : host}:${port}`;
  }

  /** Pairs made since it started (for tests and monitoring). */
  get pairs(): number {
    return this.#pairs;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    await this.#server.close();
    await this.#accepting;
    for (const list of this.#waiting.values()) for (const w of list) clearTimeout(w.timer);
    this.#waiting.clear();
    await Promise.all([...this.#open].map((c) => c.close()));
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Socket;
      let address: SocketAddress;
      try {
        [conn, address] = await this.#server.accept();
      } catch {
        return; // closed
      }
      const host = Array.isArray(address) ? String(address[0]) : "?";
      const held = this.#perAddress.get(host) ?? 0;
      if (this.#open.size >= this.#options.maxConnections) {
        this.#options.log?.(`refused ${host}: ${this.#open.size} connections open`);
        void conn.close();
        continue;
      }
      if (held >= this.#options.maxConnectionsPerAddress) {
        this.#options.log?.(`refused ${host}: ${held} connections from it open`);
        void conn.close();
        continue;
      }
      this.#perAddress.set(host, held + 1);
      this.#open.add(conn);
      void this.#serve(conn).finally(() => {
        this.#open.delete(conn);
        const n = (this.#perAddress.get(host) ?? 1) - 1;
        if (n <= 0) this.#perAddress.delete(host);
        else this.#perAddress.set(host, n);
      });
    }
  }

  /** Reads the handshake, then waits for a partner or pairs with the one waiting. */
  async #serve(conn: Socket): Promise<void> {
    let line: { token: string; side: string | null; rest: Buffer } | null;
    try {
      line = await this.#readHandshake(conn);
    } catch {
      line = null;
    }
    if (line === null) {
      try {
        await conn.sendall("bad handshake\n");
      } catch {}
      await conn.close();
      return;
    }
    const { token, side, rest } = line;
    const list = this.#waiting.get(token) ?? [];
    const partner = list.findIndex((w) => side === null || w.side === null || w.side !== side);
    if (partner === -1) {
      // More than two waiting on one token is a crowd.
      if (list.length >= 2) {
        await conn.close();
        return;
      }
      await new Promise<void>((resolve) => {
        const waiting: Waiting = {
          conn,
          side,
          rest,
          // A waiting client sends nothing before its `ok`: this read sees it go away, or,
          // once paired, is the pipe's first read.
          pending: conn.recv(CHUNK),
          done: resolve,
          timer: setTimeout(() => this.#giveUp(token, waiting), this.#options.waitTimeout * 1000),
        };
        list.push(waiting);
        this.#waiting.set(token, list);
        waiting.pending.then(
          (data) => {
            if (this.#isWaiting(token, waiting)) this.#giveUp(token, waiting, data.length > 0);
          },
          () => {
            if (this.#isWaiting(token, waiting)) this.#giveUp(token, waiting);
          },
        );
      });
      return;
    }
    const [other] = list.splice(partner, 1) as [Waiting];
    if (list.length === 0) this.#waiting.delete(token);
    clearTimeout(other.timer);
    this.#pairs++;
    await this.#pipe(other, conn, rest);
    other.done();
  }

  /** Ends a wait: timed out, the client went away, or it spoke before its `ok`. */
  #giveUp(token: string, waiting: Waiting, spoke = false): void {
    this.#unwait(token, waiting);
    clearTimeout(waiting.timer);
    if (spoke)
      this.#options.log?.("closed a transit client that sent data before its partner came");
    void waiting.conn.close().then(waiting.done);
  }

  #isWaiting(token: string, waiting: Waiting): boolean {
    return this.#waiting.get(token)?.includes(waiting) ?? false;
  }

  #unwait(token: string, waiting: Waiting): void {
    const list = this.#waiting.get(token);
    if (list === undefined) return;
    const i = list.indexOf(waiting);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.#waiting.delete(token);
  }

  async #readHandshake(
    conn: Socket,
  ): Promise<{ token: string; side: string | null; rest: Buffer } | null> {
    conn.settimeout(this.#options.handshakeTimeout);
    let buffer = Buffer.alloc(0);
    for (;;) {
      const data = await conn.recv(MAX_HANDSHAKE);
      if (data.length === 0) return null;
      buffer = Buffer.concat([buffer, data]);
      const end = buffer.indexOf(0x0a);
      if (end === -1) {
        if (buffer.length >= MAX_HANDSHAKE) return null;
        continue;
      }
      conn.settimeout(null);
      const m = HANDSHAKE.exec(buffer.subarray(0, end + 1).toString("latin1"));
      if (m === null) return null;
      return { token: m[1] as string, side: m[2] ?? null, rest: buffer.subarray(end + 1) };
    }
  }

  /** Says `ok` to both and copies each one's bytes to the other until either ends. */
  async #pipe(a: Waiting, b: Socket, bRest: Buffer): Promise<void> {
    let last = Date.now();
    const idle = this.#options.idleTimeout * 1000;
    const watchdog = setInterval(
      () => {
        if (Date.now() - last >= idle) {
          void a.conn.close();
          void b.close();
        }
      },
      Math.max(50, Math.min(idle / 4, 30000)),
    );
    watchdog.unref();
    const copy = async (
      from: Socket,
      to: Socket,
      first: Buffer,
      pending: Promise<Buffer> | null,
    ) => {
      try {
        if (first.length > 0) await to.sendall(first);
        for (;;) {
          const data = await (pending ?? from.recv(CHUNK));
          pending = null;
          if (data.length === 0) break;
          last = Date.now();
          await to.sendall(data);
        }
      } catch {
        // One side gone: the other is closed below (no half-close through a relay).
      }
      await from.close();
      await to.close();
    };
    try {
      await Promise.all([a.conn.sendall("ok\n"), b.sendall("ok\n")]);
      await Promise.all([copy(a.conn, b, a.rest, a.pending), copy(b, a.conn, bRest, null)]);
    } catch {
      await a.conn.close();
      await b.close();
    } finally {
      clearInterval(watchdog);
    }
  }
}
