import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { isIP, type Socket as NetSocket } from "node:net";
import type { TlsOptions } from "node:tls";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { formatAddress } from "../../core/address.ts";
import { BoundedLog } from "../../core/bounded-log.ts";
import { AccessGate } from "../../server/access-gate.ts";
import { loopLastFree } from "./loop-clock.ts";
import type { ChatRoom, Member, MemberLink } from "./room.ts";

/** Options of {@link ChatWebServer}. */
export interface ChatWebServerOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 8080 */
  port?: number;
  /** Serve https and wss with this certificate and key. @default undefined (http, ws) */
  tls?: TlsOptions;
  /**
   * Origins (`https://chat.example.org`) whose pages may open the WebSocket besides the
   * server's own. @default [] (same origin only)
   */
  origins?: readonly string[];
  /** Connections (page loads and WebSockets) at once from one IP address. @default 16 */
  maxPerAddress?: number;
  /** Connections at once in all. @default 10100 */
  maxConnections?: number;
  /** IPv4/IPv6 addresses and CIDR ranges of the only peers let in. @default every peer */
  allow?: readonly string[];
  /** Addresses and CIDR ranges refused, whatever `allow` says. @default none */
  deny?: readonly string[];
  /** Longest line (WebSocket message) a member may send, in bytes. @default 1024 */
  maxLineLength?: number;
  /** Bytes queued for a member that is not reading before it is disconnected. @default 262144 */
  outboxLimit?: number;
  /** Seconds a WebSocket may go with no message either way before it is closed (null: never). @default 3600 */
  idleTimeout?: number | null;
  /** Where the server's events go. @default nothing */
  log?: (line: string) => void;
}

/** One file of the page, as it is served. */
interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The page's files, in the package beside `dist/` (and `src/`): `web/chat/`. */
const ASSETS_DIR = new URL("../../../web/chat/", import.meta.url);

const ASSET_FILES: Record<string, [file: string, type: string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/chat.css": ["chat.css", "text/css; charset=utf-8"],
  "/chat.js": ["chat.js", "text/javascript; charset=utf-8"],
  "/text.js": ["text.js", "text/javascript; charset=utf-8"],
};

/**
 * Nothing but the server's own files: no inline script or style, no other site, no
 * frames, no forms posted anywhere; the WebSocket back to the same host (`'self'` covers
 * ws: and wss: of the page's own host and port).
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** How long a WebSocket being closed may take to take its goodbye (ms). */
const CLOSE_GRACE_MS = 5000;

/**
 * The chat's web side: one page at `/` (plain HTML, CSS and a module script from
 * `web/chat/`, cached by ETag, under a strict Content-Security-Policy) and a WebSocket at
 * `/ws` whose members join the same {@link ChatRoom} as the TCP ones, under the same rules:
 * each text message is a line, each line the room sends is a text message.
 *
 * Limits: a message over the line limit closes the connection (`maxPayload`); a member
 * whose unsent bytes (`bufferedAmount`) pass `outboxLimit` is disconnected as a full queue
 * is; idle connections are closed; a page from another origin cannot open the WebSocket
 * (a browser's `Origin`), nor can a page reached by another name when the server is on
 * loopback (DNS rebinding); connections per address are capped; `allow`/`deny` apply.
 *
 * @example
 * ```ts
 * import { ChatRoom, ChatWebServer } from "./index.ts";
 * const room = new ChatRoom();
 * const web = await ChatWebServer.create(room, { port: 8080 });
 * console.log(web.url); // http://127.0.0.1:8080/
 * await web.close();
 * ```
 */
export class ChatWebServer {
  readonly #room: ChatRoom;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #assets: Map<string, Asset>;
  readonly #gate: AccessGate | null;
  readonly #capLog: BoundedLog;
  readonly #origins: Set<string>;
  readonly #loopback: boolean;
  readonly #secure: boolean;
  readonly #maxPerAddress: number;
  readonly #maxLineLength: number;
  readonly #outboxLimit: number;
  readonly #idleTimeout: number | null;
  readonly #log: (line: string) => void;
  /** Connections per peer address. */
  readonly #perAddress = new Map<string, number>();
  readonly #sockets = new Set<NetSocket>();
  readonly #members = new Set<WebSocket>();

  private constructor(
    room: ChatRoom,
    assets: Map<string, Asset>,
    host: string,
    options: ChatWebServerOptions,
  ) {
    this.#room = room;
    this.#assets = assets;
    this.#log = options.log ?? (() => {});
    this.#secure = options.tls !== undefined;
    this.#origins = new Set((options.origins ?? []).map(normalizeOrigin));
    this.#loopback = isLoopbackHost(host);
    this.#maxPerAddress = options.maxPerAddress ?? 16;
    this.#maxLineLength = options.maxLineLength ?? 1024;
    this.#outboxLimit = options.outboxLimit ?? 256 * 1024;
    this.#idleTimeout = options.idleTimeout === undefined ? 3600 : options.idleTimeout;
    this.#gate = AccessGate.create(
      { allow: options.allow, deny: options.deny },
      { log: this.#log },
    );
    this.#capLog = new BoundedLog({
      log: this.#log,
      summary: (n) =>
        `refused ${n} more connections over the cap per address (not logged one by one)`,
    });
    this.#server = options.tls === undefined ? createHttpServer() : createHttpsServer(options.tls);
    this.#server.maxConnections = options.maxConnections ?? 10_100;
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#maxLineLength,
      perMessageDeflate: false,
      clientTracking: false,
    });
    // With TLS too, a connection is checked and counted as its TCP connection comes in.
    this.#server.on("connection", (socket: NetSocket) => this.#admit(socket));
    this.#server.on("request", (req, res) => this.#request(req, res));
    this.#server.on("upgrade", (req, socket: NetSocket, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    this.#server.on("clientError", (_err, socket: NetSocket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      socket.destroy();
    });
    this.#server.on("tlsClientError", () => {});
  }

  /**
   * Reads the page's files and listens. Fails, with the server not listening, when the
   * port cannot be bound or the files cannot be read.
   */
  static async create(room: ChatRoom, options: ChatWebServerOptions = {}): Promise<ChatWebServer> {
    const host = options.host ?? "127.0.0.1";
    const assets = await loadAssets(options.maxLineLength ?? 1024);
    const web = new ChatWebServer(room, assets, host, options);
    await new Promise<void>((resolve, reject) => {
      web.#server.once("error", reject);
      web.#server.listen({ host, port: options.port ?? 8080 }, () => {
        web.#server.off("error", reject);
        resolve();
      });
    });
    web.#server.on("error", (err) => web.#log(`web server: ${err.message}`));
    return web;
  }

  /** The bound address. */
  get address(): [string, number] {
    const bound = this.#server.address();
    if (bound === null || typeof bound === "string")
      throw new Error("Cannot tell the address: not listening");
    return [bound.address, bound.port];
  }

  /** The page's address (`http://HOST:PORT/`, `https://` with TLS). */
  get url(): string {
    return `${this.#secure ? "https" : "http"}://${formatAddress(this.address)}/`;
  }

  /** WebSocket members connected now. */
  get members(): number {
    return this.#members.size;
  }

  /**
   * Stops listening and closes every connection: WebSockets get what the room queued for
   * them (its goodbye) for a few seconds; idle page connections close at once.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const members = [...this.#members];
    await Promise.race([
      Promise.all(
        members.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) resolve();
              else ws.once("close", () => resolve());
            }),
        ),
      ),
      new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
    ]);
    for (const ws of this.#members) ws.terminate();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    this.#gate?.close();
    this.#capLog.close();
  }

  /** A TCP connection: allowed, and under the caps, or closed at once. */
  #admit(socket: NetSocket): void {
    const host = socket.remoteAddress ?? "";
    socket.on("error", () => {});
    if (this.#gate !== null && !this.#gate.admits([host, socket.remotePort ?? 0])) {
      socket.destroy();
      return;
    }
    const count = this.#perAddress.get(host) ?? 0;
    if (count >= this.#maxPerAddress) {
      this.#capLog.note(
        host,
        `refused ${formatAddress([host, socket.remotePort ?? 0])} (over ${this.#maxPerAddress} connections from one address)`,
      );
      socket.destroy();
      return;
    }
    this.#perAddress.set(host, count + 1);
    this.#sockets.add(socket);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      const left = (this.#perAddress.get(host) ?? 1) - 1;
      if (left <= 0) this.#perAddress.delete(host);
      else this.#perAddress.set(host, left);
    });
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      res.end("Method not allowed\n");
      return;
    }
    if (path === "/ws") {
      res.writeHead(426, { upgrade: "websocket", "content-type": "text/plain; charset=utf-8" });
      res.end("The chat's WebSocket: connect with a WebSocket client\n");
      return;
    }
    const asset = this.#assets.get(path);
    if (path === "/favicon.ico") {
      // No icon, and no error in the browser's console for it.
      res.writeHead(204, SECURITY_HEADERS);
      res.end();
      return;
    }
    if (asset === undefined) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS });
      res.end("Not found\n");
      return;
    }
    const headers = {
      "content-type": asset.type,
      etag: asset.etag,
      // Kept, and asked again each time: a 304 when it has not changed.
      "cache-control": "no-cache",
      ...SECURITY_HEADERS,
    };
    if (etagMatches(req.headers["if-none-match"], asset.etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, "content-length": asset.body.length });
    res.end(req.method === "HEAD" ? undefined : asset.body);
  }

  #upgrade(req: IncomingMessage, socket: NetSocket, head: Buffer): void {
    if (pathOf(req.url) !== "/ws") {
      refuseUpgrade(socket, 404, "Not Found");
      return;
    }
    const problem = this.#originProblem(req);
    if (problem !== null) {
      this.#log(
        `refused a WebSocket from ${formatAddress([socket.remoteAddress ?? "", socket.remotePort ?? 0])}: ${problem}`,
      );
      refuseUpgrade(socket, 403, "Forbidden");
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const host = socket.remoteAddress ?? "";
      this.#member(ws, socket, formatAddress([host, socket.remotePort ?? 0]), host);
    });
  }

  /**
   * Why a browser's page may not open the WebSocket, or null: its `Origin` is the server's
   * own (the `Host` it was reached by) or one of `origins`. A client that sends no `Origin`
   * is not a browser page, which the check is for, and is let in. On loopback, the `Host`
   * must be a loopback name too, so that a page whose name was pointed at 127.0.0.1 (DNS
   * rebinding) is not taken for the server's own.
   */
  #originProblem(req: IncomingMessage): string | null {
    const origin = req.headers.origin;
    if (origin === undefined) return null;
    if (this.#origins.has(origin.toLowerCase())) return null;
    const host = (req.headers.host ?? "").toLowerCase();
    const own = `${this.#secure ? "https" : "http"}://${host}`;
    if (origin.toLowerCase() !== own) return `origin ${JSON.stringify(origin)} is not ${own}`;
    if (this.#loopback && !isLoopbackHost(hostnameOf(host))) {
      return `host ${JSON.stringify(host)} is not a loopback name`;
    }
    return null;
  }

  /** A WebSocket member: joined to the room as a TCP connection is, and left however it ends. */
  #member(ws: WebSocket, socket: NetSocket, address: string, host: string): void {
    this.#members.add(ws);
    let reason = "connection closed";
    let idle: NodeJS.Timeout | null = null;
    const seconds = this.#idleTimeout;
    if (seconds !== null) {
      idle = setTimeout(() => {
        reason = `idle for ${seconds} s`;
        ws.terminate();
      }, seconds * 1000);
    }
    const outboxLimit = this.#outboxLimit;
    // What the room sends in one turn of the event loop leaves at its end in one write:
    // one text message a line, as ever, each line framed once for every member it goes to.
    let queued: Buffer[] = [];
    let queuedBytes = 0;
    const eager = Math.min(EAGER_BYTES, outboxLimit / 2);
    const sendQueued = (): void => {
      const out = queued;
      queued = [];
      queuedBytes = 0;
      if (out.length === 0 || ws.readyState !== WebSocket.OPEN || socket.destroyed) return;
      socket.write(
        out.length === 1 ? textFrames(out[0] as Buffer) : Buffer.concat(out.map(textFrames)),
      );
    };
    const link: MemberLink = {
      address,
      host,
      send: (data) => {
        if (ws.readyState !== WebSocket.OPEN) return true;
        if (ws.bufferedAmount + queuedBytes + data.length > outboxLimit) return false;
        if (queued.length === 0) atTurnEnd(sendQueued);
        queued.push(data);
        queuedBytes += data.length;
        // A turn with much for the member writes as it goes: one that reads is never taken
        // for one that does not because one turn had more than the limit for it.
        if (queuedBytes >= eager) sendQueued();
        idle?.refresh();
        return true;
      },
      close: (flush) => {
        if (!flush) {
          queued = [];
          ws.terminate();
          return;
        }
        // The close frame goes after what is queued (the goodbye); a peer that does not
        // take it within a few seconds is cut.
        sendQueued();
        ws.close(1000);
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      },
    };
    ws.on("error", (err: Error & { code?: string }) => {
      reason =
        err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
          ? `disconnected: a line longer than ${this.#maxLineLength} bytes`
          : err.message;
    });
    const member: Member | null = this.#room.join(link);
    ws.on("close", () => {
      if (idle !== null) clearTimeout(idle);
      this.#members.delete(ws);
      if (member !== null) this.#room.leave(member, reason);
    });
    if (member === null) return;
    // Lines are counted against the rate by when they may have arrived, as a TCP member's
    // are: the messages read in one turn of the event loop are handed over together,
    // spread from the later of the previous turn and the last time the server was free to
    // read (a server busy for seconds does not make them one burst), to now.
    let pending: Buffer[] = [];
    let lastTurn = performance.now();
    const handOver = (): void => {
      const lines = pending;
      pending = [];
      const now = performance.now();
      const since = Math.min(now, Math.max(lastTurn, loopLastFree()));
      lastTurn = now;
      const step = (now - since) / Math.max(1, lines.length);
      for (let i = 0; i < lines.length && !member.gone; i++) {
        this.#room.line(member, lines[i] as Buffer, since + step * (i + 1));
      }
    };
    ws.on("message", (data: RawData) => {
      idle?.refresh();
      if (member.gone) return;
      if (pending.length === 0) setImmediate(handOver);
      for (const line of splitLines(toBuffer(data))) pending.push(line);
    });
  }
}

/** What a turn may queue for a member before it is written without waiting for the turn's end. */
const EAGER_BYTES = 64 * 1024;

/** Members' sends waiting for the end of the turn, and whether that is scheduled. */
let turnEnd: (() => void)[] = [];
let turnEndScheduled = false;

/** Runs `fn` once the current turn of the event loop is over (after its reads). */
function atTurnEnd(fn: () => void): void {
  turnEnd.push(fn);
  if (turnEndScheduled) return;
  turnEndScheduled = true;
  setImmediate(() => {
    turnEndScheduled = false;
    const due = turnEnd;
    turnEnd = [];
    for (const f of due) f();
  });
}

/** The frames of each Buffer the room sends, made once however many members it goes to. */
const framed = new WeakMap<Buffer, Buffer>();

/**
 * The lines of `data` (CRLF-ended, maybe with an unfinished prompt after) as WebSocket text
 * messages, one a line: unmasked frames (RFC 6455, server to client, no extensions), written
 * straight to the socket, after which ws's own frames (ping, close) still come in order.
 */
function textFrames(data: Buffer): Buffer {
  let frames = framed.get(data);
  if (frames !== undefined) return frames;
  const lines: [number, number][] = [];
  let size = 0;
  const add = (start: number, end: number) => {
    const n = end - start;
    lines.push([start, end]);
    size += n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
  };
  let start = 0;
  for (let end = data.indexOf("\r\n", start); end !== -1; end = data.indexOf("\r\n", start)) {
    add(start, end);
    start = end + 2;
  }
  if (start < data.length) add(start, data.length);
  frames = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [from, to] of lines) {
    const n = to - from;
    frames[at++] = 0x81; // FIN, text
    if (n < 126) frames[at++] = n;
    else if (n < 65536) {
      frames[at++] = 126;
      frames.writeUInt16BE(n, at);
      at += 2;
    } else {
      frames[at++] = 127;
      frames.writeBigUInt64BE(BigInt(n), at);
      at += 8;
    }
    at += data.copy(frames, at, from, to);
  }
  framed.set(data, frames);
  return frames;
}

/** The lines of a message: one, unless it holds line ends (LF, CRLF or CR). */
function splitLines(data: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (byte !== 0x0a && byte !== 0x0d) continue;
    lines.push(data.subarray(start, i));
    if (byte === 0x0d && data[i + 1] === 0x0a) i++;
    start = i + 1;
  }
  if (start < data.length) lines.push(data.subarray(start));
  return lines;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function refuseUpgrade(socket: NetSocket, status: number, text: string): void {
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const query = raw.indexOf("?");
  return query === -1 ? raw : raw.slice(0, query);
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/** `https://Example.org:443` as a browser sends it in `Origin`: lower case, no path. */
function normalizeOrigin(origin: string): string {
  return new URL(origin).origin.toLowerCase();
}

function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/** The page's files, read once; the page is told the line limit (`%MAX_LINE%`). */
async function loadAssets(maxLineLength: number): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const [path, [file, type]] of Object.entries(ASSET_FILES)) {
    let text = await readFile(new URL(file, ASSETS_DIR), "utf8");
    if (file === "index.html") text = text.replaceAll("%MAX_LINE%", String(maxLineLength));
    const body = Buffer.from(text);
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    assets.set(path, { body, type, etag });
  }
  return assets;
}
