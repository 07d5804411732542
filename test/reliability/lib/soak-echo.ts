/**
 * The soak's echo client: one connection to `socketkit serve echo`, a few payloads of
 * random sizes, each echo checked byte for byte as it arrives (nothing is accumulated),
 * then a half-close and the server's close. Any byte that differs from what was sent is
 * corruption, whatever the network did; a connection lost is expected only when a
 * disruptive fault was on its route.
 * @module
 */
import { connect, type Socket } from "node:net";
import type { FaultRoute } from "./fault-route.ts";
import type { SeededRandom } from "./seeded-random.ts";
import type { SoakTally } from "./soak-tally.ts";

/** Where a client connects: a proxy of `route`, or the server itself (`route` null). */
export interface Target {
  port: number;
  route: FaultRoute | null;
}

/** A failure of an echo connection; `corrupt` when bytes differed (never expected). */
class EchoFailure extends Error {
  readonly code: string;
  readonly corrupt: boolean;
  constructor(code: string, message: string, corrupt = false) {
    super(message);
    this.code = code;
    this.corrupt = corrupt;
  }
}

/** One connection, checking every byte it receives against what it sent. */
class EchoConnection {
  readonly socket: Socket;
  readonly #idleMs: number;
  #expected: Buffer | null = null;
  #offset = 0;
  #settle: ((err: EchoFailure | null) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #ended = false;
  #closed = false;
  #failure: EchoFailure | null = null;

  constructor(port: number, idleMs: number) {
    this.#idleMs = idleMs;
    this.socket = connect({ host: "127.0.0.1", port });
    this.socket.setNoDelay(true);
    this.socket.on("connect", () => this.#wake());
    this.socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.socket.on("end", () => {
      this.#ended = true;
      if (this.#expected !== null) {
        this.#fail(
          new EchoFailure(
            "EOF",
            `closed by the peer after ${this.#offset} of ${this.#expected.length} bytes`,
          ),
        );
      } else this.#wake();
    });
    this.socket.on("error", (err: NodeJS.ErrnoException) => {
      this.#fail(new EchoFailure(err.code ?? "ERR", err.message));
    });
    this.socket.on("close", () => {
      this.#closed = true;
      if (this.#expected !== null) this.#fail(new EchoFailure("CLOSED", "connection closed"));
      else this.#wake();
    });
  }

  connected(): Promise<void> {
    return this.#wait(() => this.socket.readyState === "open" || this.#failure !== null, "connect");
  }

  /** Sends `payload` and waits until exactly it has come back. */
  async exchange(payload: Buffer): Promise<void> {
    if (this.#failure !== null) throw this.#failure;
    if (this.#ended) throw new EchoFailure("EOF", "closed by the peer before a request");
    this.#expected = payload;
    this.#offset = 0;
    this.socket.write(payload);
    await this.#wait(() => this.#expected === null, `the echo of ${payload.length} bytes`);
  }

  /** Half-closes and waits for the server to close its side. */
  async finish(): Promise<void> {
    this.socket.end();
    await this.#wait(() => this.#ended && this.#closed, "the server's close");
  }

  destroy(): void {
    this.#clearTimer();
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#timer?.refresh();
    const expected = this.#expected;
    if (expected === null || chunk.length > expected.length - this.#offset) {
      this.#fail(
        new EchoFailure(
          "EXTRA",
          `${chunk.length} bytes arrived where ${expected === null ? 0 : expected.length - this.#offset} were due`,
          true,
        ),
      );
      return;
    }
    if (!chunk.equals(expected.subarray(this.#offset, this.#offset + chunk.length))) {
      let at = 0;
      while (chunk[at] === expected[this.#offset + at]) at++;
      this.#fail(new EchoFailure("CORRUPT", `the echo differs at byte ${this.#offset + at}`, true));
      return;
    }
    this.#offset += chunk.length;
    if (this.#offset === expected.length) {
      this.#expected = null;
      this.#wake();
    }
  }

  #fail(err: EchoFailure): void {
    if (this.#failure === null || (err.corrupt && !this.#failure.corrupt)) this.#failure = err;
    this.#wake();
  }

  #wake(): void {
    const settle = this.#settle;
    this.#settle = null;
    settle?.(this.#failure);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Waits until `done()` holds; fails on a failure, or when nothing arrives for `idleMs`. */
  #wait(done: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (failure: EchoFailure | null) => {
        if (failure !== null) {
          this.#clearTimer();
          reject(failure);
        } else if (done()) {
          this.#clearTimer();
          resolve();
        } else if (this.#closed) {
          this.#clearTimer();
          reject(new EchoFailure("CLOSED", `closed while waiting for ${what}`));
        } else this.#settle = check;
      };
      this.#timer = setTimeout(() => {
        this.#settle = null;
        reject(new EchoFailure("TIMEOUT", `nothing for ${this.#idleMs} ms waiting for ${what}`));
      }, this.#idleMs);
      check(this.#failure);
    });
  }
}

/**
 * One echo session through `target`: 1 to 6 payloads (mostly small, some up to 48 KiB),
 * each echo checked, then a clean close. Counts what it did in `tally`.
 */
export async function echoSession(
  target: Target,
  random: SeededRandom,
  tally: SoakTally,
  idleMs: number,
): Promise<void> {
  const route = target.route;
  const what = route === null ? "echo (direct)" : "echo";
  const mark = route?.mark();
  const conn = new EchoConnection(target.port, idleMs);
  let exchanges = 0;
  try {
    await conn.connected();
    const n = random.int(1, 7);
    for (let i = 0; i < n; i++) {
      const size = random.chance(0.6) ? random.int(1, 513) : random.int(1024, 48 * 1024 + 1);
      await conn.exchange(random.bytes(size));
      exchanges++;
      tally.count("echo exchanges verified");
      tally.count("echo bytes verified", size);
    }
    await conn.finish();
    tally.count(route === null ? "echo sessions completed direct" : "echo sessions completed");
  } catch (err) {
    const failure =
      err instanceof EchoFailure ? err : new EchoFailure("ERR", (err as Error).message);
    if (failure.corrupt) {
      tally.unexpected(what, `${failure.message} (route: ${route?.current ?? "direct"})`);
    } else if (route !== null && mark !== undefined && route.hit(mark)) {
      tally.expected("echo", failure.code);
    } else {
      tally.unexpected(
        what,
        `${failure.code}: ${failure.message} after ${exchanges} exchanges, with no disruptive fault (recent phases: ${route?.recent.join("; ") ?? "direct"})`,
      );
    }
  } finally {
    conn.destroy();
  }
}
