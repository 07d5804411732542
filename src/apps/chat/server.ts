import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { TlsOptions } from "node:tls";
import { LineSplitter } from "../../codec/line-splitter.ts";
import { TelnetFilter } from "../../codec/telnet-filter.ts";
import { allInterfacesWarning, formatAddress } from "../../core/address.ts";
import { LineTooLongError } from "../../core/errors.ts";
import { escapeControls } from "../../core/escape.ts";
import { stderrLine } from "../../core/log-budget.ts";
import { BaseRequestHandler } from "../../server/base-request-handler.ts";
import { TCPServer } from "../../server/tcp-server.ts";
import type { Socket } from "../../socket/socket.ts";
import { LineDeadline } from "../line-deadline.ts";
import { Outbox } from "../outbox.ts";
import { PromptLine } from "../prompt-line.ts";
import { loopLastFree } from "./loop-clock.ts";
import { RedisChatBus, type RedisChatBusOptions } from "./redis-chat-bus.ts";
import { RedisHostLimit } from "./redis-host-limit.ts";
import { ChatRoom, type ChatRoomOptions, type Member, type MemberLink } from "./room.ts";
import { ChatWebServer } from "./web-server.ts";

/** Options of {@link chatServe}. */
export interface ChatServeOptions extends ChatRoomOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 5000 */
  port?: number;
  /** Longest line a member may send, in bytes. @default 1024 */
  maxLineLength?: number;
  /**
   * Seconds a connection may go without a byte moving either way before it is closed;
   * also the time a line may take from its first byte (null: neither). @default 3600
   */
  idleTimeout?: number | null;
  /**
   * Bytes queued for a member that is not reading before it is disconnected. Keep it above
   * what one read of a sender can make (64 KiB of lines), or a member that reads but gets a
   * burst could be taken for one that does not. @default 262144
   */
  outboxLimit?: number;
  /**
   * The operator takes part under this nickname: lines from `input` are their messages
   * (commands included) and the room's traffic goes to `output`. @default undefined
   */
  nick?: string;
  /** The operator's typing. @default process.stdin */
  input?: Readable;
  /** The operator's view of the room. @default process.stdout */
  output?: Writable;
  /**
   * The operator is on a terminal: a prompt, with the room's lines and the log above it.
   * @default false
   */
  interactive?: boolean;
  /** Stops the server when aborted (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  /** Called with the bound address once the server accepts connections. */
  onListening?: (address: [string, number]) => void;
  /**
   * IPv4 and IPv6 addresses and CIDR ranges (comma-separated within a string) of the only
   * peers let in; others are closed at once and logged once per host.
   * @default undefined (every peer)
   */
  allow?: readonly string[];
  /** Addresses and CIDR ranges of peers refused, whatever `allow` says. @default undefined */
  deny?: readonly string[];
  /**
   * Share the rooms with every other server on this Redis (`redis://[:PASSWORD@]HOST:PORT[/DB]`,
   * `rediss://` for TLS; `redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER` for the master
   * Sentinels name, `redis-cluster://HOST:PORT[,HOST:PORT...]` for a Redis Cluster):
   * a {@link RedisChatBus}, unless `bus` is given, and `maxPerHost`
   * counted over every server (a {@link RedisHostLimit}), unless `hostLimit` is given.
   * Fails at start, with a one-line message, when Redis cannot be reached.
   * @default undefined (this process only)
   */
  redis?: string;
  /** Settings of the Redis bus (lease, catch-up window, stream length). @default {} */
  redisOptions?: RedisChatBusOptions;
  /**
   * Also serve the chat's web page and its WebSocket on this port (0 picks a free one), on
   * `host`: browser members are members like any other. @default undefined (no web page)
   */
  webPort?: number;
  /** Serve the page over https (and the WebSocket over wss) with these options. @default undefined */
  webTls?: TlsOptions;
  /** Origins besides the page's own whose pages may open the WebSocket. @default [] */
  webOrigins?: readonly string[];
  /** Web connections at once from one IP address. @default 16 */
  webMaxPerAddress?: number;
  /** Called with the page's address once the web server listens. */
  onWebListening?: (url: string) => void;
}

/**
 * Runs a chat room on TCP until the signal aborts: what `socketkit chat serve` does.
 * telnet, nc, ncat and the tutorials' Python clients can join with no client software:
 * the first line is the nickname, then every line is a message or a command (`/help`).
 *
 * @example
 * ```ts
 * import { chatServe } from "./server.ts";
 * await chatServe({ port: 5000, history: 50, signal: AbortSignal.timeout(3_600_000) });
 * ```
 */
export async function chatServe(options: ChatServeOptions = {}): Promise<void> {
  const write = options.log ?? stderrLine;
  /** The operator's terminal, when the operator takes part (their prompt stays below the log). */
  const operator =
    options.nick !== undefined
      ? new OperatorConsole(
          options.input ?? process.stdin,
          options.output ?? process.stdout,
          options.interactive === true,
        )
      : null;
  const log = (line: string) => (operator === null ? write(line) : operator.log(line, write));
  const host = options.host ?? "127.0.0.1";
  const maxLineLength = options.maxLineLength ?? 1024;
  const outboxLimit = options.outboxLimit ?? 256 * 1024;
  const bus =
    options.bus ??
    (options.redis === undefined
      ? undefined
      : new RedisChatBus(options.redis, {
          quietAbove: options.quietAbove,
          log,
          ...options.redisOptions,
        }));
  const shared =
    options.hostLimit !== undefined || options.redis === undefined
      ? null
      : new RedisHostLimit(options.redis, {
          max: options.maxPerHost,
          prefix: options.redisOptions?.prefix,
          lease: options.redisOptions?.lease,
          log,
        });
  const room = new ChatRoom({
    ...options,
    bus,
    hostLimit: options.hostLimit ?? shared ?? undefined,
    log,
  });
  // The first room open (and, with a shared bus, its state reached) before anyone comes.
  try {
    await room.ready;
    // Redis answers (the bus reached it): the count is shared from the first connection.
    await shared?.start();
  } catch (err) {
    await room.stop();
    throw err;
  }
  const idleTimeout = options.idleTimeout === undefined ? 3600 : options.idleTimeout;

  class ChatHandler extends BaseRequestHandler {
    override async handle(): Promise<void> {
      const [host] = this.clientAddress as [string, number];
      await serveMember(room, this.request, formatAddress(this.clientAddress), host, {
        maxLineLength,
        outboxLimit,
        lineSeconds: idleTimeout,
      });
    }
  }

  let server: TCPServer;
  try {
    server = await TCPServer.create([host, options.port ?? 5000], ChatHandler, {
      log,
      gracePeriod: 2,
      requestQueueSize: 1024,
      // The room tells members over its limit that it is full; this is the hard cap.
      maxConnections: (options.maxMembers ?? 10_000) + 100,
      idleTimeout,
      allow: options.allow,
      deny: options.deny,
    });
  } catch (err) {
    await room.stop();
    throw err;
  }
  let web: ChatWebServer | null = null;
  if (options.webPort !== undefined) {
    try {
      web = await ChatWebServer.create(room, {
        host,
        port: options.webPort,
        tls: options.webTls,
        origins: options.webOrigins,
        maxPerAddress: options.webMaxPerAddress,
        maxConnections: (options.maxMembers ?? 10_000) + 100,
        allow: options.allow,
        deny: options.deny,
        maxLineLength,
        outboxLimit,
        idleTimeout,
        log,
      });
    } catch (err) {
      await server.close();
      await room.stop();
      throw err;
    }
  }
  const onAbort = () => {
    room.closeAll("The server is shutting down. Bye.");
    operator?.close();
    void server.shutdown();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const warning = allInterfacesWarning(host);
    if (warning !== null) log(warning);
    const address = server.serverAddress as [string, number];
    log(`listening on ${formatAddress(address)} (tcp)`);
    if (web !== null) log(`listening on ${web.url} (web page, WebSocket at /ws)`);
    options.onListening?.(address);
    if (web !== null) options.onWebListening?.(web.url);
    // After the start-up lines, so that the operator's prompt comes below them.
    if (options.nick !== undefined) operator?.join(room, options.nick);
    if (options.signal?.aborted) onAbort();
    await server.serveForever();
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.all([server.close(), web?.close()]);
    await room.stop();
  }
}

/** Limits for one member's connection. */
interface MemberLimits {
  maxLineLength: number;
  outboxLimit: number;
  /** Seconds a line may take from its first byte (null: no limit). */
  lineSeconds: number | null;
}

/**
 * One member over a socket: telnet's protocol bytes filtered out and answered (a telnet
 * client is asked for BINARY once it has sent a command, its timing marks are answered,
 * Ctrl-C drops the line being typed; see {@link TelnetFilter}), lines split (LF, CRLF, CR,
 * and telnet's CR NUL), over-long lines refused without being held, and the member removed
 * from the room however the connection ends.
 */
async function serveMember(
  room: ChatRoom,
  conn: Socket,
  address: string,
  host: string,
  limits: MemberLimits,
): Promise<void> {
  const outbox = new Outbox(conn, { limit: limits.outboxLimit });
  /** A close that lets the goodbye out first: the handler returns (and the server closes
   * the connection) only once it is done. */
  let closing: Promise<void> | null = null;
  const link: MemberLink = {
    address,
    host,
    send: (data) => outbox.push(data),
    close: (flush) => {
      if (!flush) void conn.close();
      // What is queued (the goodbye) goes out first, now rather than at the turn's end; a
      // peer that does not take it within a few seconds is closed anyway.
      else
        closing ??= new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            void conn.close();
            resolve();
          }, 5000);
          outbox.flush();
          void outbox.below(0).then(() => {
            clearTimeout(timer);
            if (!conn.closed) conn.shutdown(1);
            resolve();
          });
        });
    },
  };
  const member = room.join(link);
  if (member === null) return waitClosed(conn);
  const telnet = new TelnetFilter();
  const lines = new LineSplitter({ maxLineLength: limits.maxLineLength });
  const deadline = new LineDeadline(limits.lineSeconds);
  // The tutorials' clients send each message with no line end and wait for an answer: a
  // partial line is taken as complete once its sender pauses.
  let pause: NodeJS.Timeout | null = null;
  const flushPartial = () => {
    pause = null;
    deadline.reset();
    let rest: Buffer | undefined;
    try {
      rest = lines.end();
    } catch {
      // Too long: the limit is checked as bytes arrive, so this cannot happen; never crash.
      return;
    }
    if (rest !== undefined && rest.length > 0 && !member.gone) room.line(member, rest);
  };
  let reason = "connection closed";
  /** When the previous read returned: this read's bytes came in after it. */
  let lastRead = performance.now();
  try {
    for (;;) {
      const data = await conn.recv(65536);
      if (data.length === 0) break;
      const now = performance.now();
      // The bytes came in between the later of the previous read and the last time the
      // server was free to read, and now: a server busy for seconds does not make lines
      // sent over those seconds look like one burst.
      const since = Math.min(now, Math.max(lastRead, loopLastFree()));
      lastRead = now;
      if (member.gone) {
        // Leaving: what the peer still sends is drained until it closes, for a while.
        await waitClosed(conn);
        break;
      }
      const text = telnet.push(data);
      // First: telnet shows nothing after an interrupt until its timing mark is answered.
      const reply = telnet.takeReply();
      if (reply !== undefined) outbox.push(reply);
      if (telnet.cancelledLine) lines.discardPartial();
      lines.push(text);
      const ended = drain(room, member, lines, limits.maxLineLength, since, now);
      if (pause !== null) clearTimeout(pause);
      pause = lines.bufferedLength > 0 ? setTimeout(flushPartial, PAUSE_MS) : null;
      if (deadline.check(lines.midLine || telnet.midCommand, ended > 0)) {
        room.tooSlow(member, deadline.seconds as number);
      }
    }
    if (!member.gone) flushPartial();
  } catch (err) {
    if (conn.closed && member.gone) return; // we closed it (quit, slow, shutdown)
    reason =
      err instanceof Error ? err.message.replace(/^Cannot receive from \S+: /, "") : String(err);
  } finally {
    if (pause !== null) clearTimeout(pause);
    room.leave(member, reason);
    if (closing !== null) await closing;
  }
}

/** A partial line is complete when its sender pauses this long (ms). */
const PAUSE_MS = 500;

/**
 * How long a connection whose member has left may go on sending before it is closed
 * (ms): its goodbye has had time to go out.
 */
const LEAVING_MS = 5000;

/**
 * Hands every complete line to the room, their arrival spread evenly over `since` to
 * `now` (when they may have come in); returns how many there were.
 */
function drain(
  room: ChatRoom,
  member: Member,
  lines: LineSplitter,
  max: number,
  since: number,
  now: number,
): number {
  const complete: Buffer[] = [];
  for (;;) {
    let line: Buffer | undefined;
    try {
      line = lines.next();
    } catch (err) {
      if (!(err instanceof LineTooLongError)) throw err;
      room.tooLong(member, max);
      continue;
    }
    if (line === undefined) break;
    complete.push(line);
  }
  const step = (now - since) / Math.max(1, complete.length);
  for (let i = 0; i < complete.length && !member.gone; i++) {
    room.line(member, complete[i] as Buffer, since + step * (i + 1));
  }
  return complete.length;
}

/**
 * Waits until the peer closes a connection we are ending, reading what it still sends;
 * one that goes on sending is left after {@link LEAVING_MS}.
 */
async function waitClosed(conn: Socket): Promise<void> {
  const since = performance.now();
  try {
    while ((await conn.recv(65536)).length > 0) {
      if (performance.now() - since > LEAVING_MS) return;
    }
  } catch {
    // Closed or reset: either way it is over.
  }
}

/**
 * The operator's terminal as a member: typed lines in, the room's traffic out. On a
 * terminal (`interactive`) it has a prompt, and the room's lines and the server's log
 * lines print above it (the room's unfinished line, its nickname question, is the prompt
 * while it is asked); Ctrl-C there stops the server as it would without a prompt.
 * Otherwise the lines go in and out as they are.
 */
class OperatorConsole {
  readonly #input: Readable;
  readonly #output: Writable;
  readonly #interactive: boolean;
  /** Made when the operator joins: the input is not read before. */
  #rl: Interface | null = null;
  #prompt: PromptLine | null = null;
  /** The room's text after its last line end (a question waiting for an answer). */
  #partial = "";

  constructor(input: Readable, output: Writable, interactive: boolean) {
    this.#input = input;
    this.#output = output;
    this.#interactive = interactive;
  }

  /** Joins `room` under `nick`; from then on typed lines are the operator's. */
  join(room: ChatRoom, nick: string): void {
    const rl = createInterface({
      input: this.#input,
      output: this.#interactive ? this.#output : undefined,
      terminal: this.#interactive,
      prompt: "> ",
    });
    this.#rl = rl;
    this.#prompt = this.#interactive ? new PromptLine(rl, this.#output) : null;
    rl.on("SIGINT", () => process.kill(process.pid, "SIGINT"));
    const link: MemberLink = {
      address: "the server's terminal",
      send: (data) => {
        this.#show(data.toString("utf8").replace(/\r\n/g, "\n"));
        return true;
      },
      close: () => {},
    };
    const member = room.join(link) as Member;
    if (this.#prompt !== null && this.#partial !== "") {
      // The room's question for a nickname, answered for the operator: shown as if typed.
      const asked = this.#partial;
      this.#partial = "";
      this.#show(`${asked}${nick}\n`);
    }
    room.line(member, Buffer.from(`/nick ${nick}`));
    rl.on("line", (line) => {
      room.line(member, Buffer.from(line));
      this.#prompt?.show();
    });
    rl.on("close", () => room.leave(member, "quit"));
    this.#prompt?.show();
  }

  /** A log line of the server's, above the prompt. */
  log(line: string, write: (line: string) => void): void {
    this.#prompt?.hide();
    write(line);
    this.#prompt?.show();
  }

  #show(text: string): void {
    if (this.#prompt === null) {
      this.#output.write(text);
      return;
    }
    const lines = (this.#partial + text).split("\n");
    this.#partial = lines.pop() as string;
    this.#prompt.hide();
    for (const line of lines) this.#output.write(`${line}\n`);
    this.#prompt.setPrompt(this.#partial === "" ? "> " : escapeControls(this.#partial));
    this.#prompt.show();
  }

  close(): void {
    this.#prompt?.dispose();
    // The prompt's line ends, so that what the shell prints next starts a line of its own.
    if (this.#prompt !== null && !this.#prompt.closed) this.#output.write("\n");
    this.#rl?.close();
  }
}
