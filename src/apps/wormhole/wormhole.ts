import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { WormholeError } from "../../core/errors.ts";
import { Spake2Symmetric } from "../transfer/spake2.ts";
import { deriveKey, derivePhaseKey, open, seal } from "./crypto.ts";
import { chooseWords } from "./wordlist.ts";

/**
 * The client side of a Magic Wormhole (client-protocol.md of magic-wormhole-protocols): a
 * WebSocket to the rendezvous server, a nameplate allocated or claimed, its mailbox
 * opened, SPAKE2 (symmetric, bound to the application id) run over the mailbox with the
 * code as the password, the key confirmed by the `version` messages, then numbered
 * phases, each a JSON object sealed under its own key. A connection to the server lost
 * after the first is made again (with backoff, for `reconnectTimeout` seconds), and the
 * exchange resumes as magic-wormhole's client resumes it: bound again with the same side,
 * the mailbox opened again (the server sends its messages again: the phases already seen
 * are dropped), the messages the server has not echoed back sent again.
 * @module
 */

/** The application id of wormhole's file-transfer app (`wormhole send` / `receive`). */
export const TRANSFER_APPID = "lothar.com/wormhole/text-or-file-xfer";

/** Options of {@link Wormhole.connect}. */
export interface WormholeOptions {
  /** Application id; both sides must use the same. @default TRANSFER_APPID */
  appid?: string;
  /** Seconds to wait for the server to answer (not for the peer). @default 30 */
  timeout?: number;
  /** The `app_versions` this side sends in its version message. @default {} */
  appVersions?: Record<string, unknown>;
  /** Called with the server's message of the day, if it sends one. */
  onMotd?: (motd: string) => void;
  /**
   * Seconds to keep trying to connect again once the connection to the server is lost
   * (it is not tried again if the first connection fails). @default timeout
   */
  reconnectTimeout?: number;
  /** Called with a one-line notice: the connection lost, and made again. */
  onNotice?: (line: string) => void;
}

type Message = Record<string, unknown>;

/** Bytes of a phase message body this client accepts from the server. */
const MAX_BODY = 1024 * 1024;

/** Seconds between WebSocket pings; a connection that misses two answers is dropped. */
const PING_INTERVAL = 30;

/** Milliseconds before the first try to connect again, then doubled up to the second. */
const BACKOFF = [250, 5000] as const;

/** Errors after which connecting again is of no use: the server said no. */
const refusals = new WeakSet<Error>();

function peerError(message: string): WormholeError {
  return new WormholeError(message, { code: "ERR_WORMHOLE_PEER" });
}

/**
 * One side of a wormhole.
 *
 * @example
 * ```ts
 * import { Wormhole } from "./wormhole.ts";
 * const w = await Wormhole.connect("ws://127.0.0.1:4000/v1");
 * const code = await w.allocateCode(2); // "7-crossover-clockwork", for the other side
 * await w.establish();
 * w.send({ offer: { message: "hi" } });
 * console.log(await w.receive()); // { answer: { message_ack: "ok" } }
 * await w.close("happy");
 * ```
 */
export class Wormhole {
  readonly side = randomBytes(5).toString("hex");
  readonly appid: string;
  readonly #url: string;
  readonly #options: WormholeOptions;
  /** The connection now; a new one replaces a lost one. */
  #ws: WebSocket | null = null;
  /** Counts connections: events of one replaced are ignored. */
  #generation = 0;
  #pinger: NodeJS.Timeout | null = null;
  /** Ends the wait before the next try to connect again. */
  #stopWaiting: (() => void) | null = null;
  readonly #timeout: number;
  readonly #appVersions: Record<string, unknown>;
  /** Our `add`s (phase to hex body): a few short messages. */
  readonly #added = new Map<string, string>();
  /** The phases of ours the server has not echoed back yet: sent again on a new connection. */
  readonly #unechoed = new Set<string>();
  /** Requests sent and not yet answered: sent again on a new connection. */
  #allocating = false;
  #claimed = false;
  #releaseAnswered = false;
  /** Server responses not yet taken, by type. */
  readonly #responses: Message[] = [];
  /** The peer's phase messages, by phase, not yet taken. */
  readonly #phases = new Map<string, Buffer>();
  readonly #wakers = new Set<() => void>();
  #failure: Error | null = null;
  #nameplate: string | null = null;
  #mailbox: string | null = null;
  #released = false;
  #key: Buffer | null = null;
  #nextSend = 0;
  #nextReceive = 0;
  #closed = false;
  /** The peer's `app_versions`, once its version message is in. */
  peerVersions: Record<string, unknown> = {};

  private constructor(url: string, appid: string, options: WormholeOptions) {
    this.#url = url;
    this.#options = options;
    this.appid = appid;
    this.#timeout = options.timeout ?? 30;
    this.#appVersions = options.appVersions ?? {};
  }

  /** Connects to the rendezvous server at `url` and binds; fails if its welcome says so. */
  static async connect(url: string, options: WormholeOptions = {}): Promise<Wormhole> {
    const w = new Wormhole(url, options.appid ?? TRANSFER_APPID, options);
    const { ws, motd } = await w.#dial();
    if (motd !== undefined) options.onMotd?.(motd);
    w.#attach(ws);
    return w;
  }

  /** A new connection, once the server has welcomed it (or why not). */
  async #dial(): Promise<{ ws: WebSocket; motd?: string }> {
    const ws = new WebSocket(this.#url, {
      perMessageDeflate: false,
      maxPayload: 4 * MAX_BODY,
      handshakeTimeout: this.#timeout * 1000,
    });
    return await new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        clearTimeout(timer);
        ws.removeAllListeners("message");
        ws.removeAllListeners("close");
        ws.on("error", () => {});
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(
            new WormholeError(
              `The rendezvous server did not answer (welcome) within ${this.#timeout} s`,
              { code: "ERR_WORMHOLE_SERVER" },
            ),
          ),
        this.#timeout * 1000,
      );
      ws.on("error", (err) => fail(serverError(err)));
      ws.on("close", () => fail(closedError()));
      ws.once("message", (data) => {
        let welcome: Message = {};
        try {
          welcome = JSON.parse(String(data)) as Message;
        } catch {}
        const body = (welcome.welcome ?? {}) as Message;
        if (welcome.type !== "welcome" || typeof body.error === "string") {
          const err = new WormholeError(
            `The rendezvous server refuses: ${typeof body.error === "string" ? body.error : "no welcome"}`,
            { code: "ERR_WORMHOLE_SERVER" },
          );
          refusals.add(err);
          fail(err);
          return;
        }
        clearTimeout(timer);
        ws.removeAllListeners();
        ws.on("error", () => {}); // until #attach listens
        resolve({ ws, motd: typeof body.motd === "string" ? body.motd : undefined });
      });
    });
  }

  /**
   * Makes `ws` the connection: binds, and (on a connection made again) resumes where the
   * last one was: the requests not answered, the mailbox opened again, the messages not
   * echoed sent again.
   */
  #attach(ws: WebSocket): void {
    const generation = ++this.#generation;
    this.#ws = ws;
    ws.on("message", (data) => {
      if (generation === this.#generation) this.#onMessage(data as Buffer);
    });
    ws.on("close", () => this.#lost(generation, closedError()));
    ws.on("error", (err) => this.#lost(generation, serverError(err)));
    let answered = true;
    ws.on("pong", () => {
      answered = true;
    });
    if (this.#pinger !== null) clearInterval(this.#pinger);
    this.#pinger = setInterval(() => {
      // Two pings unanswered: a connection gone silently (no FIN), dropped to make anew.
      if (!answered) ws.terminate();
      else {
        answered = false;
        ws.ping();
      }
    }, PING_INTERVAL * 1000);
    this.#pinger.unref();
    this.#tx({
      type: "bind",
      appid: this.appid,
      side: this.side,
      client_version: ["socketkit", "1"],
    });
    if (this.#allocating) this.#tx({ type: "allocate" });
    // The nameplate, while held, is claimed again, and the mailbox opened once the answer
    // says which: a server that restarted and forgot them (socketkit's keeps them in
    // memory) gives another, and the exchange moves there before the peer comes.
    if (this.#nameplate !== null && !this.#released)
      this.#tx({ type: "claim", nameplate: this.#nameplate });
    else if (this.#mailbox !== null) this.#reopen(false);
    if (this.#released && !this.#releaseAnswered && this.#nameplate !== null)
      this.#tx({ type: "release", nameplate: this.#nameplate });
  }

  /**
   * Opens the mailbox on a new connection (open is also a subscription: the server sends
   * what it holds) and sends our messages it has not echoed, or all of them when `all`.
   */
  #reopen(all: boolean): void {
    this.#tx({ type: "open", mailbox: this.#mailbox });
    for (const [phase, body] of this.#added)
      if (all || this.#unechoed.has(phase)) this.#tx({ type: "add", phase, body });
  }

  /** The connection of `generation` is gone: connect again, unless closing or it was the server's will. */
  #lost(generation: number, err: Error): void {
    if (generation !== this.#generation || this.#failure !== null) return;
    this.#generation++;
    this.#ws = null;
    if (this.#pinger !== null) clearInterval(this.#pinger);
    this.#pinger = null;
    if (this.#closed) {
      this.#fail(err);
      return;
    }
    const why = err.cause instanceof Error ? err.cause.message : "the connection closed";
    this.#options.onNotice?.(`Lost the rendezvous server (${why}); connecting again`);
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    const seconds = this.#options.reconnectTimeout ?? this.#timeout;
    const deadline = Date.now() + seconds * 1000;
    let delay: number = BACKOFF[0];
    for (;;) {
      // A little jitter, so that the clients of a server that restarts do not come back as one.
      const wait = Math.min(delay * (1 + Math.random() / 4), Math.max(0, deadline - Date.now()));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        // close() ends the wait at once.
        this.#stopWaiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#stopWaiting = null;
      if (this.#closed) return;
      try {
        const { ws } = await this.#dial();
        if (this.#closed) {
          ws.terminate();
          return;
        }
        this.#attach(ws);
        this.#options.onNotice?.("Connected to the rendezvous server again");
        return;
      } catch (err) {
        if (refusals.has(err as Error) || Date.now() >= deadline) {
          this.#fail(
            new WormholeError(
              `Lost the rendezvous server and cannot connect again within ${seconds} s: ${reasonOf(err as Error)}`,
              { code: "ERR_WORMHOLE_SERVER", cause: err },
            ),
          );
          return;
        }
        delay = Math.min(delay * 2, BACKOFF[1]);
      }
    }
  }

  /**
   * Asks the server for a nameplate and makes a code of it and `words` words from the PGP
   * list (a CSPRNG's choice), then claims it and opens its mailbox.
   */
  async allocateCode(words = 2): Promise<string> {
    this.#allocating = true;
    this.#tx({ type: "allocate" });
    const { nameplate } = await this.#next("allocated");
    if (typeof nameplate !== "string" || !/^\d+$/.test(nameplate))
      throw new WormholeError("The rendezvous server allocated no valid nameplate", {
        code: "ERR_WORMHOLE_SERVER",
      });
    const code = `${nameplate}-${chooseWords(words)}`;
    await this.setCode(code);
    return code;
  }

  /** Takes a code (the sender's, or one of one's own choosing), claims its nameplate, opens the mailbox. */
  async setCode(code: string): Promise<void> {
    const m = /^(\d+)-\S+$/.exec(code);
    if (m === null)
      throw new WormholeError(
        `Cannot use the code ${JSON.stringify(code)}: a code is a number, a hyphen and words (4-purple-sausages)`,
        { code: "ERR_WORMHOLE_CODE" },
      );
    this.#code = code;
    this.#nameplate = m[1] as string;
    this.#tx({ type: "claim", nameplate: this.#nameplate });
    const { mailbox } = await this.#next("claimed");
    if (typeof mailbox !== "string")
      throw new WormholeError("The rendezvous server claimed no mailbox", {
        code: "ERR_WORMHOLE_SERVER",
      });
    this.#mailbox = mailbox;
    this.#tx({ type: "open", mailbox });
  }

  #code = "";

  /**
   * The nameplates in use on the server for this application id (its answer to `list`),
   * to complete a code being typed.
   */
  async listNameplates(): Promise<string[]> {
    this.#tx({ type: "list" });
    const { nameplates } = await this.#next("nameplates");
    if (!Array.isArray(nameplates)) return [];
    return nameplates
      .map((n) => (typeof n === "object" && n !== null ? (n as Message).id : undefined))
      .filter((id): id is string => typeof id === "string" && /^\d{1,9}$/.test(id));
  }

  /**
   * Runs the key exchange and confirms the key: sends the PAKE message, waits for the
   * peer's (as long as it takes the peer to come), derives the key, sends the version
   * message and opens the peer's. A version that does not open means the codes differ
   * (or a guess failed): the mailbox is closed as "scary" and an `ERR_WORMHOLE_KEY`
   * thrown. The nameplate is released as soon as the peer has spoken, so a wrong code
   * uses it up.
   */
  async establish(): Promise<void> {
    const pake = new Spake2Symmetric(this.#code, this.appid);
    this.#add("pake", Buffer.from(JSON.stringify({ pake_v1: pake.start().toString("hex") })));
    const theirs = await this.#phase("pake");
    let message: Buffer;
    try {
      const parsed = JSON.parse(theirs.toString("utf8")) as Message;
      if (typeof parsed.pake_v1 !== "string" || !/^[0-9a-f]{66}$/.test(parsed.pake_v1))
        throw new Error("no pake_v1");
      message = Buffer.from(parsed.pake_v1, "hex");
    } catch {
      await this.close("scary");
      throw peerError("The peer's PAKE message is not one");
    }
    let key: Buffer;
    try {
      key = pake.finish(message);
    } catch {
      await this.close("scary");
      throw peerError("The peer's PAKE message is not one");
    }
    this.#key = key;
    this.#addSealed("version", {
      app_versions: this.#appVersions,
    });
    const version = this.#open("version", await this.#phase("version"));
    if (version === null) {
      await this.close("scary");
      throw new WormholeError(
        "Key confirmation failed: either you or your correspondent typed the code wrong, or an attacker guessed wrong (the code is now used up)",
        { code: "ERR_WORMHOLE_KEY" },
      );
    }
    const versions = version.app_versions;
    if (typeof versions === "object" && versions !== null)
      this.peerVersions = versions as Record<string, unknown>;
  }

  /** The verifier both sides can compare to rule out a man in the middle. */
  get verifier(): string {
    return deriveKey(this.#needKey(), "wormhole:verifier").toString("hex");
  }

  /** A key for `purpose`, derived from the wormhole's key (the transit key, for one). */
  deriveKey(purpose: string, length = 32): Buffer {
    return deriveKey(this.#needKey(), purpose, length);
  }

  /** Sends a JSON object as the next numbered phase. */
  send(message: Message): void {
    this.#addSealed(String(this.#nextSend++), message);
  }

  /** The peer's next numbered phase, in order. */
  async receive(): Promise<Message> {
    const phase = String(this.#nextReceive++);
    const opened = this.#open(phase, await this.#phase(phase));
    if (opened === null) {
      await this.close("scary");
      throw peerError(`The peer's message ${phase} does not open under the wormhole's key`);
    }
    return opened;
  }

  /**
   * Releases the nameplate (if not yet), closes the mailbox with `mood` and the
   * connection. Waits at most a second for each answer; never throws.
   */
  async close(mood: "happy" | "lonely" | "scary" | "errory" = "happy"): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Not connected (connecting again): what the server holds is pruned in time.
      if (this.#failure === null && this.#ws !== null) {
        if (this.#nameplate !== null && !this.#released) {
          this.#released = true;
          this.#tx({ type: "release", nameplate: this.#nameplate });
          await this.#next("released", 1);
        }
        if (this.#mailbox !== null) {
          this.#tx({ type: "close", mailbox: this.#mailbox, mood });
          await this.#next("closed", 1);
        }
      }
    } catch {
      // A server gone or slow changes nothing for this side: the exchange is over.
    } finally {
      this.#stopWaiting?.();
      if (this.#pinger !== null) clearInterval(this.#pinger);
      const ws = this.#ws;
      if (ws !== null) {
        ws.close();
        setTimeout(() => ws.terminate(), 1000).unref();
      }
    }
  }

  #needKey(): Buffer {
    if (this.#key === null) throw new Error("No key yet: call establish() first");
    return this.#key;
  }

  #addSealed(phase: string, message: Message): void {
    const key = derivePhaseKey(this.#needKey(), this.side, phase);
    this.#add(phase, seal(key, Buffer.from(JSON.stringify(message))));
  }

  #open(phase: string, body: Buffer): Message | null {
    // The peer sealed it under its own side's key for the phase.
    const side = this.#peerSide;
    if (side === null) return null;
    const plain = open(derivePhaseKey(this.#needKey(), side, phase), body);
    if (plain === null) return null;
    try {
      const parsed = JSON.parse(plain.toString("utf8")) as unknown;
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw peerError(`The peer's message ${phase} is not a JSON object`);
      return parsed as Message;
    } catch (err) {
      if (err instanceof WormholeError) throw err;
      throw peerError(`The peer's message ${phase} is not JSON`);
    }
  }

  #peerSide: string | null = null;

  #add(phase: string, body: Buffer): void {
    const hex = body.toString("hex");
    this.#added.set(phase, hex);
    this.#unechoed.add(phase);
    this.#tx({ type: "add", phase, body: hex });
  }

  /**
   * Sends a request. Between connections it goes nowhere: what is still due is sent again
   * on the next ({@link #attach}).
   */
  #tx(message: Message): void {
    if (this.#failure !== null) throw this.#failure;
    if (this.#ws === null || this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify({ ...message, id: randomBytes(2).toString("hex") }));
  }

  #fail(err: Error): void {
    if (this.#failure === null) this.#failure = err;
    this.#wakeAll();
  }

  #onMessage(data: Buffer): void {
    let m: Message;
    try {
      m = JSON.parse(data.toString("utf8")) as Message;
    } catch {
      return; // not for us to die on; unknown messages are ignored as the protocol says
    }
    if (typeof m !== "object" || m === null) return;
    switch (m.type) {
      case "ack":
      case "pong":
        return;
      case "message": {
        if (typeof m.side !== "string" || typeof m.phase !== "string") return;
        if (m.side === this.side) {
          // Our own, echoed: the server has it.
          this.#unechoed.delete(m.phase);
          return;
        }
        if (typeof m.body !== "string") return;
        if (m.body.length > 2 * MAX_BODY || !/^(?:[0-9a-f]{2})*$/i.test(m.body)) return;
        if (this.#peerSide === null) this.#peerSide = m.side;
        // A third side's messages (an attacker's, or a crowd) never count.
        if (m.side !== this.#peerSide) return;
        if (!this.#phases.has(m.phase) && !this.#seen.has(m.phase)) {
          this.#phases.set(m.phase, Buffer.from(m.body, "hex"));
        }
        // The peer has the mailbox: the nameplate can go (so a wrong code burns it).
        if (!this.#released && this.#nameplate !== null && this.#failure === null) {
          this.#released = true;
          this.#tx({ type: "release", nameplate: this.#nameplate });
        }
        break;
      }
      case "error": {
        const orig = (m.orig ?? {}) as Message;
        this.#fail(
          new WormholeError(
            `The rendezvous server refused ${String(orig.type ?? "a request")}: ${String(m.error)}`,
            { code: m.error === "crowded" ? "ERR_WORMHOLE_CROWDED" : "ERR_WORMHOLE_SERVER" },
          ),
        );
        return;
      }
      case "allocated":
        this.#allocating = false;
        this.#responses.push(m);
        break;
      case "claimed":
        if (!this.#claimed) {
          this.#claimed = true;
          this.#responses.push(m);
        } else if (typeof m.mailbox === "string" && this.#mailbox !== null) {
          // Claimed again on a new connection: a mailbox other than ours means the server
          // forgot it, and all our messages go to the new one.
          const moved = m.mailbox !== this.#mailbox;
          this.#mailbox = m.mailbox;
          this.#reopen(moved);
        }
        break;
      case "released":
        this.#releaseAnswered = true;
        this.#responses.push(m);
        break;
      default:
        this.#responses.push(m);
    }
    this.#wakeAll();
  }

  #seen = new Set<string>();

  #wakeAll(): void {
    const wakers = [...this.#wakers];
    this.#wakers.clear();
    for (const wake of wakers) wake();
  }

  /** The peer's message of `phase` (waits as long as the peer takes). */
  async #phase(phase: string): Promise<Buffer> {
    for (;;) {
      const body = this.#phases.get(phase);
      if (body !== undefined) {
        this.#phases.delete(phase);
        this.#seen.add(phase);
        return body;
      }
      if (this.#failure !== null) throw this.#failure;
      await new Promise<void>((resolve) => {
        this.#wakers.add(resolve);
      });
    }
  }

  /** The server's next response of `type`, within the timeout. */
  async #next(type: string, seconds = this.#timeout): Promise<Message> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const i = this.#responses.findIndex((m) => m.type === type);
      if (i !== -1) return this.#responses.splice(i, 1)[0] as Message;
      if (this.#failure !== null) throw this.#failure;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new WormholeError(
          `The rendezvous server did not answer (${type}) within ${seconds} s`,
          {
            code: "ERR_WORMHOLE_SERVER",
          },
        );
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#wakers.add(wake);
      });
    }
  }
}

function closedError(): WormholeError {
  return new WormholeError("The rendezvous server closed the connection", {
    code: "ERR_WORMHOLE_SERVER",
  });
}

function serverError(err: Error): WormholeError {
  return new WormholeError(`Cannot talk to the rendezvous server: ${err.message}`, {
    code: "ERR_WORMHOLE_SERVER",
    cause: err,
  });
}

/** What went wrong, without the "Cannot talk to the rendezvous server" of {@link serverError}. */
function reasonOf(err: Error): string {
  return err.cause instanceof Error ? err.cause.message : err.message;
}
