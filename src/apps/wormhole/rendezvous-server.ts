import { randomBytes, randomInt } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { type WebSocket, WebSocketServer } from "ws";

/**
 * The rendezvous (mailbox) server of the Magic Wormhole protocol, as the
 * `magic-wormhole-protocols` repository's server-protocol.md describes it: clients bind
 * to an application id and a side, allocate or claim a short numeric nameplate that
 * points to a mailbox, open the mailbox and add phase messages to it, which the server
 * stores and fans out to every client that has it open. Everything is in memory and
 * bounded; the messages are opaque to it (the PAKE message, then ciphertext).
 * @module
 */

/** Options of {@link RendezvousServer}. Every limit has a safe default. */
export interface RendezvousServerOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Nameplates held at once, over all application ids. @default 10000 */
  maxNameplates?: number;
  /** Mailboxes held at once. @default 10000 */
  maxMailboxes?: number;
  /** Bytes of one WebSocket message from a client. @default 1048576 */
  maxMessageSize?: number;
  /** Messages one mailbox holds. @default 256 */
  maxMessagesPerMailbox?: number;
  /** Bytes of message bodies one mailbox holds. @default 4194304 */
  maxMailboxBytes?: number;
  /** WebSocket connections from one IP address at once. @default 32 */
  maxConnectionsPerAddress?: number;
  /** WebSocket connections at once. @default 1024 */
  maxConnections?: number;
  /** Seconds a connection may stay silent (no message, no WebSocket ping) before it is closed. @default 600 */
  idleTimeout?: number;
  /**
   * Seconds a nameplate or mailbox no connection has open is kept after its last use,
   * then pruned (a peer that never came, a client gone without closing). @default 3600
   */
  channelTimeout?: number;
  /** A message of the day, sent in every welcome. @default undefined */
  motd?: string;
  /** Where one-line notices go (a refused connection, a prune). @default nothing */
  log?: (line: string) => void;
}

interface StoredMessage {
  side: string;
  phase: string;
  body: string;
  id: unknown;
  server_rx: number;
}

interface Mailbox {
  id: string;
  /** Sides that opened it, and whether each has closed it since. */
  sides: Map<string, { closed: boolean }>;
  messages: StoredMessage[];
  bytes: number;
  /** Connections subscribed to it. */
  listeners: Set<Client>;
  lastUsed: number;
}

interface Nameplate {
  id: string;
  mailbox: string;
  /** Sides that claimed it and have not released it. */
  claims: Set<string>;
  /** Sides that ever claimed it: a third side is one too many. */
  seen: Set<string>;
  lastUsed: number;
}

/** The state of one application id: its nameplates and mailboxes. */
interface App {
  nameplates: Map<string, Nameplate>;
  mailboxes: Map<string, Mailbox>;
}

/** What one WebSocket connection has done: each step at most once, as the server protocol says. */
interface Client {
  ws: WebSocket;
  address: string;
  appid: string | null;
  side: string | null;
  allocated: boolean;
  claimed: string | null;
  released: boolean;
  mailbox: Mailbox | null;
  closed: boolean;
  timer: NodeJS.Timeout | null;
}

/** A client's request the server refuses: sent back as an `error` message with the request. */
class Refusal extends Error {}

const MAILBOX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

function now(): number {
  return Date.now() / 1000;
}

/**
 * The Magic Wormhole rendezvous server: a WebSocket endpoint at `/v1` that `wormhole
 * --relay-url ws://HOST:PORT/v1` and socketkit's own client talk to. Bounded in every
 * dimension ({@link RendezvousServerOptions}); a request it refuses gets an `error`
 * message and never ends the server.
 *
 * @example
 * ```ts
 * import { RendezvousServer } from "./rendezvous-server.ts";
 * const server = await RendezvousServer.listen({ port: 4000 });
 * console.log(server.url); // ws://127.0.0.1:4000/v1
 * await server.close();
 * ```
 */
export class RendezvousServer {
  readonly #wss: WebSocketServer;
  readonly #options: Required<Omit<RendezvousServerOptions, "motd" | "log">> &
    Pick<RendezvousServerOptions, "motd" | "log">;
  readonly #apps = new Map<string, App>();
  readonly #perAddress = new Map<string, number>();
  readonly #clients = new Set<Client>();
  #nameplates = 0;
  #mailboxes = 0;
  readonly #pruner: NodeJS.Timeout;

  private constructor(wss: WebSocketServer, options: RendezvousServerOptions) {
    this.#wss = wss;
    this.#options = {
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      maxNameplates: options.maxNameplates ?? 10000,
      maxMailboxes: options.maxMailboxes ?? 10000,
      maxMessageSize: options.maxMessageSize ?? 1024 * 1024,
      maxMessagesPerMailbox: options.maxMessagesPerMailbox ?? 256,
      maxMailboxBytes: options.maxMailboxBytes ?? 4 * 1024 * 1024,
      maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 32,
      maxConnections: options.maxConnections ?? 1024,
      idleTimeout: options.idleTimeout ?? 600,
      channelTimeout: options.channelTimeout ?? 3600,
      motd: options.motd,
      log: options.log,
    };
    wss.on("connection", (ws, request) => this.#accept(ws, request));
    // A client's socket errors are its own; the server's are reported and survived.
    wss.on("error", (err) => this.#options.log?.(`rendezvous server: ${err.message}`));
    const every = Math.max(0.05, Math.min(60, this.#options.channelTimeout / 4));
    this.#pruner = setInterval(() => this.#prune(), every * 1000);
    this.#pruner.unref();
  }

  /** Binds and starts accepting; resolves once it listens. */
  static async listen(options: RendezvousServerOptions = {}): Promise<RendezvousServer> {
    const wss = new WebSocketServer({
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      path: "/v1",
      maxPayload: options.maxMessageSize ?? 1024 * 1024,
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    return new RendezvousServer(wss, options);
  }

  /** The bound address, `[host, port]`. */
  get address(): [string, number] {
    const a = this.#wss.address();
    if (a === null || typeof a === "string") return [String(a), 0];
    return [a.address, a.port];
  }

  /** The URL clients give as `--relay-url`. */
  get url(): string {
    const [host, port] = this.address;
    return `ws://${host.includes(":") ? `[${host}]` : host}:${port}/v1`;
  }

  /** Nameplates and mailboxes held now (for tests and monitoring). */
  get counts(): { nameplates: number; mailboxes: number; connections: number } {
    return {
      nameplates: this.#nameplates,
      mailboxes: this.#mailboxes,
      connections: this.#clients.size,
    };
  }

  /** The nameplates of an application id in use now. */
  nameplatesOf(appid: string): string[] {
    return [...(this.#apps.get(appid)?.nameplates.keys() ?? [])];
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    clearInterval(this.#pruner);
    for (const client of this.#clients) client.ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #accept(ws: WebSocket, request: IncomingMessage): void {
    const address = request.socket.remoteAddress ?? "?";
    const held = this.#perAddress.get(address) ?? 0;
    ws.on("error", () => {}); // a peer gone mid-frame: the close below cleans up
    if (this.#clients.size >= this.#options.maxConnections) {
      this.#options.log?.(`refused ${address}: ${this.#options.maxConnections} connections open`);
      ws.close(1013, "server full");
      return;
    }
    if (held >= this.#options.maxConnectionsPerAddress) {
      this.#options.log?.(
        `refused ${address}: ${held} connections from it open (--max-conns-per-address)`,
      );
      ws.close(1013, "too many connections from your address");
      return;
    }
    this.#perAddress.set(address, held + 1);
    const client: Client = {
      ws,
      address,
      appid: null,
      side: null,
      allocated: false,
      claimed: null,
      released: false,
      mailbox: null,
      closed: false,
      timer: null,
    };
    this.#clients.add(client);
    this.#touch(client);
    ws.on("ping", () => this.#touch(client));
    ws.on("message", (data, isBinary) => this.#receive(client, data as Buffer, isBinary));
    ws.on("close", () => this.#gone(client));
    const welcome: Record<string, unknown> = {};
    if (this.#options.motd !== undefined) welcome.motd = this.#options.motd;
    this.#send(client, { type: "welcome", welcome });
  }

  #touch(client: Client): void {
    if (client.timer !== null) clearTimeout(client.timer);
    client.timer = setTimeout(() => {
      client.ws.close(1000, "idle");
      // A peer that ignores the close frame goes too.
      setTimeout(() => client.ws.terminate(), 1000).unref();
    }, this.#options.idleTimeout * 1000);
    client.timer.unref();
  }

  #gone(client: Client): void {
    if (!this.#clients.delete(client)) return;
    if (client.timer !== null) clearTimeout(client.timer);
    const n = (this.#perAddress.get(client.address) ?? 1) - 1;
    if (n <= 0) this.#perAddress.delete(client.address);
    else this.#perAddress.set(client.address, n);
    // Its claims and open mailbox stay: the protocol lets a client reconnect and go on.
    // Unused, they are pruned after channelTimeout.
    if (client.mailbox !== null) {
      client.mailbox.listeners.delete(client);
      client.mailbox.lastUsed = Date.now();
    }
  }

  #send(client: Client, message: Record<string, unknown>): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    // Text frames: the Python client asserts that no frame is binary.
    client.ws.send(JSON.stringify({ ...message, server_tx: now() }));
  }

  #receive(client: Client, data: Buffer, _isBinary: boolean): void {
    this.#touch(client);
    let message: unknown;
    try {
      message = JSON.parse(data.toString("utf8"));
    } catch {
      this.#send(client, { type: "error", error: "Cannot parse the message: not JSON", orig: {} });
      return;
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.#send(client, {
        type: "error",
        error: "Cannot handle a message that is not an object",
        orig: message,
      });
      return;
    }
    const m = message as Record<string, unknown>;
    const serverRx = now();
    if ("id" in m) this.#send(client, { type: "ack", id: m.id });
    try {
      this.#handle(client, m, serverRx);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.#send(client, { type: "error", error: err.message, orig: m });
    }
  }

  #handle(client: Client, m: Record<string, unknown>, serverRx: number): void {
    const type = m.type;
    if (type === "ping") {
      this.#send(client, { type: "pong", pong: m.ping, id: m.id, server_rx: serverRx });
      return;
    }
    if (type === "bind") {
      this.#bind(client, m);
      return;
    }
    if (type === "submit-permissions") return; // none needed here
    const app = this.#appOf(client);
    switch (type) {
      case "list":
        this.#send(client, {
          type: "nameplates",
          nameplates: [...app.nameplates.keys()].map((id) => ({ id })),
          id: m.id,
          server_rx: serverRx,
        });
        return;
      case "allocate":
        this.#allocate(client, app, m, serverRx);
        return;
      case "claim":
        this.#claim(client, app, m, serverRx);
        return;
      case "release":
        this.#release(client, app, m, serverRx);
        return;
      case "open":
        this.#open(client, app, m);
        return;
      case "add":
        this.#add(client, m, serverRx);
        return;
      case "close":
        this.#close(client, app, m, serverRx);
        return;
      default:
        throw new Refusal(`unknown type ${JSON.stringify(type)}`);
    }
  }

  #bind(client: Client, m: Record<string, unknown>): void {
    if (client.appid !== null) throw new Refusal("already bound");
    if (typeof m.appid !== "string" || m.appid.length === 0 || m.appid.length > 256)
      throw new Refusal("bind requires 'appid' (a string of 1 to 256 characters)");
    if (typeof m.side !== "string" || m.side.length === 0 || m.side.length > 64)
      throw new Refusal("bind requires 'side' (a string of 1 to 64 characters)");
    client.appid = m.appid;
    client.side = m.side;
  }

  #appOf(client: Client): App {
    if (client.appid === null) throw new Refusal("must bind first");
    let app = this.#apps.get(client.appid);
    if (app === undefined) {
      app = { nameplates: new Map(), mailboxes: new Map() };
      this.#apps.set(client.appid, app);
    }
    return app;
  }

  #allocate(client: Client, app: App, m: Record<string, unknown>, serverRx: number): void {
    if (client.allocated) throw new Refusal("you already allocated one, don't be greedy");
    const id = this.#freeNameplate(app);
    this.#takeNameplate(client, app, id);
    client.allocated = true;
    this.#send(client, { type: "allocated", nameplate: id, id: m.id, server_rx: serverRx });
  }

  /** A free nameplate as short as can be: random among 1-9, else 10-99, and so on. */
  #freeNameplate(app: App): string {
    if (this.#nameplates >= this.#options.maxNameplates)
      throw new Refusal("Cannot allocate a nameplate: the server holds as many as it may");
    for (let low = 1; low < 1e9; low *= 10) {
      const high = low * 10;
      const span = high - low;
      if (app.nameplates.size >= high) continue;
      // Random tries first; a crowded range is scanned for what is left.
      for (let i = 0; i < 8; i++) {
        const id = String(low === 1 ? randomInt(1, 10) : randomInt(low, high));
        if (!app.nameplates.has(id)) return id;
      }
      if (span <= 100000) {
        const free: string[] = [];
        for (let n = low; n < high; n++) if (!app.nameplates.has(String(n))) free.push(String(n));
        if (free.length > 0) return free[randomInt(free.length)] as string;
      }
    }
    throw new Refusal("Cannot allocate a nameplate: none free");
  }

  /** Claims nameplate `id` for the client's side, making it (and its mailbox id) if new. */
  #takeNameplate(client: Client, app: App, id: string): Nameplate {
    const side = client.side as string;
    let plate = app.nameplates.get(id);
    if (plate === undefined) {
      if (this.#nameplates >= this.#options.maxNameplates)
        throw new Refusal("Cannot claim a nameplate: the server holds as many as it may");
      plate = {
        id,
        mailbox: this.#newMailboxId(app),
        claims: new Set(),
        seen: new Set(),
        lastUsed: Date.now(),
      };
      app.nameplates.set(id, plate);
      this.#nameplates++;
    }
    if (!plate.seen.has(side) && plate.seen.size >= 2) throw new Refusal("crowded");
    plate.seen.add(side);
    plate.claims.add(side);
    plate.lastUsed = Date.now();
    return plate;
  }

  #newMailboxId(app: App): string {
    for (;;) {
      const bytes = randomBytes(13);
      let id = "";
      for (const b of bytes) id += MAILBOX_ALPHABET[b & 31];
      if (!app.mailboxes.has(id)) return id;
    }
  }

  #claim(client: Client, app: App, m: Record<string, unknown>, serverRx: number): void {
    if (typeof m.nameplate !== "string" || !/^\d{1,9}$/.test(m.nameplate))
      throw new Refusal("claim requires 'nameplate' (digits)");
    if (client.claimed !== null) throw new Refusal("only one claim per connection");
    const plate = this.#takeNameplate(client, app, m.nameplate);
    client.claimed = plate.id;
    this.#send(client, { type: "claimed", mailbox: plate.mailbox, id: m.id, server_rx: serverRx });
  }

  #release(client: Client, app: App, m: Record<string, unknown>, serverRx: number): void {
    if (client.released) throw new Refusal("only one release per connection");
    const id = m.nameplate ?? client.claimed;
    if (typeof id !== "string") throw new Refusal("release without a nameplate");
    if (client.claimed !== null && id !== client.claimed)
      throw new Refusal("release and claim must use same nameplate");
    const plate = app.nameplates.get(id);
    if (plate !== undefined) {
      plate.claims.delete(client.side as string);
      plate.lastUsed = Date.now();
      if (plate.claims.size === 0) this.#dropNameplate(app, plate);
    }
    client.released = true;
    this.#send(client, { type: "released", id: m.id, server_rx: serverRx });
  }

  #dropNameplate(app: App, plate: Nameplate): void {
    if (app.nameplates.get(plate.id) !== plate) return;
    app.nameplates.delete(plate.id);
    this.#nameplates--;
  }

  #open(client: Client, app: App, m: Record<string, unknown>): void {
    if (typeof m.mailbox !== "string" || !/^[a-z2-7]{1,64}$/.test(m.mailbox))
      throw new Refusal("open requires 'mailbox'");
    if (client.mailbox !== null) throw new Refusal("only one open per connection");
    const side = client.side as string;
    let box = app.mailboxes.get(m.mailbox);
    if (box === undefined) {
      if (this.#mailboxes >= this.#options.maxMailboxes)
        throw new Refusal("Cannot open a mailbox: the server holds as many as it may");
      box = {
        id: m.mailbox,
        sides: new Map(),
        messages: [],
        bytes: 0,
        listeners: new Set(),
        lastUsed: Date.now(),
      };
      app.mailboxes.set(box.id, box);
      this.#mailboxes++;
    }
    if (!box.sides.has(side) && box.sides.size >= 2) throw new Refusal("crowded");
    if (!box.sides.has(side)) box.sides.set(side, { closed: false });
    box.listeners.add(client);
    box.lastUsed = Date.now();
    client.mailbox = box;
    for (const stored of box.messages) this.#send(client, { type: "message", ...stored });
  }

  #add(client: Client, m: Record<string, unknown>, serverRx: number): void {
    const box = client.mailbox;
    if (box === null || client.closed) throw new Refusal("must open mailbox before adding");
    if (typeof m.phase !== "string" || m.phase.length === 0 || m.phase.length > 64)
      throw new Refusal("missing 'phase'");
    if (typeof m.body !== "string" || !/^(?:[0-9a-fA-F]{2})*$/.test(m.body))
      throw new Refusal("missing 'body' (hex)");
    if (box.messages.length >= this.#options.maxMessagesPerMailbox)
      throw new Refusal(
        `Cannot add a message: the mailbox holds ${box.messages.length}, as many as it may`,
      );
    const size = m.body.length / 2;
    if (box.bytes + size > this.#options.maxMailboxBytes)
      throw new Refusal(`Cannot add a message of ${size} bytes: the mailbox would be too large`);
    const stored: StoredMessage = {
      side: client.side as string,
      phase: m.phase,
      body: m.body,
      id: m.id,
      server_rx: serverRx,
    };
    box.messages.push(stored);
    box.bytes += size;
    box.lastUsed = Date.now();
    for (const listener of box.listeners) this.#send(listener, { type: "message", ...stored });
  }

  #close(client: Client, app: App, m: Record<string, unknown>, serverRx: number): void {
    if (client.closed) throw new Refusal("only one close per connection");
    const id = m.mailbox ?? client.mailbox?.id;
    if (typeof id !== "string") throw new Refusal("close without a mailbox");
    if (client.mailbox !== null && client.mailbox.id !== id)
      throw new Refusal("open and close must use same mailbox");
    const box = app.mailboxes.get(id);
    if (box !== undefined) {
      box.listeners.delete(client);
      const mine = box.sides.get(client.side as string);
      if (mine !== undefined) mine.closed = true;
      box.lastUsed = Date.now();
      if ([...box.sides.values()].every((s) => s.closed)) this.#dropMailbox(app, box);
    }
    client.closed = true;
    this.#send(client, { type: "closed", id: m.id, server_rx: serverRx });
  }

  #dropMailbox(app: App, box: Mailbox): void {
    if (app.mailboxes.get(box.id) !== box) return;
    app.mailboxes.delete(box.id);
    this.#mailboxes--;
    // Its nameplate, if still claimed by someone gone, has nothing left to point to.
    for (const plate of app.nameplates.values()) {
      if (plate.mailbox === box.id) this.#dropNameplate(app, plate);
    }
  }

  /** Drops what nobody has used for channelTimeout and no connection has open. */
  #prune(): void {
    const before = Date.now() - this.#options.channelTimeout * 1000;
    for (const [appid, app] of this.#apps) {
      for (const box of app.mailboxes.values()) {
        if (box.listeners.size === 0 && box.lastUsed <= before) this.#dropMailbox(app, box);
      }
      for (const plate of app.nameplates.values()) {
        const box = app.mailboxes.get(plate.mailbox);
        const live = box !== undefined && box.listeners.size > 0;
        if (!live && plate.lastUsed <= before) this.#dropNameplate(app, plate);
      }
      if (app.nameplates.size === 0 && app.mailboxes.size === 0) this.#apps.delete(appid);
    }
  }
}
