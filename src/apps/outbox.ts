import { Socket } from "../socket/socket.ts";

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  /** Most bytes queued for the peer; `push` refuses beyond it. @default 1 MiB */
  limit?: number;
}

/** What a turn may queue for a peer before its send starts without waiting for the turn's end. */
const EAGER_BYTES = 64 * 1024;

/**
 * A peer's outgoing bytes when one sender feeds many peers (broadcast): `push` queues
 * without waiting, and once the current turn of the event loop is over everything queued
 * leaves in one `sendall` (one system call per peer per turn, however many messages the
 * turn had for it: a room where everyone speaks at once costs a write per member, not
 * one per message), or at once when the turn has queued 64 KiB (half the limit, if less);
 * what comes while a send waits for the peer leaves after it, in order.
 * The queue is bounded, so a peer that stops reading costs at most `limit` bytes and
 * never holds up the others. What to do with such a peer (drop it) is the caller's
 * decision.
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * import { Outbox } from "./outbox.ts";
 * const conn = await createConnection(["127.0.0.1", 5000]);
 * const out = new Outbox(conn, { limit: 256 * 1024 });
 * if (!out.push(Buffer.from("hello\n"))) await conn.close(); // not reading
 * ```
 */
export class Outbox {
  /** Outboxes with bytes to send once the turn is over, and whether that is scheduled. */
  static #due: Outbox[] = [];
  static #scheduled = false;

  readonly socket: Socket;
  readonly limit: number;
  /** Bytes past which a send starts at once rather than at the end of the turn. */
  readonly #eager: number;
  #chunks: Buffer[] = [];
  #queued = 0;
  #sending = false;
  /** In {@link Outbox.#due}: its send starts at the end of the turn. */
  #listed = false;
  #failed = false;
  /** performance.now() of the last time bytes left (or the queue was empty). */
  #progress = performance.now();
  #waiters = new Set<() => void>();

  constructor(socket: Socket, options: OutboxOptions = {}) {
    this.socket = socket;
    this.limit = options.limit ?? 1024 * 1024;
    this.#eager = Math.min(EAGER_BYTES, this.limit / 2);
  }

  /** Bytes queued and not yet handed to the kernel. */
  get queued(): number {
    return this.#queued;
  }

  /** A send failed (the peer is gone): later pushes are dropped. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Milliseconds since bytes last left while some were waiting (0 when the queue is empty). */
  get stalledFor(): number {
    return this.#queued === 0 ? 0 : performance.now() - this.#progress;
  }

  /**
   * Queues `data` for the peer (by reference: the same Buffer may be queued for many
   * peers, and must not change). Returns false, queuing nothing, when that would take the
   * queue over its limit (the peer is not keeping up). After a failed send it drops the
   * data and returns true: the reader side sees the error.
   */
  push(data: Buffer): boolean {
    if (this.#failed || data.length === 0) return true;
    if (this.#queued + data.length > this.limit) return false;
    if (this.#queued === 0) this.#progress = performance.now();
    this.#chunks.push(data);
    this.#queued += data.length;
    if (!this.#sending) {
      // A turn with much for the peer sends as it goes, so that a peer that reads is never
      // taken for one that does not because one turn had more than its limit for it.
      if (this.#queued >= this.#eager) void this.#send();
      else if (!this.#listed) this.#list();
    }
    return true;
  }

  /** Starts sending what is queued now instead of at the end of the turn (a goodbye). */
  flush(): void {
    if (!this.#sending && this.#chunks.length > 0) void this.#send();
  }

  /** Resolves once at most `bytes` are queued (or a send failed). */
  below(bytes: number): Promise<void> {
    if (this.#queued <= bytes || this.#failed) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.#queued <= bytes || this.#failed) {
          this.#waiters.delete(check);
          resolve();
        }
      };
      this.#waiters.add(check);
    });
  }

  /** Sends at the end of the turn, with whatever else the turn queues. */
  #list(): void {
    this.#listed = true;
    Outbox.#due.push(this);
    if (Outbox.#scheduled) return;
    Outbox.#scheduled = true;
    // After the poll phase: every read of this turn has queued what it had to.
    setImmediate(Outbox.#sendDue);
  }

  static #sendDue(): void {
    Outbox.#scheduled = false;
    const due = Outbox.#due;
    Outbox.#due = [];
    // The outboxes that hold the same Buffers (a line broadcast to a room, or the lines of
    // one read from Redis) send them together: put in one Buffer once, and handed to all
    // of their sockets in one call (Socket.sendallEach: one native loop on the native path).
    const groups = new Map<Buffer, Group[]>();
    for (const out of due) {
      out.#listed = false;
      if (out.#sending || out.#chunks.length === 0) continue;
      const chunks = out.#chunks;
      const first = chunks[0] as Buffer;
      let list = groups.get(first);
      if (list === undefined) {
        list = [];
        groups.set(first, list);
      }
      let group: Group | undefined;
      for (const g of list) {
        if (sameChunks(g.chunks, chunks)) {
          group = g;
          break;
        }
      }
      if (group === undefined) {
        group = { chunks, outboxes: [] };
        list.push(group);
      }
      group.outboxes.push(out);
    }
    for (const list of groups.values()) {
      for (const { chunks, outboxes } of list) {
        if (outboxes.length === 1) {
          void (outboxes[0] as Outbox).#send();
          continue;
        }
        const batch = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        const sockets = new Array<Socket>(outboxes.length);
        for (let i = 0; i < outboxes.length; i++) {
          const out = outboxes[i] as Outbox;
          out.#take();
          sockets[i] = out.socket;
        }
        const sent = Socket.sendallEach(sockets, batch);
        for (let i = 0; i < outboxes.length; i++) {
          const out = outboxes[i] as Outbox;
          const pending = sent[i];
          if (pending === undefined) out.#sent(batch.length);
          else void out.#whenSent(pending, batch.length);
        }
      }
    }
  }

  /** Takes what is queued off the queue: its send is under way. */
  #take(): Buffer[] {
    this.#sending = true;
    const chunks = this.#chunks;
    this.#chunks = [];
    return chunks;
  }

  /** Sends everything queued in one `sendall`; what comes meanwhile is listed after it. */
  async #send(): Promise<void> {
    const bytes = this.#queued;
    const chunks = this.#take();
    const batch = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes);
    await this.#whenSent(this.socket.sendall(batch), batch.length);
  }

  async #whenSent(sent: Promise<void>, bytes: number): Promise<void> {
    try {
      await sent;
    } catch {
      this.#failed = true;
      this.#sending = false;
      this.#chunks = [];
      this.#queued = 0;
      this.#wake();
      return;
    }
    this.#sent(bytes);
  }

  /** `bytes` were handed to the kernel: what was queued meanwhile goes next. */
  #sent(bytes: number): void {
    this.#sending = false;
    this.#queued -= bytes;
    this.#progress = performance.now();
    this.#wake();
    if (this.#chunks.length === 0) return;
    if (this.#queued >= this.#eager) void this.#send();
    else if (!this.#listed) this.#list();
  }

  #wake(): void {
    if (this.#waiters.size === 0) return;
    for (const check of [...this.#waiters]) check();
  }
}

/** Outboxes that hold the same Buffers, in the same order. */
interface Group {
  chunks: Buffer[];
  outboxes: Outbox[];
}

function sameChunks(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
