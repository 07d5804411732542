/**
 * Chat test helpers: a room served in the test's process, and raw members (plain
 * node:net sockets, as telnet or nc would be) that wait for what they expect to read.
 */
import { once } from "node:events";
import { connect, type Socket as NetSocket } from "node:net";
import type { TestContext } from "node:test";
import { type ChatServeOptions, chatServe } from "../../src/apps/chat/server.ts";
import { deferred } from "./deferred.ts";

/** A chat room on 127.0.0.1 with a free port, stopped when the test ends. */
export async function chatRoom(
  t: TestContext,
  options: ChatServeOptions = {},
): Promise<{ port: number; logs: string[]; stop: () => Promise<void> }> {
  const logs: string[] = [];
  const stopper = new AbortController();
  const ready = deferred<number>();
  const running = chatServe({
    ...options,
    port: options.port ?? 0,
    log: (line) => logs.push(line),
    signal: stopper.signal,
    onListening: ([, port]) => ready.resolve(port),
  });
  const stop = async () => {
    stopper.abort();
    await running;
  };
  t.after(stop);
  const port = await Promise.race([ready.promise, running.then(() => -1)]);
  if (port < 0) throw new Error("The chat server ended before listening");
  return { port, logs, stop };
}

/** A member over a plain socket: everything it reads is kept as text. */
export class RawMember {
  readonly socket: NetSocket;
  text = "";
  bytes: Buffer[] = [];
  readonly closed: Promise<void>;
  #waiters = new Set<() => void>();

  private constructor(socket: NetSocket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.bytes.push(chunk);
      this.text += chunk.toString("utf8");
      for (const check of [...this.#waiters]) check();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    void this.closed.then(() => {
      for (const check of [...this.#waiters]) check();
    });
  }

  static async connect(t: TestContext, port: number): Promise<RawMember> {
    const socket = connect({ host: "127.0.0.1", port });
    await once(socket, "connect");
    t.after(() => socket.destroy());
    return new RawMember(socket);
  }

  /** Connects and joins as `nick`; what was read so far is cleared. */
  static async join(t: TestContext, port: number, nick: string): Promise<RawMember> {
    const member = await RawMember.connect(t, port);
    await member.waitFor("Choose a nickname: ");
    member.send(`${nick}\r\n`);
    await member.waitFor(`You are ${nick}.`);
    member.take();
    return member;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
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
