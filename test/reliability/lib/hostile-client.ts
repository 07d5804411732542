/**
 * Clients that misbehave on purpose, for the reliability tests: plain `node:net` sockets
 * to 127.0.0.1 (never anywhere else) that dribble, stay silent, flood, stop reading or
 * send bytes no protocol expects. Each one records what happened to it (bytes in and out,
 * who closed the connection and when) and gives the test something to await.
 * @module
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket as NetSocket } from "node:net";

/** Where every hostile client connects: loopback only. */
export const LOOPBACK = "127.0.0.1";

/** How a hostile connection ended. */
export interface Closure {
  /** "server": the server ended or reset it; "client": the test closed it first. */
  by: "server" | "client";
  /** Milliseconds from the connect to the close. */
  afterMs: number;
  /** Milliseconds from the last byte this client sent to the close (null: it sent none). */
  afterLastSendMs: number | null;
  /** Bytes received before the close. */
  bytesReceived: number;
  /** Bytes the kernel took from this client before the close. */
  bytesSent: number;
  /** The socket error seen on the way (`ECONNRESET`, `EPIPE`), or null for a clean end. */
  code: string | null;
}

/** Options of {@link HostileClient.connect}. */
export interface HostileConnectOptions {
  /** Keep what arrives (false: read and count it, keep nothing). @default true */
  keep?: boolean;
  /** Start without reading at all (a client that never reads). @default false */
  paused?: boolean;
  /**
   * The loopback address to connect from (127.0.0.2, say: another host to the server).
   * @default chosen by the kernel (127.0.0.1)
   */
  from?: string;
}

/**
 * One connection to the server under test. It records every byte it receives, when it
 * last sent, and how it ended; `closed` resolves (never rejects) when the socket is gone.
 */
export class HostileClient {
  readonly socket: NetSocket;
  /** `performance.now()` when the connection was established. */
  readonly connectedAt: number;
  /** Resolves when the connection is gone, however it ended. */
  readonly closed: Promise<Closure>;
  bytesReceived = 0;
  /** `performance.now()` of the last write the kernel took, null before any. */
  lastSendAt: number | null = null;
  #chunks: Buffer[] = [];
  #keep: boolean;
  #byClient = false;
  #code: string | null = null;
  #waiters = new Set<() => void>();

  private constructor(socket: NetSocket, options: HostileConnectOptions) {
    this.socket = socket;
    this.connectedAt = performance.now();
    this.#keep = options.keep ?? true;
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.#code ??= err.code ?? "ERR";
    });
    socket.on("data", (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      if (this.#keep) this.#chunks.push(chunk);
      this.#wake();
    });
    // Half-closed by the server: close our side too, so `closed` means "the server ended it".
    socket.on("end", () => socket.end());
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        const now = performance.now();
        resolve({
          by: this.#byClient ? "client" : "server",
          afterMs: now - this.connectedAt,
          afterLastSendMs: this.lastSendAt === null ? null : now - this.lastSendAt,
          bytesReceived: this.bytesReceived,
          bytesSent: socket.bytesWritten - socket.writableLength,
          code: this.#code,
        });
        this.#wake();
      });
    });
    if (options.paused) socket.pause();
  }

  /** Connects to `127.0.0.1:port`; rejects with the connect error (its `code` set). */
  static connect(port: number, options: HostileConnectOptions = {}): Promise<HostileClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: LOOPBACK, port, localAddress: options.from });
      const onError = (err: Error) => reject(err);
      socket.once("error", onError);
      socket.once("connect", () => {
        socket.off("error", onError);
        resolve(new HostileClient(socket, options));
      });
    });
  }

  /** Everything received so far (empty when created with `keep: false`). */
  received(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  /** What was received, as UTF-8 text. */
  text(): string {
    return this.received().toString("utf8");
  }

  /** The connection is gone. */
  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  /** Writes `data`; resolves once the kernel took it (or the connection failed). */
  write(data: Buffer | string): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.write(data, (err) => {
        if (!err) this.lastSendAt = performance.now();
        resolve();
      });
    });
  }

  /** Sends FIN after what is written; reading goes on. */
  end(): void {
    this.socket.end();
  }

  /** Closes the connection now (counted as closed by the client). */
  destroy(): void {
    if (!this.socket.destroyed) this.#byClient = true;
    this.socket.destroy();
  }

  /**
   * Waits until `condition` holds for what was received (checked on every arrival and at
   * the close); fails after `ms` or when the connection closes first.
   */
  async waitFor(
    condition: string | RegExp | ((received: Buffer) => boolean),
    ms = 10_000,
  ): Promise<void> {
    const holds = () =>
      typeof condition === "function"
        ? condition(this.received())
        : typeof condition === "string"
          ? this.text().includes(condition)
          : condition.test(this.text());
    if (holds()) return;
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        this.#waiters.delete(check);
        clearTimeout(timer);
        const seen = this.received();
        reject(
          new Error(
            `${why} waiting for ${String(condition)}; received ${seen.length} bytes: ${JSON.stringify(seen.subarray(0, 200).toString("latin1"))}`,
          ),
        );
      };
      const timer = setTimeout(() => fail(`Timed out after ${ms} ms`), ms);
      const check = () => {
        if (holds()) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          resolve();
        } else if (this.socket.destroyed) fail("The connection closed");
      };
      this.#waiters.add(check);
    });
  }

  /**
   * Sends `data` and waits until `expected` (a string or bytes) arrives after what was
   * received before: one request and its answer, for a client that behaves.
   */
  async ask(data: Buffer | string, expected: Buffer | string, ms = 10_000): Promise<void> {
    const mark = this.received().length;
    const want = Buffer.from(expected);
    await this.write(data);
    await this.waitFor((got) => got.indexOf(want, mark) !== -1, ms);
  }

  #wake(): void {
    for (const check of [...this.#waiters]) check();
  }
}

/** Connects and says nothing: the server's idle timeout should close it. */
export function silentClient(port: number): Promise<HostileClient> {
  return HostileClient.connect(port);
}

/** Options of {@link slowloris}. */
export interface SlowlorisOptions {
  /** Milliseconds between bytes. */
  periodMs: number;
  /** The bytes dribbled, one at a time, over and over. @default an endless HTTP-like header */
  payload?: Buffer | string;
  /** Stop after this many bytes (the connection stays open, silent). @default no limit */
  maxBytes?: number;
}

/** A slowloris: one byte every `periodMs`, until the server closes it or `stop()`. */
export interface Slowloris {
  client: HostileClient;
  /** Bytes dribbled so far. */
  readonly sent: number;
  /** Resolves when the server (or `stop`) closes the connection. */
  closed: Promise<Closure>;
  /** Stops dribbling and closes the connection. */
  stop(): void;
}

/**
 * Connects and sends one byte every `periodMs` milliseconds, never completing anything,
 * the classic way to hold a server's connection slot at almost no cost.
 */
export async function slowloris(port: number, options: SlowlorisOptions): Promise<Slowloris> {
  const payload = Buffer.from(options.payload ?? "GET / HTTP/1.1\r\nX-Slow: ");
  const client = await HostileClient.connect(port);
  let sent = 0;
  const tick = () => {
    if (client.isClosed || (options.maxBytes !== undefined && sent >= options.maxBytes)) {
      clearInterval(timer);
      return;
    }
    const at = sent % payload.length;
    sent++;
    void client.write(payload.subarray(at, at + 1));
  };
  const timer = setInterval(tick, options.periodMs);
  tick();
  void client.closed.then(() => clearInterval(timer));
  return {
    client,
    get sent() {
      return sent;
    },
    closed: client.closed,
    stop() {
      clearInterval(timer);
      client.destroy();
    },
  };
}

/** Options of {@link flood}. */
export interface FloodOptions {
  /** Connections to open. */
  count: number;
  /**
   * Connections in flight at once; keep it under the server's listen backlog, or the
   * kernel drops SYNs and the flood waits a second for each retransmission. @default 100
   */
  concurrency?: number;
  /**
   * What to do with each connection once it is up: "close" (FIN at once, not waiting for
   * the server), "reset" (RST at once), "end" (FIN, then wait until the server closes its
   * side), or "keep" (left open, keeping what they receive; close them with `closeAll`).
   * @default "close"
   */
  drop?: "close" | "reset" | "end" | "keep";
}

/** What a flood did. */
export interface FloodResult {
  /** Connections established. */
  opened: number;
  /** Connections that failed, by error code. */
  failed: Map<string, number>;
  /** The open connections (only with `drop: "keep"`). */
  clients: HostileClient[];
  /** Milliseconds the whole flood took. */
  ms: number;
  /** Closes every kept connection and waits until they are gone. */
  closeAll(): Promise<void>;
}

/**
 * Opens `count` connections, `concurrency` at a time, and drops each as soon as it is up
 * (or keeps them).
 */
export async function flood(port: number, options: FloodOptions): Promise<FloodResult> {
  const drop = options.drop ?? "close";
  const failed = new Map<string, number>();
  const clients: HostileClient[] = [];
  let opened = 0;
  let next = 0;
  const started = performance.now();
  const one = async (): Promise<void> => {
    let client: HostileClient;
    try {
      client = await HostileClient.connect(port, { keep: drop === "keep" });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "ERR";
      failed.set(code, (failed.get(code) ?? 0) + 1);
      return;
    }
    opened++;
    if (drop === "keep") clients.push(client);
    else if (drop === "reset") client.socket.resetAndDestroy();
    else if (drop === "end") client.end();
    else client.destroy();
    if (drop !== "keep") await client.closed;
  };
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      next++;
      await one();
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency ?? 100, options.count) }, worker),
  );
  return {
    opened,
    failed,
    clients,
    ms: performance.now() - started,
    async closeAll() {
      for (const c of clients) c.destroy();
      await Promise.all(clients.map((c) => c.closed));
    },
  };
}

/** Options of {@link nonReader}. */
export interface NonReaderOptions {
  /** Bytes to try to send in all. @default 256 MiB */
  bytes?: number;
  /** Bytes per write. @default 64 KiB */
  chunk?: number;
}

/** A client that sends and never reads. */
export interface NonReader {
  client: HostileClient;
  /** Bytes the kernel took from it so far. */
  flushed(): number;
  /**
   * Resolves with `flushed()` once no byte has left for `quietMs` (the server stopped
   * taking them), or once every byte was sent; checked four times per `quietMs`.
   */
  stalled(quietMs: number): Promise<number>;
  /** Stops writing and starts reading: what the server held back arrives. */
  resume(): void;
}

/**
 * Connects without ever reading and writes as fast as the connection takes, honouring
 * `drain`: a server that applies backpressure stops taking bytes once its buffers and the
 * kernel's are full; one that does not keeps taking them into its memory.
 */
export async function nonReader(port: number, options: NonReaderOptions = {}): Promise<NonReader> {
  const total = options.bytes ?? 256 * 1024 * 1024;
  // No telnet IAC: a telnet command makes the services filter each byte (80 MiB/s), so
  // the server would still be taking bytes slowly when the client's buffers are full.
  const chunk = garbage(options.chunk ?? 64 * 1024, { telnet: false });
  const client = await HostileClient.connect(port, { paused: true, keep: false });
  const { socket } = client;
  let written = 0;
  let writing = true;
  const pump = () => {
    while (writing && written < total && !socket.destroyed) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - written));
      written += piece.length;
      if (!socket.write(piece)) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  pump();
  const flushed = () => socket.bytesWritten - socket.writableLength;
  return {
    client,
    flushed,
    stalled(quietMs: number) {
      return new Promise((resolve) => {
        let last = flushed();
        let since = performance.now();
        const timer = setInterval(() => {
          const now = flushed();
          const finished = now >= total || socket.destroyed;
          if (now !== last && !finished) {
            last = now;
            since = performance.now();
          } else if (finished || performance.now() - since >= quietMs) {
            clearInterval(timer);
            resolve(now);
          }
        }, quietMs / 4);
      });
    },
    resume() {
      writing = false;
      socket.resume();
    },
  };
}

/** Options of {@link exchange}. */
export interface ExchangeOptions {
  /** Half-close after sending (the server sees end of stream). @default true */
  end?: boolean;
  /** Give up after this long. @default 15000 */
  ms?: number;
}

/**
 * Sends `data` (respecting backpressure), half-closes, and collects what comes back until
 * the server closes. For one-shot bad input: garbage, invalid UTF-8, a 1 MB line.
 */
export async function exchange(
  port: number,
  data: Buffer | string,
  options: ExchangeOptions = {},
): Promise<{ received: Buffer; closure: Closure }> {
  const client = await HostileClient.connect(port);
  const timer = setTimeout(() => client.destroy(), options.ms ?? 15_000);
  await client.write(data);
  if (options.end ?? true) client.end();
  const closure = await client.closed;
  clearTimeout(timer);
  return { received: client.received(), closure };
}

// ---------------------------------------------------------------- payloads

/** `n` random bytes: NUL, ESC, CR, LF, 0xFF and every other value turn up in a few KiB. */
export function garbage(n: number, { telnet = true } = {}): Buffer {
  const bytes = randomBytes(n);
  // Without telnet's IAC: random bytes are then never a telnet command, whose meaning (a
  // subnegotiation that takes the bytes after it, an interrupt that drops the line) would
  // make what follows them unpredictable.
  if (!telnet) for (let i = 0; i < n; i++) if (bytes[i] === 0xff) bytes[i] = 0xfe;
  return bytes;
}

/**
 * Byte sequences that are not UTF-8: a lone continuation byte, an overlong `/`, a UTF-16
 * surrogate, bytes that never occur (0xFE, 0xFF), a code point above U+10FFFF, and a
 * sequence cut short; with plain text between them and a line end at the end.
 */
export const INVALID_UTF8: Buffer = Buffer.concat([
  Buffer.from("bad:"),
  Buffer.from([0x80]),
  Buffer.from("|"),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from("|"),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from("|"),
  Buffer.from([0xfe, 0xff]),
  Buffer.from("|"),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from("|"),
  Buffer.from([0xe2, 0x82]),
  Buffer.from("\n"),
]);

/**
 * Telnet's protocol bytes as a telnet client sends them: DO ECHO, WILL NAWS with its
 * subnegotiation (80x24), WILL TERMINAL-TYPE, an interrupt (IP), an escaped 0xFF in the
 * data, a NOP, and the line end telnet sends (CR LF).
 */
export const TELNET_IAC: Buffer = Buffer.concat([
  Buffer.from([0xff, 0xfd, 0x01]),
  Buffer.from([0xff, 0xfb, 0x1f, 0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x18, 0xff, 0xf0]),
  Buffer.from([0xff, 0xfb, 0x18]),
  Buffer.from("iac"),
  Buffer.from([0xff, 0xf4]),
  Buffer.from("data"),
  Buffer.from([0xff, 0xff]),
  Buffer.from([0xff, 0xf1]),
  Buffer.from("\r\n"),
]);

/** One line of `bytes` bytes (1 MiB by default) of `x`, then `\n`. */
export function hugeLine(bytes = 1024 * 1024): Buffer {
  const line = Buffer.alloc(bytes + 1, "x");
  line[bytes] = 0x0a;
  return line;
}

/**
 * What a server sent, less its telnet negotiation (`IAC WILL/WONT/DO/DONT option`): a
 * server answers in telnet a peer whose bytes held a telnet command, as random bytes may.
 */
export function withoutTelnet(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    if (b === 0xff && (data[i + 1] ?? 0) >= 251) {
      i += 2;
      continue;
    }
    out.push(b);
  }
  return Buffer.from(out);
}
