import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as delay } from "node:timers/promises";
import picocolors from "picocolors";
import { formatAddress } from "../../core/address.ts";
import { messageOf } from "../../core/errors.ts";
import { escapeControls } from "../../core/escape.ts";
import { stderrLine } from "../../core/log-budget.ts";
import { createConnection } from "../../socket/create-connection.ts";
import type { Socket } from "../../socket/socket.ts";
import { PromptLine } from "../prompt-line.ts";

/** Options of {@link chatJoin}. */
export interface ChatJoinOptions {
  /** Nickname to join with; without it, the first line typed is the nickname. */
  nick?: string;
  /** Reconnect, with backoff, when the connection is lost. @default true */
  reconnect?: boolean;
  /** Lines to send. @default process.stdin */
  input?: Readable;
  /** What the room says. @default process.stdout */
  output?: Writable;
  /**
   * A terminal: lines are typed at a prompt and the room's lines print above it. The CLI
   * turns it on when standard input is a terminal. @default false
   */
  interactive?: boolean;
  /** Colour nicknames and notices. @default false */
  color?: boolean;
  /** Connection status lines (lost, reconnecting). @default process.stderr */
  log?: (line: string) => void;
  /** Leaves the room when aborted. */
  signal?: AbortSignal;
  /** First reconnection delay in seconds; it doubles up to 30. @default 1 */
  retryDelay?: number;
}

/** How one connection to the room ended. */
type Ending = { kind: "quit" } | { kind: "lost"; reason: string };

const NICK_PROMPT = /(?:Choose a nickname|choose a nickname|choose another): $/;
const YOU_ARE = /^\*\*\* You are (\S+)\. /;
const RENAMED = /^\[[\d:]+\] \*\*\* (\S+) is now known as (\S+)$/;

/**
 * The longest line of the server's held while its end is awaited, in characters (64 Ki);
 * a longer one is shown cut. The server's own limit is far below (`--max-line`, plus a
 * nickname and a time stamp).
 */
const MAX_SERVER_LINE = 64 * 1024;

/**
 * Joins a chat room: what `socketkit chat join` does. Lines from the input are sent, lines
 * from the room are printed (above the line being typed, on a terminal), their control
 * characters shown rather than acting (`escapeControls`); `/quit` or the
 * end of the input leaves. A lost connection is reported and retried with backoff, the
 * nickname sent again on each new connection. Resolves when the member leaves; rejects
 * when the room cannot be reached at first, or is lost with `reconnect` off.
 *
 * @example
 * ```ts
 * import { chatJoin } from "./client.ts";
 * await chatJoin("127.0.0.1", 5000, { nick: "alice" });
 * ```
 */
export async function chatJoin(
  host: string,
  port: number,
  options: ChatJoinOptions = {},
): Promise<void> {
  const ui = new ChatScreen(options);
  let nick = options.nick ?? null;
  let delaySeconds = options.retryDelay ?? 1;
  let everConnected = false;
  try {
    for (;;) {
      let conn: Socket;
      try {
        conn = await createConnection([host, port]);
      } catch (err) {
        if (!everConnected || options.reconnect === false) throw err;
        ui.status(`cannot reconnect: ${messageOf(err)}; trying again in ${delaySeconds} s`);
        if (await ui.waitOrLeave(delaySeconds)) return;
        delaySeconds = Math.min(30, delaySeconds * 2);
        continue;
      }
      if (everConnected) ui.status(`reconnected to ${formatAddress([host, port])}`);
      everConnected = true;
      delaySeconds = options.retryDelay ?? 1;
      const ending = await ui.session(conn, nick, (learned) => {
        nick = learned;
      });
      await conn.close();
      if (ending.kind === "quit") return;
      if (options.reconnect === false)
        throw new Error(`Connection to the room lost: ${ending.reason}`);
      ui.status(`connection lost (${ending.reason}); reconnecting in ${delaySeconds} s`);
      if (await ui.waitOrLeave(delaySeconds)) return;
      delaySeconds = Math.min(30, delaySeconds * 2);
    }
  } finally {
    ui.close();
  }
}

/**
 * The member's side of the screen: the input (typed or piped) and the room's lines. It
 * outlives connections, so a reconnection keeps the line being typed.
 */
class ChatScreen {
  readonly #output: Writable;
  readonly #interactive: boolean;
  readonly #colors: ReturnType<typeof picocolors.createColors>;
  readonly #log: (line: string) => void;
  readonly #rl: Interface;
  readonly #signal: AbortSignal | undefined;
  /** Lines typed while no connection (or no nickname yet) could take them. */
  #typed: string[] = [];
  #inputEnded = false;
  #onTyped: (() => void) | null = null;
  /** The prompt, with the room's lines printed above it, on a terminal; null otherwise. */
  readonly #prompt: PromptLine | null;

  constructor(options: ChatJoinOptions) {
    this.#output = options.output ?? process.stdout;
    this.#interactive = options.interactive === true;
    this.#colors = picocolors.createColors(options.color === true);
    this.#log = options.log ?? stderrLine;
    this.#signal = options.signal;
    this.#rl = createInterface({
      input: options.input ?? process.stdin,
      output: this.#interactive ? this.#output : undefined,
      terminal: this.#interactive,
      prompt: "> ",
    });
    this.#rl.on("line", (line) => this.#take(line));
    this.#rl.on("close", () => {
      this.#inputEnded = true;
      this.#onTyped?.();
    });
    // Ctrl-C on a terminal leaves as /quit does.
    this.#rl.on("SIGINT", () => this.#take("/quit"));
    this.#prompt = this.#interactive ? new PromptLine(this.#rl, this.#output) : null;
    this.#prompt?.show();
  }

  #take(line: string): void {
    this.#typed.push(line);
    this.#onTyped?.();
  }

  /** One connection: sends the nickname and the typed lines, prints the room's lines. */
  async session(conn: Socket, nick: string | null, learn: (nick: string) => void): Promise<Ending> {
    const decoder = new StringDecoder("utf8");
    let partial = "";
    let nickSent = nick === null;
    /** Dropping the rest of a server line too long to hold. */
    let cutting = false;
    // Typed lines wait until the room has the nickname, unless the member types it.
    let mayType = nick === null;
    let quitting = false;
    const abort = () => {
      this.#take("/quit");
    };
    this.#signal?.addEventListener("abort", abort, { once: true });

    // Sends what is typed: held back until the room has our nickname (so a script's first
    // line is not taken for one), and `/quit` (or the end of the input) leaves.
    void (async () => {
      for (;;) {
        if (conn.closed) return;
        if (this.#typed.length > 0 && mayType) {
          const line = this.#typed.shift() as string;
          if (line.trim() === "/quit" || line.trim().startsWith("/quit ")) quitting = true;
          await conn.sendall(`${line}\n`);
          if (quitting) return;
          continue;
        }
        if (this.#inputEnded && this.#typed.length === 0) {
          quitting = true;
          await conn.sendall("/quit\n");
          return;
        }
        await new Promise<void>((resolve) => {
          this.#onTyped = resolve;
        });
        this.#onTyped = null;
      }
    })().catch(() => {});

    const wake = () => this.#onTyped?.();
    try {
      for (;;) {
        let data: Buffer;
        try {
          data = await conn.recv(65536);
        } catch (err) {
          return quitting ? { kind: "quit" } : { kind: "lost", reason: messageOf(err) };
        }
        if (data.length === 0) {
          if (partial !== "") this.#print(partial);
          return quitting
            ? { kind: "quit" }
            : { kind: "lost", reason: "the server closed the connection" };
        }
        let text = decoder.write(data);
        if (cutting) {
          // The rest of a line already shown cut: dropped up to its end.
          const end = text.indexOf("\n");
          if (end === -1) continue;
          text = text.slice(end + 1);
          cutting = false;
        }
        const lines = (partial + text).split(/\r?\n/);
        partial = lines.pop() as string;
        if (partial.length > MAX_SERVER_LINE) {
          // A server that never ends its line must not grow our memory: show what came,
          // say it was cut, and drop the rest of the line.
          lines.push(
            `${partial.slice(0, MAX_SERVER_LINE)} [cut: the server's line is longer than ${MAX_SERVER_LINE} characters]`,
          );
          partial = "";
          cutting = true;
        }
        for (const line of lines) {
          this.#print(line);
          const you = YOU_ARE.exec(line);
          if (you !== null) {
            learn(you[1] as string);
            nick = you[1] as string;
            mayType = true;
            wake();
          }
          const renamed = RENAMED.exec(line);
          if (renamed !== null && renamed[1] === nick) {
            nick = renamed[2] as string;
            learn(nick);
          }
        }
        // The nickname prompt: answered for the member when it was given, shown as if typed.
        if (NICK_PROMPT.test(partial)) {
          if (!nickSent) {
            nickSent = true;
            this.#print(`${partial}${nick}`);
            partial = "";
            await conn.sendall(`/nick ${nick}\n`);
          } else if (!mayType) {
            // The nickname was refused (taken): the next line typed is the nickname.
            mayType = true;
            wake();
          }
        }
        if (this.#prompt !== null) {
          // The server's unfinished line (its nickname prompt) is the prompt.
          this.#prompt.hide();
          this.#prompt.setPrompt(partial === "" ? "> " : escapeControls(partial));
          this.#prompt.show();
        }
      }
    } finally {
      this.#signal?.removeEventListener("abort", abort);
      this.#onTyped = null;
    }
  }

  /**
   * A line from the room, above the line being typed. The server's text is shown with its
   * control characters escaped (as the server does with what members send): a hostile
   * server cannot move the cursor, set the title or reorder text; only our colours act.
   */
  #print(line: string): void {
    const text = this.#paint(escapeControls(line));
    this.#prompt?.hide();
    this.#output.write(`${text}\n`);
  }

  /** Colours: nicknames by a hash of the name, notices dim, errors red, private magenta. */
  #paint(line: string): string {
    const c = this.#colors;
    if (!c.isColorSupported) return line;
    if (line.startsWith("error: ")) return c.red(line);
    if (line.startsWith("*** ")) return c.dim(line);
    // `(late)`: said on a server that was cut off from the others; dim, as the time is.
    const m =
      /^(\[[\d:]+\] (?:\(late\) )?)(\(private(?: to \S+)?\) )?(<\S+>|\* \S+|\*\*\* )(.*)$/.exec(
        line,
      );
    if (m === null) return line;
    const stamp = c.dim(m[1] as string);
    const priv = m[2] === undefined ? "" : c.magenta(m[2]);
    const who = m[3] as string;
    const rest = m[4] as string;
    if (who.startsWith("***")) return `${stamp}${c.dim(who + rest)}`;
    return `${stamp}${priv}${colorFor(c, who)(who)}${rest}`;
  }

  status(line: string): void {
    this.#prompt?.hide();
    this.#log(line);
    this.#prompt?.show();
  }

  /** Waits `seconds` before a reconnection; true when the member left meanwhile. */
  async waitOrLeave(seconds: number): Promise<boolean> {
    const left = () =>
      this.#inputEnded ||
      this.#signal?.aborted === true ||
      this.#typed.some((l) => l.trim().startsWith("/quit"));
    if (left()) return true;
    const stop = new AbortController();
    const typed = new Promise<void>((resolve) => {
      this.#onTyped = resolve;
    });
    await Promise.race([
      delay(seconds * 1000, undefined, { signal: stop.signal }).catch(() => {}),
      typed,
    ]);
    stop.abort();
    this.#onTyped = null;
    return left();
  }

  close(): void {
    this.#prompt?.dispose();
    this.#rl.close();
  }
}

const PALETTE = ["cyan", "green", "yellow", "blue", "magenta", "red"] as const;

/** The colour of a nickname: the same name always gets the same colour. */
function colorFor(
  c: ReturnType<typeof picocolors.createColors>,
  who: string,
): (text: string) => string {
  const name = who.replace(/^[<*] ?|>$/g, "");
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return c[PALETTE[hash % PALETTE.length] as (typeof PALETTE)[number]];
}
