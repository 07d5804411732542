/**
 * Chat test helpers: a room served in the test's process, and raw members (plain
 * node:net sockets, as telnet or nc would be) that wait for what they expect to read.
 */
import { once } from "node:events";
import { connect, type Socket as NetSocket } from "node:net";
import type { TestContext } from "node:test";
import { type ClientOptions, WebSocket } from "ws";
import { type ChatServeOptions, chatServe } from "../../src/apps/chat/server.ts";
import { deferred } from "./deferred.ts";

/** A chat room on 127.0.0.1 with a free port, stopped when the test ends. */
export async function chatRoom(
  t: TestContext,
  options: ChatServeOptions = {},
): Promise<{ port: number; web: string; logs: string[]; stop: () => Promise<void> }> {
  const logs: string[] = [];
  const stopper = new AbortController();
  const ready = deferred<number>();
  let web = "";
  const running = chatServe({
    ...options,
    port: options.port ?? 0,
    log: (line) => logs.push(line),
    signal: stopper.signal,
    onWebListening: (url) => {
      web = url;
    },
    onListening: ([, port]) => ready.resolve(port),
  });
  const stop = async () => {
    stopper.abort();
    await running;
  };
  t.after(stop);
  const port = await Promise.race([ready.promise, running.then(() => -1)]);
  if (port < 0) throw new Error("The chat server ended before listening");
  return { port, web, logs, stop };
}

/** What a member has read, as text, and waits for it. */
class TextReader {
  /** The text read since the last `take`. */
  text = "";
  readonly #waiters = new Set<() => void>();

  /** Adds what was read, and lets every wait look again. */
  protected received(text: string): void {
    this.text += text;
    this.recheck();
  }

  /** Lets every wait look again (the connection closed). */
  protected recheck(): void {
    for (const check of [...this.#waiters]) check();
  }

  /** What was read since the last call. */
  take(): string {
    const out = this.text;
    this.text = "";
    return out;
  }

  /** Waits until the text read (since the last `take`) contains `what`; fails after `ms`. */
  async waitFor(what: string | RegExp, ms = 10_000): Promise<void> {
    const found = () =>
      typeof what === "string" ? this.text.includes(what) : what.test(this.text);
    if (found()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(`Waited ${ms} ms for ${String(what)}; read: ${JSON.stringify(this.text)}`),
        );
      }, ms);
      const check = () => {
        if (!found()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }
}

/** A member over a plain socket: everything it reads is kept as text. */
export class RawMember extends TextReader {
  readonly socket: NetSocket;
  bytes: Buffer[] = [];
  readonly closed: Promise<void>;

  private constructor(socket: NetSocket) {
    super();
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.bytes.push(chunk);
      this.received(chunk.toString("utf8"));
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    void this.closed.then(() => this.recheck());
  }

  /** Connects to 127.0.0.1:`port`, from `localAddress` (another loopback address) if given. */
  static async connect(t: TestContext, port: number, localAddress?: string): Promise<RawMember> {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    await once(socket, "connect");
    t.after(() => socket.destroy());
    return new RawMember(socket);
  }

  /** Connects and joins as `nick`; what was read so far is cleared. */
  static async join(
    t: TestContext,
    port: number,
    nick: string,
    localAddress?: string,
  ): Promise<RawMember> {
    const member = await RawMember.connect(t, port, localAddress);
    await member.waitFor("Choose a nickname: ");
    member.send(`${nick}\r\n`);
    await member.waitFor(`You are ${nick}.`);
    member.take();
    return member;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }
}

/** A member over the chat's WebSocket (as the web page is): every text message is a line. */
export class WsMember extends TextReader {
  readonly ws: WebSocket;
  /** Every message received, in order (`text` has the lines since the last `take`). */
  readonly frames: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    super();
    this.ws = ws;
    ws.on("message", (data, isBinary) => {
      const line = isBinary ? `(binary) ${String(data)}` : String(data);
      this.frames.push(line);
      this.received(`${line}\n`);
    });
    ws.on("error", () => {});
    this.closed = new Promise((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: String(reason) })),
    );
    void this.closed.then(() => this.recheck());
  }

  /** Opens the WebSocket at `url` (the page's address or ws://.../ws). */
  static async connect(
    t: TestContext,
    url: string,
    options: ClientOptions = {},
  ): Promise<WsMember> {
    const ws = new WebSocket(wsUrl(url), options);
    t.after(() => ws.terminate());
    const member = new WsMember(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) =>
        reject(new Error(`Refused with HTTP ${res.statusCode}`)),
      );
    });
    return member;
  }

  /** Connects and joins as `nick`; what was read so far is cleared. */
  static async join(
    t: TestContext,
    url: string,
    nick: string,
    options: ClientOptions = {},
  ): Promise<WsMember> {
    const member = await WsMember.connect(t, url, options);
    await member.waitFor("Choose a nickname: ");
    member.send(nick);
    await member.waitFor(`You are ${nick}.`);
    member.take();
    return member;
  }

  send(line: string | Buffer): void {
    this.ws.send(line);
  }
}

/** The WebSocket's address from the page's (`http://h:p/` -> `ws://h:p/ws`). */
export function wsUrl(url: string): string {
  if (url.startsWith("ws")) return url;
  return `${url.replace(/^http/, "ws").replace(/\/$/, "")}/ws`;
}
