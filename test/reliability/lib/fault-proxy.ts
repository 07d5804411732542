/**
 * A TCP proxy for the reliability tests that does to a connection what bad networks do:
 * latency, a bandwidth limit, writes sliced into small pieces, a stall, a clean cut after
 * N bytes, a reset, and a half-open direction that loses its data. It listens on
 * 127.0.0.1 (port 0) and forwards to one target. Every fault is set per direction
 * (`upstream`: client to server, `downstream`: server to client) and can change while
 * connections run. Memory stays bounded: a direction that cannot write stops reading.
 * @module
 */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";

/** `upstream`: what the client sends to the server; `downstream`: the replies. */
export type Direction = "upstream" | "downstream";

/** The faults of one direction. Left out, a fault is off. */
export interface Faults {
  /**
   * Milliseconds each chunk is held, from its arrival, before it is forwarded; order is
   * kept (a chunk never overtakes one that arrived before it). @default 0
   */
  latency?: number;
  /** Bytes per second at most, on each connection (0: no limit). @default 0 */
  bandwidth?: number;
  /**
   * Largest write to the destination in bytes, 1 for a write per byte (0: as read).
   * @default 0
   */
  slice?: number;
  /**
   * Forward nothing (data waits, the connection stays open) until set back to false.
   * @default false
   */
  stall?: boolean;
  /**
   * Forward exactly this many bytes of the direction on each connection, then close both
   * sides cleanly (FIN); what arrives after is read and discarded. @default null
   */
  cutAfter?: number | null;
  /**
   * Forward this many bytes of the direction on each connection, then reset both sides
   * (RST). Bytes still in the kernel's buffers may be lost with the reset, as on a real
   * network. @default null
   */
  resetAfter?: number | null;
  /**
   * Read the direction's data and drop it, the connection staying open (half-open).
   * @default false
   */
  drop?: boolean;
}

/** Byte counts of one direction, over every connection. */
export interface DirectionCounters {
  /** Bytes read from the source. */
  received: number;
  /** Bytes written to the destination. */
  forwarded: number;
  /** Bytes read and thrown away (`drop`, or after a cut or a reset). */
  dropped: number;
}

/** What went through the proxy. */
export interface ProxyCounters {
  /** Connections accepted. */
  connections: number;
  /** Connections not yet closed on both sides. */
  open: number;
  upstream: DirectionCounters;
  downstream: DirectionCounters;
}

/** Options of {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /** Faults of the client-to-server direction from the start. @default {} */
  upstream?: Faults;
  /** Faults of the server-to-client direction from the start. @default {} */
  downstream?: Faults;
  /** Bytes a direction holds before it stops reading its source. @default 262144 */
  highWaterMark?: number;
}

/** The listening address. */
const LOOPBACK = "127.0.0.1";

/**
 * The proxy. Start it, point the client at `proxy.port`, change faults with `set`.
 *
 * @example
 * ```ts
 * const proxy = await FaultProxy.start(["127.0.0.1", serverPort], { upstream: { latency: 50 } });
 * proxy.set("downstream", { cutAfter: 1000 });
 * // ... connect to 127.0.0.1:proxy.port ...
 * await proxy.close();
 * ```
 */
export class FaultProxy {
  readonly target: [string, number];
  readonly counters: ProxyCounters = {
    connections: 0,
    open: 0,
    upstream: { received: 0, forwarded: 0, dropped: 0 },
    downstream: { received: 0, forwarded: 0, dropped: 0 },
  };
  readonly highWaterMark: number;
  #server: Server;
  #faults: Record<Direction, Faults>;
  #links = new Set<Link>();

  private constructor(server: Server, target: [string, number], options: FaultProxyOptions) {
    this.#server = server;
    this.target = target;
    this.highWaterMark = options.highWaterMark ?? 256 * 1024;
    this.#faults = { upstream: { ...options.upstream }, downstream: { ...options.downstream } };
    server.on("connection", (client: Socket) => this.#accept(client));
    server.on("error", () => {});
  }

  /** A proxy on 127.0.0.1, a free port, forwarding to `target` (`[host, port]`). */
  static async start(
    target: [string, number],
    options: FaultProxyOptions = {},
  ): Promise<FaultProxy> {
    const server = createServer({ allowHalfOpen: true });
    const proxy = new FaultProxy(server, target, options);
    server.listen(0, LOOPBACK);
    await once(server, "listening");
    return proxy;
  }

  /** The port the proxy listens on (on 127.0.0.1). */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** `127.0.0.1:PORT`, as `--to` takes it. */
  get hostPort(): string {
    return `${LOOPBACK}:${this.port}`;
  }

  /**
   * Changes faults of `direction`: the fields given replace the current ones (the others
   * stay), and take effect at once on the connections that are open.
   */
  set(direction: Direction, faults: Faults): void {
    this.#faults[direction] = { ...this.#faults[direction], ...faults };
    for (const link of this.#links) link.settingsChanged();
  }

  /** Turns every fault off, both ways. */
  clear(): void {
    this.#faults = { upstream: {}, downstream: {} };
    for (const link of this.#links) link.settingsChanged();
  }

  /** Resets (RST) every open connection on both sides now. */
  resetAll(): void {
    for (const link of this.#links) link.reset();
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const link of this.#links) link.destroy();
    this.#links.clear();
    if (this.#server.listening) {
      const closed = once(this.#server, "close");
      this.#server.close();
      await closed;
    }
  }

  #accept(client: Socket): void {
    this.counters.connections++;
    this.counters.open++;
    const server = connect({ host: this.target[0], port: this.target[1], allowHalfOpen: true });
    const link = new Link(client, server, this, () => {
      this.#links.delete(link);
      this.counters.open--;
    });
    this.#links.add(link);
  }

  /** For {@link Link}: the live settings of a direction. */
  settingsOf(direction: Direction): Faults {
    return this.#faults[direction];
  }
}

/** One proxied connection: the client's socket, the server's, and a pipe each way. */
class Link {
  readonly client: Socket;
  readonly server: Socket;
  #pipes: Pipe[];
  #closed = 0;
  #onGone: () => void;
  #over = false;

  constructor(client: Socket, server: Socket, proxy: FaultProxy, onGone: () => void) {
    this.client = client;
    this.server = server;
    this.#onGone = onGone;
    for (const s of [client, server]) {
      s.setNoDelay(true);
      s.on("error", () => this.#failed(s));
      s.on("close", () => {
        if (++this.#closed === 2) this.#onGone();
      });
    }
    this.#pipes = [
      new Pipe(client, server, "upstream", proxy, this),
      new Pipe(server, client, "downstream", proxy, this),
    ];
    // A limit of 0 bytes acts at once, which needs both pipes in place.
    this.settingsChanged();
  }

  settingsChanged(): void {
    for (const pipe of this.#pipes) pipe.settingsChanged();
  }

  /** Ends both sides cleanly; from now on, what arrives is dropped. */
  cut(): void {
    if (this.#over) return;
    this.#over = true;
    for (const pipe of this.#pipes) pipe.stop();
    this.client.end();
    this.server.end();
  }

  /** Resets both sides. */
  reset(): void {
    this.#over = true;
    for (const pipe of this.#pipes) pipe.stop();
    for (const s of [this.client, this.server]) resetSocket(s);
  }

  destroy(): void {
    this.#over = true;
    for (const pipe of this.#pipes) pipe.stop();
    this.client.destroy();
    this.server.destroy();
  }

  /**
   * A side failed (reset by its peer, refused): the other side gets what was read before
   * the failure, then a reset, as packets ahead of a RST still arrive on a real network.
   */
  #failed(side: Socket): void {
    if (this.#over) return;
    const [upstream, downstream] = this.#pipes as [Pipe, Pipe];
    const inbound = side === this.client ? upstream : downstream;
    const outbound = side === this.client ? downstream : upstream;
    outbound.stop();
    inbound.finish("reset");
  }
}

/** What waits in a pipe: data with the time it is due out, or what to do once it is out. */
type Item = { data: Buffer; due: number } | { action: "end" | "cut" | "reset" };

/** Longest a bandwidth-limited write lasts, so the rate holds over short spans too. */
const BANDWIDTH_SLOT_MS = 20;

/**
 * One direction of a link: reads `from`, applies the direction's faults, writes `to`.
 * Data waits in a queue of at most the high-water mark (then `from` is paused) and is
 * written by one loop, so order is kept whatever the faults do.
 */
class Pipe {
  #from: Socket;
  #to: Socket;
  #direction: Direction;
  #proxy: FaultProxy;
  #link: Link;
  #counters: DirectionCounters;
  #queue: Item[] = [];
  #queued = 0;
  /** Bytes let through (towards the limit of a cut or a reset). */
  #admitted = 0;
  /** A cut or reset is due, or the link is over: everything read is dropped. */
  #limited = false;
  #pumping = false;
  #stopped = false;
  #wake: (() => void) | null = null;
  #nextSlot = 0;

  constructor(from: Socket, to: Socket, direction: Direction, proxy: FaultProxy, link: Link) {
    this.#from = from;
    this.#to = to;
    this.#direction = direction;
    this.#proxy = proxy;
    this.#link = link;
    this.#counters = proxy.counters[direction];
    from.on("data", (chunk: Buffer) => this.#onData(chunk));
    from.on("end", () => {
      if (!this.#limited) this.#enqueue({ action: "end" });
    });
  }

  get #faults(): Faults {
    return this.#proxy.settingsOf(this.#direction);
  }

  settingsChanged(): void {
    this.#checkLimit();
    this.#wakeUp();
  }

  /** Forwards what is queued, then does `action`; what arrives from now on is dropped. */
  finish(action: "cut" | "reset"): void {
    if (this.#stopped || this.#limited) return;
    this.#limited = true;
    this.#from.resume();
    this.#enqueue({ action });
  }

  /** No more forwarding: the queue is dropped and what arrives is read and dropped. */
  stop(): void {
    this.#stopped = true;
    this.#limited = true;
    for (const item of this.#queue) if ("data" in item) this.#counters.dropped += item.data.length;
    this.#queue = [];
    this.#queued = 0;
    this.#from.resume();
    this.#wakeUp();
  }

  #onData(chunk: Buffer): void {
    this.#counters.received += chunk.length;
    const faults = this.#faults;
    if (this.#limited || faults.drop) {
      this.#counters.dropped += chunk.length;
      return;
    }
    const limit = this.#limit();
    if (limit !== null && this.#admitted + chunk.length >= limit.bytes) {
      const take = limit.bytes - this.#admitted;
      if (take > 0) this.#enqueue({ data: chunk.subarray(0, take), due: this.#due(faults) });
      this.#counters.dropped += chunk.length - take;
      this.#admitted += take;
      this.#limited = true;
      this.#enqueue({ action: limit.action });
      return;
    }
    this.#admitted += chunk.length;
    this.#enqueue({ data: chunk, due: this.#due(faults) });
    if (this.#queued >= this.#proxy.highWaterMark) this.#from.pause();
  }

  /** When a chunk read now may leave: the latency counts from its arrival. */
  #due(faults: Faults): number {
    return performance.now() + (faults.latency ?? 0);
  }

  /** The nearer of the cut and the reset limits, if any. */
  #limit(): { bytes: number; action: "cut" | "reset" } | null {
    const { cutAfter, resetAfter } = this.#faults;
    const cut = cutAfter ?? null;
    const reset = resetAfter ?? null;
    if (cut === null && reset === null) return null;
    if (reset === null || (cut !== null && cut <= reset))
      return { bytes: cut as number, action: "cut" };
    return { bytes: reset, action: "reset" };
  }

  /** A limit set (or lowered) to what has already gone through takes effect now. */
  #checkLimit(): void {
    if (this.#limited) return;
    const limit = this.#limit();
    if (limit !== null && this.#admitted >= limit.bytes) this.finish(limit.action);
  }

  #enqueue(item: Item): void {
    this.#queue.push(item);
    if ("data" in item) this.#queued += item.data.length;
    if (!this.#pumping) void this.#pump();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Waits `ms` (Infinity: until woken); a change of settings wakes it early. */
  async #sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (ms !== Number.POSITIVE_INFINITY) timer = setTimeout(resolve, Math.ceil(ms));
    });
    clearTimeout(timer);
    this.#wake = null;
  }

  /** Writes the queue out, one item after another, applying the faults as they are now. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        const faults = this.#faults;
        const item = this.#queue[0] as Item;
        if (faults.stall) {
          await this.#sleep(Number.POSITIVE_INFINITY);
          continue;
        }
        if ("action" in item) {
          this.#queue.shift();
          this.#finish(item.action);
          continue;
        }
        const now = performance.now();
        if (now < item.due) {
          await this.#sleep(item.due - now);
          continue;
        }
        let size = item.data.length;
        if (faults.slice !== undefined && faults.slice > 0) size = Math.min(size, faults.slice);
        const rate = faults.bandwidth ?? 0;
        if (rate > 0) {
          if (now < this.#nextSlot) {
            await this.#sleep(this.#nextSlot - now);
            continue;
          }
          size = Math.min(size, Math.max(1, Math.floor((rate * BANDWIDTH_SLOT_MS) / 1000)));
          this.#nextSlot = Math.max(this.#nextSlot, now) + (size / rate) * 1000;
        }
        const piece = item.data.subarray(0, size);
        if (size === item.data.length) this.#queue.shift();
        else item.data = item.data.subarray(size);
        this.#queued -= size;
        this.#counters.forwarded += size;
        const flowing = this.#to.write(piece);
        if (this.#queued < this.#proxy.highWaterMark / 2) this.#from.resume();
        if (!flowing) await drained(this.#to);
        // Sliced pieces leave one turn of the event loop apart, so they are separate writes.
        else if (faults.slice) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#pumping = false;
    }
  }

  #finish(action: "end" | "cut" | "reset"): void {
    if (action === "end") {
      if (!this.#to.destroyed) this.#to.end();
    } else if (action === "cut") this.#link.cut();
    else this.#link.reset();
  }
}

/**
 * Resets `socket` (RST). Node cannot reset a socket whose FIN is under way (`end()` called,
 * every write done, the shutdown not finished yet): `resetAndDestroy()` then fails with
 * EINVAL and the socket is never closed, so it never emits 'close' and a process that exits
 * with it spins forever (Node 20.20, libuv 1.46). Such a socket is reset once its FIN is out.
 */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished && socket.writableLength === 0) {
    socket.once("finish", () => {
      if (!socket.destroyed) socket.resetAndDestroy();
    });
    return;
  }
  socket.resetAndDestroy();
}

/** Resolves when `socket` can take more writes, or is gone. */
function drained(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}
