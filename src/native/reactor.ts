/**
 * The native I/O reactor (native/reactor.cc): non-blocking sockets on one epoll instance
 * that one libuv poll handle watches, read in C++ on each wake-up and handed to
 * JavaScript as one batch. {@link Reactor} dispatches a batch to a handler per socket; it is
 * the low-level engine the stream, listener and datagram backends of `Socket` build on, and
 * has no Python API of its own. Linux only, with the addon built.
 *
 * ## The contract
 *
 * **Descriptors.** The caller makes the socket (non-blocking; the addon's `socket()`,
 * `accept` records and `dup()` all are) and owns its descriptor. Registering lends it to
 * the reactor, which reads from it but never closes it. To close a registered socket, call
 * {@link Reactor.close} (or {@link Reactor.unregister}, then close the descriptor): until
 * then the reactor reads and writes that descriptor number, which the system gives to the
 * next file opened once it is closed. (A registration whose descriptor was closed first
 * while a dup kept the socket open would report for ever; the reactor notices and rebuilds
 * its epoll instance without it, counted in {@link Reactor.stats}.) A descriptor in an
 * `onAccept` is the handler's from then on; when the environment ends (a worker stops),
 * what is still registered is closed.
 *
 * **Ids.** The reactor picks a small integer id for each registration (handlers get it with
 * every call) and reuses it only after the batch under way, so a record for a socket that
 * was unregistered earlier in the same batch is dropped (and a descriptor it accepted is
 * closed), never given to a newcomer. A descriptor is registered once at a time.
 *
 * **Batches.** One wake-up of the event loop with anything to say is one batch: its records
 * are dispatched in the order the reactor made them, then the {@link Reactor.afterBatch}
 * callbacks run, then pending `process.nextTick` callbacks and microtasks. For one socket, a
 * batch holds, in this order: `onConnect`, or `onWritable`, then its reads (`onData` views in
 * stream order, ending with `onEnd` or `onError`; `onAccept` calls; `onDatagram` calls).
 * Handlers may call any method of the reactor, for their own socket or another.
 *
 * **Bounds.** Per wake-up a stream gives at most {@link STREAM_READ} bytes, a datagram socket
 * at most {@link MAX_MESSAGES} datagrams, a listener at most {@link ACCEPT_BOUND} connections,
 * and once a batch holds {@link BATCH_BYTES} bytes the sockets left are served first next
 * time (a `whole` datagram socket stops reading then too). A socket with more waiting is
 * reported again on the next loop iteration. Pausing a
 * socket ({@link Reactor.setReading}) stops its reads at once: the kernel's buffers then
 * fill and TCP flow control slows the peer, so a slow consumer bounds memory.
 *
 * **Buffers.** The bytes of a batch are copied once, from the reactor's reused buffers into
 * one new Buffer (or, for a batch of at most {@link SLAB} bytes, into the next part of a
 * slab that several batches share, as Buffers share Node.js's pool); `onData`,
 * `onDatagram` and the address of `onAccept` get views of that memory. A handler may keep a
 * view as long as it likes (nothing writes to it again), but a kept view holds the whole
 * batch's memory (or the slab): copy a few bytes out of a large batch when keeping them
 * long. In a batch of more than a slab, each stream read of at most half a slab goes to a
 * slab too (as many as the batch fills), so that a view of a few bytes read among many
 * other sockets' holds a slab at most. A stream read of at least half of
 * {@link STREAM_READ} is not copied: it lands in a block of its own (a Buffer of
 * STREAM_READ bytes the dispatcher fed the reactor), and `onData` gets a view of that block.
 *
 * **Ends and errors.** `onEnd` comes once, when the peer ends the stream (its FIN); the socket
 * is still writable (half-close). `onError` on a stream means it is dead: nothing more is
 * read, no `onWritable` comes, and writes throw; close it. A listener's `onError` (out of
 * descriptors, `EMFILE`) pauses accepting until `setReading(id, true)`. A datagram socket's
 * `onError` (an ICMP error on a connected socket) is a report: the socket goes on. Errors
 * carry `code` (the errno name), `errno` (negative) and `syscall`.
 *
 * **Writes.** {@link Reactor.write}, {@link Reactor.sendto} and {@link Reactor.sendmmsg} call
 * the kernel at once and return what it took; -1 means nothing and would block. Then
 * {@link Reactor.wantWritable} asks for one `onWritable` when it may take more (a hang-up or
 * an error wakes it too, and the next write throws it). A write never copies or keeps the
 * caller's buffer.
 *
 * **Keeping the process alive.** A registration made with `ref: true` (the default) keeps the
 * event loop alive, as a ref'd `net.Socket` does; {@link Reactor.ref} changes it.
 * @module
 */
import { UnsupportedError } from "../core/errors.ts";
import {
  hasNative,
  type NativeAddon,
  type NativeAddress,
  native,
  nativeMissingReason,
} from "./index.ts";

/** The addon's constants of the reactor (the same numbers as this module's). */
export interface ReactorConstants {
  KIND_STREAM: number;
  KIND_LISTENER: number;
  KIND_DATAGRAM: number;
  FLAG_READING: number;
  FLAG_REF: number;
  FLAG_CONNECTING: number;
  FLAG_NODELAY: number;
  FLAG_WHOLE: number;
  EV_DATA: number;
  EV_END: number;
  EV_ERROR: number;
  EV_WRITABLE: number;
  EV_CONNECT: number;
  EV_ACCEPT: number;
  EV_DATAGRAM: number;
  EV_READABLE: number;
  STRIDE: number;
  STREAM_READ: number;
  SLAB: number;
  BATCH_BYTES: number;
  MAX_MESSAGES: number;
  MAX_DATAGRAM: number;
  ACCEPT_BOUND: number;
  MAX_ID: number;
}

/** An error of the reactor: an errno error, as the addon's calls throw them. */
export interface ReactorError extends Error {
  /** The errno name: `"ECONNRESET"`, `"EMFILE"`, ... */
  code: string;
  /** The negative errno (libuv's convention). */
  errno: number;
  /** The call that failed: `"read"`, `"accept"`, `"recvmmsg"`, `"connect"`, `"send"`, ... */
  syscall: string;
}

/**
 * What the addon hands JavaScript on a wake-up: `count` records of {@link STRIDE} int32 in
 * `events` (reused from batch to batch: read only during the call), the bytes they point at
 * in `data` from `dataBase` on (null when the records point at none: a Buffer of the
 * batch's own, or, for a batch of at most {@link SLAB} bytes, the slab it shares with the
 * batches before and after it, each in a part no other batch writes to), the errors they
 * index (undefined when there are none), the blocks of large reads, and the slabs that
 * the small stream reads of a larger batch were put in (undefined when none were).
 *
 * A record is `[kind, id, a, b, c, d]`, its offsets counted from `dataBase`:
 * - `EV_DATA`: `data[a, a + b)` read from the stream, or, when `c` > 0, the first `b` bytes
 *   of the block `owned[c - 1]` (a read of at least half of {@link STREAM_READ}, handed
 *   back in the block it was read into: see `feed`), or, when `d` > 0, `slabs[d - 1][a, a +
 *   b)` (a read of at most half a {@link SLAB} in a batch larger than a slab: put in a
 *   slab of its own so that a view of it holds a slab at most, not the whole batch);
 * - `EV_END`: the stream ended (read returned 0), once;
 * - `EV_ERROR`: `errors[a]`;
 * - `EV_WRITABLE`: what `wantWritable` asked for;
 * - `EV_CONNECT`: `errors[a]`, or `a` = -1 when connected;
 * - `EV_ACCEPT`: new descriptor `a`, the peer's raw sockaddr at `data[c, c + d)`;
 * - `EV_DATAGRAM`: `data[a, a + b)` from the raw sockaddr at `data[c, c + d)`;
 * - `EV_READABLE`: what `wantReadable` asked for (nothing was read).
 */
export type BatchCallback = (
  events: Int32Array,
  count: number,
  data: Buffer | null,
  errors: ReactorError[] | undefined,
  owned: Buffer[] | undefined,
  dataBase: number,
  slabs: Buffer[] | undefined,
) => void;

/**
 * The addon's `Reactor`: one epoll instance, one poll handle, sockets by id. Every method
 * but `remove` throws `EBADF` for an id that is not registered (or a closed reactor).
 */
export interface NativeReactor {
  /**
   * Registers descriptor `fd` under `id` (0 to MAX_ID, not in use) as a `kind`
   * (KIND_STREAM, KIND_LISTENER, KIND_DATAGRAM) with `flags` (FLAG_READING: read from the
   * start; FLAG_REF: keep the loop alive; FLAG_CONNECTING: a stream whose non-blocking
   * connect is under way, one EV_CONNECT when it ends; FLAG_NODELAY: a listener whose
   * accepted sockets get TCP_NODELAY; FLAG_WHOLE: a datagram socket whose datagrams are
   * read whole, however long). Throws `EBADF` for a bad descriptor, `EEXIST` for an
   * id in use, epoll_ctl's errno (`EPERM` for a regular file).
   */
  add(id: number, fd: number, kind: number, flags: number): void;
  /** Stops watching `id` (epoll_ctl DEL) and frees the id: true when it was registered. */
  remove(id: number): boolean;
  /** Reads (accepts, receives) from `id` or stops: a paused socket is not read at all. */
  setReading(id: number, on: boolean): void;
  /** One EV_WRITABLE when `id` may be written to (`on` false: no longer asked). */
  wantWritable(id: number, on?: boolean): void;
  /** One EV_READABLE when `id` has bytes, an end or an error to read; reads nothing. */
  wantReadable(id: number, on?: boolean): void;
  /** Whether `id` keeps the event loop alive. */
  setKeepAlive(id: number, on: boolean): void;
  /** send(2) of `data[offset, offset + length)` now: bytes taken, or -1 (would block). */
  write(id: number, data: Uint8Array, offset: number, length: number): number;
  /**
   * The same bytes, `data[offset, offset + length)`, to each stream `ids[0, count)` in one
   * native loop: `results[i]` is what send(2) took for `ids[i]` (0 when it would block), or
   * the negative errno of its failure (-EBADF for an id that is not a registered stream);
   * nothing is thrown for one socket. Returns how many took every byte.
   */
  writeEach(
    ids: Int32Array,
    count: number,
    data: Uint8Array,
    offset: number,
    length: number,
    results: Int32Array,
  ): number;
  /** One datagram to the raw sockaddr `address` (null: connected): bytes sent, or -1. */
  sendto(
    id: number,
    data: Uint8Array,
    offset: number,
    length: number,
    address: Uint8Array | null,
  ): number;
  /**
   * `count` datagrams in one sendmmsg(2): `spans` holds `[offset, length, addressOffset,
   * addressLength]` a datagram, all within `data` (addressLength 0: connected). The number
   * sent from the first on, or -1 when the first would block; throws the first's errno
   * when it fails (an error after the first ends the count, and the next call throws it).
   */
  sendmmsg(id: number, data: Uint8Array, spans: Int32Array, count: number): number;
  /**
   * Gives the reactor a Buffer of at least STREAM_READ bytes (made with
   * `Buffer.allocUnsafeSlow`, so its memory is its own) for a large stream read to land in;
   * it comes back, holding the bytes, in a batch's `owned`. Until then it is the reactor's.
   */
  feed(block: Buffer): void;
  /** Counters since the reactor was made. */
  stats(): ReactorStats;
  /** Closes the epoll instance and the poll handle; the descriptors stay open. */
  close(): void;
}

/** What {@link NativeReactor.stats} counts. */
export interface ReactorStats {
  /** Times the poll handle woke the reactor. */
  wakes: number;
  /** Batches handed to JavaScript (wake-ups with something to say). */
  batches: number;
  /** Records in them. */
  records: number;
  /**
   * Times the epoll instance was replaced because a registration kept reporting after its
   * descriptor had been closed before `remove` (a dup kept the socket open): a bug of the
   * caller's, survived.
   */
  rebuilds: number;
}

/** The addon's `Reactor` class. */
export interface NativeReactorClass {
  new (onBatch: BatchCallback): NativeReactor;
  readonly constants: ReactorConstants;
  /** The raw sockaddr bytes of an address (`EINVAL` for a bad host or port). */
  encodeAddress(address: NativeAddress): Buffer;
  /** An address from raw sockaddr bytes, by the addon (`EAFNOSUPPORT` for other bytes). */
  decodeAddress(raw: Uint8Array): NativeAddress;
}

type AddonWithReactor = NativeAddon & { Reactor?: NativeReactorClass };

// The record format and bounds, as native/reactor.cc defines them (checked on first use).
const KIND_STREAM = 1;
const KIND_LISTENER = 2;
const KIND_DATAGRAM = 3;
const FLAG_READING = 1;
const FLAG_REF = 2;
const FLAG_CONNECTING = 4;
const FLAG_NODELAY = 8;
const FLAG_WHOLE = 16;
const EV_DATA = 1;
const EV_END = 2;
const EV_ERROR = 3;
const EV_WRITABLE = 4;
const EV_CONNECT = 5;
const EV_ACCEPT = 6;
const EV_DATAGRAM = 7;
const EV_READABLE = 8;
/** Int32 values a record takes. */
export const STRIDE = 6;
/** Most bytes one stream gives in one batch. */
export const STREAM_READ = 65536;
/**
 * Bytes of the slab a small batch's bytes are handed over in (several batches share one,
 * as Buffers share Node.js's pool): a view of a batch that small holds at most that much.
 */
export const SLAB = 8192;
/** Bytes after which a batch reads no more sockets (one socket may add its bound past it). */
export const BATCH_BYTES = 1048576;
/** Most datagrams one socket gives in one batch. */
export const MAX_MESSAGES = 32;
/**
 * Longest datagram read whole into recvmmsg's slots; a socket registered with `whole` (a
 * Unix datagram socket, whose datagrams may be longer) has each read whole, however long.
 */
export const MAX_DATAGRAM = 65536;
/** Most connections one listener gives in one batch. */
export const ACCEPT_BOUND = 64;
/** Blocks the reactor holds for large stream reads (one more is fed for each handed over). */
const FED_BLOCKS = 4;

const EXPECTED: Partial<ReactorConstants> = {
  KIND_STREAM,
  KIND_LISTENER,
  KIND_DATAGRAM,
  FLAG_READING,
  FLAG_REF,
  FLAG_CONNECTING,
  FLAG_NODELAY,
  FLAG_WHOLE,
  EV_DATA,
  EV_END,
  EV_ERROR,
  EV_WRITABLE,
  EV_CONNECT,
  EV_ACCEPT,
  EV_DATAGRAM,
  EV_READABLE,
  STRIDE,
  STREAM_READ,
  SLAB,
  BATCH_BYTES,
  MAX_MESSAGES,
  MAX_DATAGRAM,
  ACCEPT_BOUND,
};

/**
 * What a registered socket is told. Every method is optional; a listener without
 * `onAccept` has its connections closed. Each gets the socket's id last, so one handler
 * (shared functions, no closure per connection) can serve many sockets.
 */
export interface ReactorHandler {
  /** Bytes of a stream, in order: a view of the batch's memory (see the module's contract). */
  onData?(data: Buffer, id: number): void;
  /** The peer ended the stream: once, after its last `onData`; writing is still possible. */
  onEnd?(id: number): void;
  /**
   * A stream or listener error (the socket is no longer read; a listener accepts again after
   * `setReading(id, true)`), or a datagram socket's report (it goes on).
   */
  onError?(err: ReactorError, id: number): void;
  /** The socket may take more: once per {@link Reactor.wantWritable}. */
  onWritable?(id: number): void;
  /** The socket has something to read: once per {@link Reactor.wantReadable}. */
  onReadable?(id: number): void;
  /** The connect of a stream registered with `connecting: true` ended: null, or why it failed. */
  onConnect?(err: ReactorError | null, id: number): void;
  /**
   * A connection accepted by a listener: its descriptor (non-blocking, close-on-exec, now
   * the handler's) and the peer's raw sockaddr (see `decodeSockaddr`).
   */
  onAccept?(fd: number, address: Buffer, id: number): void;
  /** A datagram and its sender's raw sockaddr (give it back to `sendto` to answer). */
  onDatagram?(data: Buffer, address: Buffer, id: number): void;
  /**
   * A datagram as where it lies in the batch's Buffer: `batch[offset, offset + length)`,
   * its sender's raw sockaddr at `batch[addressOffset, addressOffset + addressLength)`.
   * Called instead of `onDatagram` when given: a handler that copies the datagram out
   * anyway and decodes the address itself makes no views.
   */
  onDatagramIn?(
    batch: Buffer,
    offset: number,
    length: number,
    addressOffset: number,
    addressLength: number,
    id: number,
  ): void;
}

/** What {@link Reactor.register} registers. */
export type ReactorKind = "stream" | "listener" | "datagram";

/** Options of {@link Reactor.register}. */
export interface RegisterOptions {
  /**
   * Read (accept, receive) from the start.
   * @default true
   */
  reading?: boolean;
  /**
   * Keep the event loop alive while registered.
   * @default true
   */
  ref?: boolean;
  /**
   * A stream whose non-blocking `connect()` was started (whatever it returned): one
   * `onConnect` when it ends, then reading begins if `reading`.
   * @default false
   */
  connecting?: boolean;
  /**
   * A listener whose accepted sockets get TCP_NODELAY (one system call in the addon
   * instead of one call into it per connection).
   * @default false
   */
  noDelay?: boolean;
  /**
   * A datagram socket whose datagrams may be longer than {@link MAX_DATAGRAM} (a Unix
   * one): each is read whole, however long, one recvmsg a datagram instead of recvmmsg
   * into slots that would cut it.
   * @default false
   */
  whole?: boolean;
}

/** Whether the reactor can be had here: Linux, with an addon that has it. */
export function hasReactor(): boolean {
  return reactorMissingReason() === null;
}

/** Why the reactor cannot be had here, or null. */
export function reactorMissingReason(): string | null {
  if (process.platform !== "linux") return `it needs Linux (epoll), not ${process.platform}`;
  if (!hasNative()) return nativeMissingReason();
  if ((native("native I/O reactor") as AddonWithReactor).Reactor === undefined) {
    return "the native addon was built without it (rebuild it: `npm run build:native`)";
  }
  return null;
}

/** The addon's `Reactor` class, or an `UnsupportedError` saying why there is none. */
export function nativeReactorClass(): NativeReactorClass {
  const why = reactorMissingReason();
  if (why !== null) throw new UnsupportedError(`Cannot use the native I/O reactor: ${why}`);
  const cls = (native("native I/O reactor") as AddonWithReactor).Reactor as NativeReactorClass;
  for (const [name, value] of Object.entries(EXPECTED)) {
    if (cls.constants[name as keyof ReactorConstants] !== value) {
      throw new UnsupportedError(
        `Cannot use the native I/O reactor: the addon's ${name} is ${cls.constants[name as keyof ReactorConstants]}, not ${value} (rebuild it: \`npm run build:native\`)`,
      );
    }
  }
  return cls;
}

let shared: Reactor | null = null;

/** One {@link Reactor.whenReady} under way. */
interface Waiter {
  writable: boolean;
  timer: ReturnType<typeof setTimeout>;
  done(): void;
}

/**
 * A dispatcher over one native reactor: registers sockets under ids it picks, hands each
 * batch's records to the handlers, and writes. See the module's documentation for the
 * contract (ownership, order, bounds, buffers).
 *
 * @example
 * ```ts
 * import { native } from "./index.ts";
 * import { Reactor } from "./reactor.ts";
 *
 * // An echo server (one that closes a connection whose peer does not read).
 * const addon = native("an echo server");
 * const listener = addon.socket(2, 1, 0); // AF_INET, SOCK_STREAM
 * addon.bind(listener, { family: "inet", host: "127.0.0.1", port: 0 });
 * addon.listen(listener, 128);
 * const reactor = Reactor.shared();
 * reactor.register(listener, "listener", {
 *   onAccept(fd) {
 *     const id = reactor.register(fd, "stream", {
 *       onData: (data) => {
 *         if (reactor.write(id, data) !== data.length) reactor.close(id);
 *       },
 *       onEnd: () => reactor.close(id),
 *       onError: () => reactor.close(id),
 *     });
 *   },
 * });
 * ```
 */
export class Reactor {
  readonly #addon: NativeAddon;
  readonly #native: NativeReactor;
  readonly #handlers: (ReactorHandler | undefined)[] = [];
  readonly #fds: number[] = [];
  readonly #free: number[] = [];
  /** Ids unregistered during a batch: free once it is dispatched. */
  #quarantined: number[] = [];
  #next = 0;
  #inBatch = false;
  #after: (() => void)[] = [];
  #closed = false;
  /** The id each registered descriptor has. */
  readonly #ids = new Map<number, number>();
  /** What {@link whenReady} waits for, by id. */
  readonly #waiters = new Map<number, Set<Waiter>>();

  /** A reactor of its own (its own epoll instance and poll handle); see {@link shared}. */
  constructor() {
    const cls = nativeReactorClass();
    this.#addon = native("native I/O reactor");
    this.#native = new cls((events, count, data, errors, owned, dataBase, slabs) =>
      this.#dispatch(events, count, data, errors, owned, dataBase, slabs),
    );
    for (let i = 0; i < FED_BLOCKS; i++) this.#feed();
  }

  /** The process's reactor (one per Node.js environment: a worker has its own), made on first use. */
  static shared(): Reactor {
    if (shared === null || shared.#closed) shared = new Reactor();
    return shared;
  }

  /**
   * Registers the non-blocking socket `fd` and returns its id. `kind` says what the
   * reactor does when it is readable: read a stream, accept on a listener, receive
   * datagrams. Throws (`EBADF`, `EPERM`...) when epoll cannot watch the descriptor.
   */
  register(
    fd: number,
    kind: ReactorKind,
    handler: ReactorHandler,
    options: RegisterOptions = {},
  ): number {
    const id = this.#free.pop() ?? this.#next++;
    const flags =
      (options.reading === false ? 0 : FLAG_READING) |
      (options.ref === false ? 0 : FLAG_REF) |
      (options.connecting ? FLAG_CONNECTING : 0) |
      (options.noDelay ? FLAG_NODELAY : 0) |
      (options.whole ? FLAG_WHOLE : 0);
    try {
      this.#native.add(
        id,
        fd,
        kind === "stream" ? KIND_STREAM : kind === "listener" ? KIND_LISTENER : KIND_DATAGRAM,
        flags,
      );
    } catch (err) {
      this.#free.push(id);
      throw err;
    }
    this.#handlers[id] = handler;
    this.#fds[id] = fd;
    this.#ids.set(fd, id);
    return id;
  }

  /**
   * Stops watching `id`; its descriptor stays open and is the caller's again. Records of
   * the batch under way for it are dropped. Nothing happens for an id not registered.
   */
  unregister(id: number): void {
    if (this.#handlers[id] === undefined) return;
    this.#native.remove(id);
    this.#handlers[id] = undefined;
    const fd = this.#fds[id] as number;
    if (this.#ids.get(fd) === id) this.#ids.delete(fd);
    this.#fds[id] = -1;
    // Who waited for it to be ready looks again, and finds it closed or given back.
    this.#wake(id, true, true);
    if (this.#inBatch) this.#quarantined.push(id);
    else this.#free.push(id);
  }

  /** Unregisters `id`, then closes its descriptor (in that order: see the contract). */
  close(id: number): void {
    const fd = this.#fds[id];
    if (this.#handlers[id] === undefined || fd === undefined) return;
    this.unregister(id);
    this.#addon.close(fd);
  }

  /** The descriptor registered under `id`, or -1. */
  fileno(id: number): number {
    return this.#handlers[id] === undefined ? -1 : (this.#fds[id] ?? -1);
  }

  /** Reads `id` again, or stops: a paused socket is not read at all (flow control). */
  setReading(id: number, on: boolean): void {
    this.#native.setReading(id, on);
  }

  /** Asks for one `onWritable` when `id` may take more (after a write returned less). */
  wantWritable(id: number, on = true): void {
    this.#native.wantWritable(id, on);
  }

  /** Asks for one `onReadable` when `id` has something to read (nothing is read for it). */
  wantReadable(id: number, on = true): void {
    this.#native.wantReadable(id, on);
  }

  /**
   * Resolves once the non-blocking socket `fd` is ready to be read (or, with `writable`,
   * written), has hung up or failed, or after `ms`, whichever comes first; it says nothing
   * of which, so the caller tries its system call again. Nothing is read or written: for
   * whoever does that outside the event loop (a thread-pool call that gave up at EAGAIN),
   * so that no thread waits for a peer. A descriptor that is not registered is watched for
   * the while (without being read), one that is (a reactor socket) through its id.
   */
  whenReady(fd: number, writable: boolean, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let id = this.#ids.get(fd);
      let own = false;
      if (id === undefined) {
        try {
          id = this.register(fd, "stream", {}, { reading: false });
          own = true;
        } catch {
          // Not something epoll watches: the time alone says when to try again.
          setTimeout(resolve, ms);
          return;
        }
      }
      const watched = id;
      const waiter: Waiter = {
        writable,
        timer: setTimeout(() => this.#settle(watched, waiter), ms),
        done: () => {
          if (own) this.unregister(watched);
          resolve();
        },
      };
      let set = this.#waiters.get(watched);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(watched, set);
      }
      set.add(waiter);
      try {
        if (writable) this.#native.wantWritable(watched, true);
        else this.#native.wantReadable(watched, true);
      } catch {
        // Failed or gone: the timer still ends the wait.
      }
    });
  }

  /** Ends `waiter`'s wait on `id`, and stops asking for what no other waiter wants. */
  #settle(id: number, waiter: Waiter): void {
    const set = this.#waiters.get(id);
    if (set === undefined || !set.delete(waiter)) return;
    clearTimeout(waiter.timer);
    if (set.size === 0) this.#waiters.delete(id);
    if (this.#handlers[id] !== undefined && !waiter.writable) {
      let reader = false;
      for (const w of set) reader ||= !w.writable;
      if (!reader) this.#native.wantReadable(id, false);
    }
    waiter.done();
  }

  /** Ends the waits on `id` for reading, writing, or both. */
  #wake(id: number, readers: boolean, writers: boolean): void {
    const set = this.#waiters.get(id);
    if (set === undefined) return;
    for (const w of [...set]) if (w.writable ? writers : readers) this.#settle(id, w);
  }

  /** Whether `id` keeps the event loop alive (Node's `ref()` / `unref()`). */
  ref(id: number, on: boolean): void {
    this.#native.setKeepAlive(id, on);
  }

  /**
   * Writes `data[offset, offset + length)` to the stream `id` now: the bytes the kernel
   * took (maybe fewer than asked), or -1 when it took none. Throws the errno error of
   * send (`EPIPE`, `ECONNRESET`, ...).
   */
  write(id: number, data: Uint8Array, offset = 0, length = data.byteLength - offset): number {
    return this.#native.write(id, data, offset, length);
  }

  /**
   * Writes the same bytes, `data[offset, offset + length)`, to each stream `ids[0, count)`
   * in one call to the addon (one native loop of send(2), not one call from JavaScript per
   * socket: for a message fanned out to many peers). `results[i]` gets what the kernel took
   * for `ids[i]` (0 when it would block), or the negative errno of its failure (`-EBADF`
   * for an id that is not a registered stream); no socket's failure is thrown. Returns how
   * many took every byte.
   */
  writeEach(
    ids: Int32Array,
    count: number,
    data: Uint8Array,
    results: Int32Array,
    offset = 0,
    length = data.byteLength - offset,
  ): number {
    return this.#native.writeEach(ids, count, data, offset, length, results);
  }

  /**
   * Sends one datagram from the socket `id` to the raw sockaddr `address` (one an
   * `onDatagram` gave, or `encodeAddress`'s; null for a connected socket): bytes sent, or
   * -1 when it would block.
   */
  sendto(
    id: number,
    data: Uint8Array,
    address: Uint8Array | null,
    offset = 0,
    length = data.byteLength - offset,
  ): number {
    return this.#native.sendto(id, data, offset, length, address);
  }

  /** The addon's sendmmsg (see {@link NativeReactor.sendmmsg}); `DatagramBatch` stages for it. */
  sendmmsg(id: number, data: Uint8Array, spans: Int32Array, count: number): number {
    return this.#native.sendmmsg(id, data, spans, count);
  }

  /** The raw sockaddr bytes of an address, for {@link sendto}. */
  encodeAddress(address: NativeAddress): Buffer {
    return nativeReactorClass().encodeAddress(address);
  }

  /** The native reactor's counters (wake-ups, batches, records, rebuilds). */
  stats(): ReactorStats {
    return this.#native.stats();
  }

  /**
   * Runs `fn` once after the handlers of the batch under way (outside one: in a
   * microtask): the place to flush what handlers staged, such as the replies of a batch of
   * datagrams in one sendmmsg.
   */
  afterBatch(fn: () => void): void {
    if (this.#inBatch) this.#after.push(fn);
    else queueMicrotask(fn);
  }

  /**
   * Closes the epoll instance and its poll handle. Registered descriptors stay open (the
   * caller's to close); the reactor is unusable after.
   */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
    this.#handlers.length = 0;
    this.#fds.length = 0;
  }

  #dispatch(
    events: Int32Array,
    count: number,
    data: Buffer | null,
    errors: ReactorError[] | undefined,
    owned: Buffer[] | undefined,
    dataBase: number,
    slabs: Buffer[] | undefined,
  ): void {
    this.#inBatch = true;
    const handlers = this.#handlers;
    let failed = false;
    let failure: unknown;
    // Views are made with Buffer.from(arrayBuffer, offset, length): half what subarray costs.
    const bytes = (data?.buffer ?? null) as ArrayBuffer;
    const base = (data?.byteOffset ?? 0) + dataBase;
    for (let i = 0, at = 0; i < count; i++, at += STRIDE) {
      const kind = events[at] as number;
      const id = events[at + 1] as number;
      const handler = handlers[id];
      try {
        if (handler === undefined) {
          // Unregistered earlier in this batch: what it accepted is nobody's, so closed.
          if (kind === EV_ACCEPT) this.#addon.close(events[at + 2] as number);
          continue;
        }
        switch (kind) {
          case EV_DATA: {
            const own = events[at + 4] as number;
            const slab = events[at + 5] as number;
            handler.onData?.(
              own > 0
                ? Buffer.from(((owned as Buffer[])[own - 1] as Buffer).buffer, 0, events[at + 3])
                : slab > 0
                  ? slabView(
                      (slabs as Buffer[])[slab - 1] as Buffer,
                      events[at + 2],
                      events[at + 3],
                    )
                  : Buffer.from(bytes, base + (events[at + 2] as number), events[at + 3]),
              id,
            );
            break;
          }
          case EV_DATAGRAM:
            if (handler.onDatagramIn !== undefined) {
              handler.onDatagramIn(
                data as Buffer,
                dataBase + (events[at + 2] as number),
                events[at + 3] as number,
                dataBase + (events[at + 4] as number),
                events[at + 5] as number,
                id,
              );
              break;
            }
            handler.onDatagram?.(
              Buffer.from(bytes, base + (events[at + 2] as number), events[at + 3]),
              Buffer.from(bytes, base + (events[at + 4] as number), events[at + 5]),
              id,
            );
            break;
          case EV_ACCEPT: {
            const fd = events[at + 2] as number;
            if (handler.onAccept === undefined) this.#addon.close(fd);
            else {
              const address = Buffer.from(bytes, base + (events[at + 4] as number), events[at + 5]);
              handler.onAccept(fd, address, id);
            }
            break;
          }
          case EV_WRITABLE:
            handler.onWritable?.(id);
            this.#wake(id, false, true);
            break;
          case EV_READABLE:
            handler.onReadable?.(id);
            this.#wake(id, true, false);
            break;
          case EV_END:
            handler.onEnd?.(id);
            break;
          case EV_ERROR:
            handler.onError?.(
              (errors as ReactorError[])[events[at + 2] as number] as ReactorError,
              id,
            );
            break;
          case EV_CONNECT: {
            const index = events[at + 2] as number;
            handler.onConnect?.(
              index < 0 ? null : ((errors as ReactorError[])[index] as ReactorError),
              id,
            );
            break;
          }
        }
      } catch (err) {
        // The rest of the batch is still dispatched; the first error is thrown after, to
        // 'uncaughtException' as from any I/O callback.
        if (!failed) {
          failed = true;
          failure = err;
        }
      }
    }
    while (this.#after.length > 0) {
      const after = this.#after;
      this.#after = [];
      for (const fn of after) {
        try {
          fn();
        } catch (err) {
          if (!failed) {
            failed = true;
            failure = err;
          }
        }
      }
    }
    this.#inBatch = false;
    if (this.#quarantined.length > 0) {
      for (const id of this.#quarantined) this.#free.push(id);
      this.#quarantined = [];
    }
    // A block for each the batch handed over (see NativeReactor.feed).
    if (owned !== undefined) for (let i = 0; i < owned.length; i++) this.#feed();
    if (failed) throw failure;
  }

  #feed(): void {
    this.#native.feed(Buffer.allocUnsafeSlow(STREAM_READ));
  }
}

/** `length` bytes at `offset` of a slab, as a view. */
function slabView(slab: Buffer, offset: number | undefined, length: number | undefined): Buffer {
  return Buffer.from(slab.buffer, slab.byteOffset + (offset as number), length);
}
