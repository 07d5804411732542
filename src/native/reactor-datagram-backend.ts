import {
  type Address,
  checkUnixAddress,
  formatAddress,
  type SocketAddress,
} from "../core/address.ts";
import {
  AF_INET6,
  AF_UNIX,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { type SocketError, toSocketError, UnsupportedError } from "../core/errors.ts";
import { badState } from "../socket/checks.ts";
import { deadlineFrom, waitMs } from "../socket/deadline.ts";
import { resolveAddress } from "../socket/getaddrinfo.ts";
import { unsupportedOption } from "../socket/net-stream-backend.ts";
import { DatagramBackendBase } from "../socket/not-a-stream.ts";
import { READABLE, type Readiness, UNBOUND_DATAGRAM, WRITABLE } from "../socket/readiness.ts";
import type { BackendOptions, BindOptions, SocketBackend } from "../socket/socket-backend.ts";
import { Waiters } from "../socket/waiters.ts";
import { DatagramBatch } from "./datagram-batch.ts";
import type { NativeAddon, NativeAddress } from "./index.ts";
import type { Reactor, ReactorError, ReactorHandler } from "./reactor.ts";
import { SockaddrCache } from "./sockaddr-cache.ts";

/**
 * A datagram socket on the native reactor: datagrams come in batches into a bounded
 * queue, and `send`/`sendto` go straight to the kernel (sendto(2)), waiting for room only
 * when it has none.
 *
 * UDP (AF_INET, AF_INET6) has the contract of node:dgram's `DgramBackend`: datagrams are
 * read with recvmmsg; the descriptor is made when first needed (bind, connect, sendto, or
 * a receive that must wait), with the options set before; what arrives while the queue is
 * full is dropped and counted; a connected socket sends only to its peer; once bound it
 * keeps the process alive, as node:dgram's does.
 *
 * AF_UNIX has the contract of the addon's per-socket `NativeBackend`, which is Python's:
 * the descriptor is made at once; each datagram is read whole, however long; nothing is
 * dropped (a Unix datagram socket is reliable): a full queue stops reading, so the
 * kernel's queue fills and senders wait; each `sendto` is its own system call, so a peer
 * whose queue is full holds back only what is sent to it; `send`, `shutdown` and the
 * options go to the kernel as they are; only a call that waits keeps the process alive.
 */
export class ReactorDatagramBackend extends DatagramBackendBase implements SocketBackend {
  readonly #family: number;
  readonly #unix: boolean;
  readonly #reactor: Reactor;
  readonly #addon: NativeAddon;
  readonly #maxDatagrams: number;
  readonly #maxBytes: number;
  readonly #addresses: SockaddrCache;
  #fd = -1;
  #id = -1;
  #bound = false;
  #connected = false;
  #closed = false;
  #ref = true;
  #reuseAddr = 0;
  #reusePort = 0;
  #recvBuf = 0;
  #sendBuf = 0;
  /** Received datagrams not yet read, each as recvfrom returns it: a ring. */
  #queue: ([Buffer, SocketAddress] | undefined)[] = new Array(16);
  #head = 0;
  #length = 0;
  #queuedBytes = 0;
  #dropped = 0;
  #error: ReactorError | null = null;
  /** AF_UNIX: reading stopped because the queue is full (see {@link #onDatagram}). */
  #paused = false;
  /** AF_UNIX: calls waiting on the socket, which keep the process alive meanwhile. */
  #waiting = 0;
  readonly #readers = new Waiters();
  readonly #writers = new Waiters();
  /**
   * Datagrams `sendto` staged, sent together in one sendmmsg by a microtask (see
   * {@link #stage}); the promise of each, in order.
   */
  readonly #outbox = new DatagramBatch();
  #outboxSent: ((n: number) => void)[] = [];
  #outboxFailed: ((err: unknown) => void)[] = [];
  #outboxTo: Address[] = [];
  #outboxLength: number[] = [];
  #outboxHead = 0;
  /**
   * A sendto went at once, and the microtask that sends what is staged after it is
   * queued: until it runs, sendto stages.
   */
  #wave = false;
  readonly #flushOutbox = () => {
    this.#wave = false;
    this.#flush();
  };
  /** A bound socket's "receive on ADDRESS", made on the first wait. */
  #receiveLabel: string | null = null;

  readonly #handler: ReactorHandler = {
    onDatagramIn: (batch, at, length, addressAt, addressLength) =>
      this.#onDatagram(batch, at, length, addressAt, addressLength),
    onError: (err) => {
      // An ICMP error on a connected socket: the next receive raises it; the socket goes on.
      this.#error ??= err;
      this.#readers.wake();
    },
    onWritable: () => this.#writers.wake(),
  };

  readonly #readiness: Readiness = {
    // Sending waits only while the kernel's buffer is full, which the call itself tells.
    ready: (events) =>
      (events & WRITABLE) |
      (this.#length > 0 || this.#error !== null || this.#closed ? events & READABLE : 0),
    watch: (events, wake) => {
      if ((events & READABLE) === 0) return NOTHING_TO_CANCEL;
      if (!this.#unix) return this.#readers.watch(wake);
      // A Unix socket's watcher holds the process until woken or cancelled.
      let held = true;
      this.#hold(1);
      const release = () => {
        if (held) this.#hold(-1);
        held = false;
      };
      const cancel = this.#readers.watch(() => {
        release();
        wake();
      });
      return () => {
        release();
        cancel();
      };
    },
    fileno: () => this.fileno(),
  };

  constructor(family: number, reactor: Reactor, addon: NativeAddon, options: BackendOptions = {}) {
    super();
    this.#family = family;
    this.#unix = family === AF_UNIX;
    this.#reactor = reactor;
    this.#addon = addon;
    this.#maxDatagrams = options.maxQueuedDatagrams ?? 4096;
    this.#maxBytes = options.maxQueuedBytes ?? 4 * 1024 * 1024;
    this.#addresses = new SockaddrCache(family, (host) =>
      reactor.encodeAddress(
        family === AF_UNIX
          ? { family: "unix", path: Buffer.from(host, "utf8") }
          : family === AF_INET6
            ? { family: "inet6", host, port: 0 }
            : { family: "inet", host, port: 0 },
      ),
    );
    // As Python's socket() does, and fileno() is the descriptor from the start.
    if (this.#unix) this.#open(`create ${UNIX_DGRAM}`);
  }

  get connected(): boolean {
    return this.#connected;
  }

  get droppedDatagrams(): number {
    return this.#dropped;
  }

  get droppedConnections(): number {
    return 0;
  }

  /** Whether the socket is bound (so SO_REUSEPORT can no longer be set). */
  get bound(): boolean {
    return this.#bound;
  }

  /** The descriptor, made and registered (reading, not yet keeping the loop alive) on first use. */
  #open(action: string): number {
    if (this.#closed) throw badState(`Cannot ${action}: socket is closed`, "EBADF");
    if (this.#id >= 0) return this.#id;
    let fd: number;
    try {
      fd = this.#addon.socket(this.#family, SOCK_DGRAM, 0);
    } catch (err) {
      throw toSocketError(err, this.#unix ? `create ${UNIX_DGRAM}` : "create socket");
    }
    try {
      if (this.#reuseAddr) this.#addon.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
      if (this.#reusePort) this.#addon.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
      if (this.#recvBuf) this.#addon.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, this.#recvBuf);
      if (this.#sendBuf) this.#addon.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, this.#sendBuf);
      this.#id = this.#reactor.register(fd, "datagram", this.#handler, {
        ref: false,
        whole: this.#unix,
      });
    } catch (err) {
      this.#addon.close(fd);
      throw toSocketError(err, action);
    }
    this.#fd = fd;
    return this.#id;
  }

  /** Bound (by bind, connect or a first sendto): from now on it keeps the loop alive, as node:dgram's does. */
  #nowBound(): void {
    if (this.#bound) return;
    this.#bound = true;
    this.#keepAlive();
  }

  /** Tells the reactor whether the socket keeps the loop alive now (see the class). */
  #keepAlive(): void {
    if (this.#id < 0 || this.#closed) return;
    this.#reactor.ref(this.#id, this.#ref && (this.#unix ? this.#waiting > 0 : this.#bound));
  }

  /** AF_UNIX: one more (1) or one fewer (-1) call waiting on the socket. */
  #hold(delta: 1 | -1): void {
    const before = this.#waiting > 0;
    this.#waiting += delta;
    if (before !== this.#waiting > 0) this.#keepAlive();
  }

  /** Waits on `waiters`; a Unix socket holds the process meanwhile. */
  async #wait(waiters: Waiters, timeoutMs: number | null, action: string): Promise<void> {
    if (!this.#unix) return waiters.wait(timeoutMs, action);
    this.#hold(1);
    try {
      await waiters.wait(timeoutMs, action);
    } finally {
      this.#hold(-1);
    }
  }

  #onDatagram(
    batch: Buffer,
    at: number,
    length: number,
    addressAt: number,
    addressLength: number,
  ): void {
    if (this.#length >= this.#maxDatagrams || this.#queuedBytes + length > this.#maxBytes) {
      if (!this.#unix) {
        this.#dropped++;
        return;
      }
      // A Unix datagram socket loses nothing: it stops reading, the kernel's queue fills
      // and its senders wait, as they would for a program that reads slowly. The batch
      // under way may still hold some of its datagrams (MAX_MESSAGES at most): kept.
      if (!this.#paused) {
        this.#paused = true;
        this.#reactor.setReading(this.#id, false);
      }
    }
    const from = this.#addresses.decode(batch, addressAt, addressLength);
    // A view would hold the whole batch (other sockets' datagrams too) for as long as it
    // is kept: a datagram that is a small part of it is copied out.
    let own: Buffer;
    if (length * 2 >= batch.length) own = batch.subarray(at, at + length);
    else {
      own = Buffer.allocUnsafe(length);
      batch.copy(own, 0, at, at + length);
    }
    let queue = this.#queue;
    if (this.#length === queue.length) {
      const grown: ([Buffer, SocketAddress] | undefined)[] = new Array(queue.length * 2);
      for (let i = 0; i < this.#length; i++) grown[i] = queue[(this.#head + i) % queue.length];
      this.#queue = queue = grown;
      this.#head = 0;
    }
    queue[(this.#head + this.#length) % queue.length] = [own, from];
    this.#length++;
    this.#queuedBytes += own.length;
    this.#readers.wake();
  }

  #shift(): [Buffer, SocketAddress] | undefined {
    if (this.#length === 0) return undefined;
    const queue = this.#queue;
    const got = queue[this.#head] as [Buffer, SocketAddress];
    queue[this.#head] = undefined;
    this.#head = (this.#head + 1) % queue.length;
    this.#length--;
    this.#queuedBytes -= got[0].length;
    if (
      this.#paused &&
      this.#length <= this.#maxDatagrams >> 1 &&
      this.#queuedBytes <= this.#maxBytes >> 1 &&
      !this.#closed
    ) {
      this.#paused = false;
      this.#reactor.setReading(this.#id, true);
    }
    return got;
  }

  readiness(): Readiness {
    return this.#id < 0 && !this.#closed ? UNBOUND_DATAGRAM : this.#readiness;
  }

  fileno(): number {
    return this.#closed ? -1 : this.#fd;
  }

  setRef(ref: boolean): void {
    this.#ref = ref;
    this.#readers.refTimers = ref;
    this.#writers.refTimers = ref;
    this.#keepAlive();
  }

  async bind(address: Address, _options: BindOptions): Promise<void> {
    const label = formatAddress(address);
    if (this.#bound) throw badState(`Cannot bind ${label}: socket is already bound`, "EINVAL");
    const where = await this.#resolve(address, "bind");
    this.#open(`bind ${label}`);
    try {
      this.#addon.bind(this.#fd, where);
    } catch (err) {
      throw toSocketError(err, `bind ${label}`);
    }
    this.#nowBound();
  }

  /**
   * The address in the addon's form, checked and resolved as every backend does it, so a
   * bad port, host or path raises what it raises on the other backends. A Unix `""` stays
   * as it is (Linux gives it meaning: bind's autobind).
   */
  async #resolve(address: Address, action: string): Promise<NativeAddress> {
    if (this.#unix) {
      const path = address === "" ? "" : checkUnixAddress(address, action);
      return { family: "unix", path: Buffer.from(path, "utf8") };
    }
    return this.#toNative(await resolveAddress(this.#family, address, action));
  }

  #toNative(parts: {
    host: string;
    port: number;
    flowinfo: number;
    scopeId: number;
  }): NativeAddress {
    const { host, port, flowinfo, scopeId } = parts;
    return this.#family === AF_INET6
      ? { family: "inet6", host, port, flowinfo, scopeId }
      : { family: "inet", host, port };
  }

  listen(): void {
    throw badState("Cannot listen: only stream sockets listen", "EOPNOTSUPP");
  }

  async accept(): Promise<[SocketBackend, SocketAddress]> {
    throw badState("Cannot accept: socket is not listening (call bind() and listen())", "EINVAL");
  }

  async connect(address: Address): Promise<void> {
    const label = `connect to ${formatAddress(address)}`;
    const where = await this.#resolve(address, "connect to");
    this.#open(label);
    try {
      this.#addon.connect(this.#fd, where);
    } catch (err) {
      throw toSocketError(err, label);
    }
    this.#connected = true;
    if (!this.#unix) this.#nowBound();
  }

  useTls(): void {
    throw new UnsupportedError("Cannot use TLS: only stream sockets can");
  }

  async connectFrom(address: [string, number]): Promise<void> {
    await this.bind(address, {});
  }

  async send(data: Buffer, timeout: number | null): Promise<number> {
    // Unix: the kernel says what is wrong (ENOTCONN), as Python's send does.
    if (!this.#connected && !this.#unix) {
      if (this.#closed) throw badState("Cannot send: socket is closed", "EBADF");
      throw badState(
        "Cannot send: datagram socket has no destination (use sendto or connect)",
        "EDESTADDRREQ",
      );
    }
    return this.#send(data, null, timeout, "send");
  }

  async sendall(data: Buffer | string, timeout: number | null): Promise<void> {
    await this.send(typeof data === "string" ? Buffer.from(data, "utf8") : data, timeout);
  }

  sendto(data: Buffer, address: Address, timeout: number | null): Promise<number> {
    // Hot path (a server replying): a bound, unconnected, blocking socket (any Unix one)
    // and an IP literal of its family (a valid path), sent without resolving or building
    // labels.
    if ((this.#unix || (this.#bound && !this.#connected)) && !this.#closed && timeout === null) {
      const raw = this.#unix
        ? typeof address === "string"
          ? this.#addresses.encodePath(address)
          : null
        : Array.isArray(address)
          ? this.#addresses.encode(address)
          : null;
      if (raw !== null) {
        if (this.#wave || this.#outbox.length > 0) return this.#stage(data, raw, address);
        let n: number;
        try {
          n = this.#reactor.sendto(this.#id, data, raw);
        } catch (err) {
          return Promise.reject(toSocketError(err, `send to ${formatAddress(address)}`));
        }
        if (n >= 0) {
          // It went at once; the next ones of this wave are staged (see #stage), but not
          // a Unix socket's: its "would block" is one peer's full queue, and a staged
          // datagram waiting for that peer would hold back the others' behind it.
          if (!this.#unix) {
            this.#wave = true;
            queueMicrotask(this.#flushOutbox);
          }
          return Promise.resolve(n);
        }
      }
    }
    return this.#sendtoChecked(data, address, timeout);
  }

  /**
   * Stages a datagram for the sendmmsg of a microtask queued after the first datagram of
   * the wave went at once: the handlers of a server answering a batch of datagrams run in
   * step (one microtask each per await), so their replies come between that first one
   * and the microtask, and leave in one system call (their peers woken once for them, not
   * once each); a loop that awaits each sendto before the next sends each at once. The
   * promise settles as sendto's would: with the length once the kernel took it, or with
   * its error.
   */
  #stage(data: Buffer, raw: Uint8Array, to: Address): Promise<number> {
    if (!this.#outbox.add(data, raw)) {
      this.#flush();
      if (!this.#outbox.add(data, raw)) return this.#sendtoChecked(data, to, null);
    }
    if (!this.#wave) {
      this.#wave = true;
      queueMicrotask(this.#flushOutbox);
    }
    return new Promise<number>((resolve, reject) => {
      this.#outboxSent.push(resolve);
      this.#outboxFailed.push(reject);
      this.#outboxTo.push(to);
      this.#outboxLength.push(data.length);
    });
  }

  /** Sends what is staged, in as few sendmmsg calls as the kernel takes it in. */
  #flush(): void {
    while (this.#outbox.length > 0) {
      if (this.#closed) {
        this.#outbox.clear();
        this.#settle(this.#outboxSent.length - this.#outboxHead, new Error("closed"));
        return;
      }
      let sent: number;
      try {
        sent = this.#outbox.flush(this.#reactor, this.#id);
      } catch (err) {
        this.#settle(1, err); // that datagram is dropped; the rest go on
        continue;
      }
      if (sent < 0) {
        // The kernel's buffer is full: the rest wait for room, as node:dgram's sends do.
        this.#reactor.wantWritable(this.#id);
        this.#writers.watch(this.#flushOutbox);
        return;
      }
      this.#settle(sent, null);
    }
  }

  /** Settles the first `n` staged sends: sent, or failed with `err`. */
  #settle(n: number, err: unknown): void {
    const head = this.#outboxHead;
    for (let i = head; i < head + n; i++) {
      const to = this.#outboxTo[i] as Address;
      if (err === null)
        (this.#outboxSent[i] as (n: number) => void)(this.#outboxLength[i] as number);
      else {
        const action = `send to ${formatAddress(to)}`;
        (this.#outboxFailed[i] as (e: unknown) => void)(
          this.#closed
            ? badState(`Cannot ${action}: socket is closed`, "EBADF")
            : toSocketError(err, action),
        );
      }
    }
    this.#outboxHead = head + n;
    if (this.#outboxHead >= this.#outboxSent.length) {
      this.#outboxSent = [];
      this.#outboxFailed = [];
      this.#outboxTo = [];
      this.#outboxLength = [];
      this.#outboxHead = 0;
    }
  }

  async #sendtoChecked(data: Buffer, address: Address, timeout: number | null): Promise<number> {
    const label = `send to ${formatAddress(address)}`;
    if (this.#unix) {
      // Linux sends a connected Unix socket's datagram where it is told to, as Python does.
      const where = this.#reactor.encodeAddress(await this.#resolve(address, "send to"));
      this.#open(label);
      return this.#send(data, where, timeout, label);
    }
    const parts = await resolveAddress(this.#family, address, "send to");
    this.#open(label);
    if (this.#connected) {
      // Linux sends to any address; Node.js's connected datagram socket only to its peer,
      // and socketkit's UDP sockets do as node:dgram's do, whichever backend they are on.
      const peer = this.getpeername() as [string, number];
      if (peer[0] === parts.host && peer[1] === parts.port) return this.send(data, timeout);
      throw badState(
        `Cannot ${label}: the socket is connected to ${formatAddress(peer)}, and Node.js sends a connected datagram socket's datagrams only there (use an unconnected socket)`,
        "EISCONN",
      );
    }
    // The cache's buffer is reused by the next sendto, and this one may wait: a copy.
    const raw = this.#addresses.encode([parts.host, parts.port, parts.flowinfo, parts.scopeId]);
    const where =
      raw === null ? this.#reactor.encodeAddress(this.#toNative(parts)) : Buffer.from(raw);
    const n = await this.#send(data, where, timeout, label);
    this.#nowBound();
    return n;
  }

  /** sendto(2) now, or when the kernel has room (within the timeout). */
  async #send(
    data: Buffer,
    where: Uint8Array | null,
    timeout: number | null,
    action: string,
  ): Promise<number> {
    const deadline = deadlineFrom(timeout);
    // What is staged goes first: datagrams leave in the order they were sent.
    if (this.#outbox.length > 0) this.#flush();
    for (;;) {
      if (this.#closed) throw badState(`Cannot ${action}: socket is closed`, "EBADF");
      if (this.#outbox.length > 0) {
        await this.#wait(this.#writers, waitMs(timeout, deadline), action);
        continue;
      }
      let n: number;
      try {
        n = this.#reactor.sendto(this.#id, data, where);
      } catch (err) {
        throw toSocketError(err, action);
      }
      if (n >= 0) return n;
      this.#reactor.wantWritable(this.#id);
      await this.#wait(this.#writers, waitMs(timeout, deadline), action);
    }
  }

  takeDatagram(bufsize: number): [Buffer, SocketAddress] | undefined {
    if (this.#closed) return undefined;
    const got = this.#shift();
    if (got === undefined || got[0].length <= bufsize) return got;
    return [got[0].subarray(0, bufsize), got[1]];
  }

  async recvfrom(bufsize: number, timeout: number | null): Promise<[Buffer, SocketAddress]> {
    const got = this.takeDatagram(bufsize);
    if (got !== undefined) return got;
    this.#open("receive");
    const deadline = deadlineFrom(timeout);
    for (;;) {
      const err = this.#takeError("receive");
      if (err !== null) throw err;
      if (this.#closed) throw badState("Cannot receive: socket is closed", "EBADF");
      // Not bound yet: it waits as Linux does, until its timeout, or until a sendto binds
      // it and a datagram comes.
      await this.#wait(this.#readers, waitMs(timeout, deadline), this.#receiveAction());
      const next = this.takeDatagram(bufsize);
      if (next !== undefined) return next;
    }
  }

  #takeError(action: string): SocketError | null {
    const err = this.#error;
    if (err === null) return null;
    this.#error = null;
    return toSocketError(err, action);
  }

  /** What a receive waits for, as its timeout names it (made once: getsockname is a system call). */
  #receiveAction(): string {
    if (!this.#bound) return "receive on an unbound datagram socket";
    this.#receiveLabel ??= `receive on ${formatAddress(this.getsockname())}`;
    return this.#receiveLabel;
  }

  shutdown(how: number): void {
    if (!this.#unix) throw badState("Cannot shutdown: socket is not connected", "ENOTCONN");
    try {
      this.#addon.shutdown(this.#fd, how);
    } catch (err) {
      throw toSocketError(err, "shutdown");
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // What was staged leaves first, as a datagram node:dgram was sending would.
    if (this.#outbox.length > 0) this.#flush();
    this.#closed = true;
    this.#queue = new Array(16);
    this.#head = 0;
    this.#length = 0;
    this.#queuedBytes = 0;
    if (this.#id >= 0) this.#reactor.close(this.#id);
    this.#readers.wake();
    this.#writers.wake();
    this.#flush(); // what could not leave fails as closed
  }

  setsockopt(level: number, option: number, v: number | Buffer): void {
    if (this.#unix) {
      // The kernel takes what it takes, as on the addon's other sockets.
      try {
        this.#addon.setsockopt(this.#fd, level, option, v);
      } catch (err) {
        throw toSocketError(err, "setsockopt");
      }
      return;
    }
    if (typeof v !== "number") {
      throw unsupportedOption("setsockopt", level, option, this.#family, SOCK_DGRAM);
    }
    if (level === SOL_SOCKET) {
      switch (option) {
        case SO_REUSEADDR:
          this.#reuseAddr = v ? 1 : 0;
          this.#apply(option, this.#reuseAddr);
          return;
        case SO_REUSEPORT:
          if (this.#bound) {
            throw badState("Cannot setsockopt SO_REUSEPORT: set it before bind()", "EINVAL");
          }
          this.#reusePort = v ? 1 : 0;
          this.#apply(option, this.#reusePort);
          return;
        case SO_RCVBUF:
          this.#recvBuf = v;
          this.#apply(option, v);
          return;
        case SO_SNDBUF:
          this.#sendBuf = v;
          this.#apply(option, v);
          return;
      }
    }
    throw unsupportedOption("setsockopt", level, option, this.#family, SOCK_DGRAM);
  }

  /** Sets an option on the descriptor, when there is one yet (else `#open` will). */
  #apply(option: number, value: number): void {
    if (this.#fd < 0 || this.#closed) return;
    try {
      this.#addon.setsockopt(this.#fd, SOL_SOCKET, option, value);
    } catch (err) {
      throw toSocketError(err, "setsockopt");
    }
  }

  getsockopt(level: number, option: number): number {
    if (this.#unix) {
      try {
        return this.#addon.getsockopt(this.#fd, level, option);
      } catch (err) {
        throw toSocketError(err, "getsockopt");
      }
    }
    if (level === SOL_SOCKET) {
      switch (option) {
        case SO_REUSEADDR:
          return this.#reuseAddr;
        case SO_REUSEPORT:
          return this.#reusePort;
        case SO_RCVBUF:
        case SO_SNDBUF:
          if (this.#fd < 0) return option === SO_RCVBUF ? this.#recvBuf : this.#sendBuf;
          try {
            return this.#addon.getsockopt(this.#fd, SOL_SOCKET, option);
          } catch (err) {
            throw toSocketError(err, "getsockopt");
          }
      }
    }
    throw unsupportedOption("getsockopt", level, option, this.#family, SOCK_DGRAM);
  }

  getsockname(): SocketAddress {
    if (this.#fd >= 0 && !this.#closed) {
      try {
        return fromNative(this.#addon.getsockname(this.#fd, false), this.#family);
      } catch (err) {
        throw toSocketError(err, "getsockname");
      }
    }
    return fromNative(null, this.#family);
  }

  getpeername(): SocketAddress {
    if (this.#connected && !this.#closed) {
      try {
        return fromNative(this.#addon.getsockname(this.#fd, true), this.#family);
      } catch (err) {
        throw toSocketError(err, "getpeername");
      }
    }
    throw badState("Cannot getpeername: socket is not connected", "ENOTCONN");
  }
}

const NOTHING_TO_CANCEL = (): void => {};

const UNIX_DGRAM = "AF_UNIX SOCK_DGRAM socket";

/** An address from the addon as Python gives it: a 4-tuple for AF_INET6, a path for AF_UNIX. */
function fromNative(address: NativeAddress | null, family: number): SocketAddress {
  if (family === AF_UNIX) return address?.family === "unix" ? address.path.toString("utf8") : "";
  if (address === null || address.family === "unix") {
    return family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
  }
  if (address.family === "inet6") {
    return [address.host, address.port, address.flowinfo ?? 0, address.scopeId ?? 0];
  }
  return [address.host, address.port];
}
