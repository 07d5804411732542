import {
  type Address,
  formatAddress,
  ipVersion,
  type SocketAddress,
  toSocketAddress,
} from "../core/address.ts";
import {
  AF_INET6,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { toSocketError, UnsupportedError } from "../core/errors.ts";
import { badState } from "./checks.ts";
import { DatagramEndpoint } from "./datagram-endpoint.ts";
import { deadlineFrom, waitMs } from "./deadline.ts";
import { resolveAddress } from "./getaddrinfo.ts";
import { unsupportedOption } from "./net-stream-backend.ts";
import { DatagramBackendBase } from "./not-a-stream.ts";
import { type Readiness, UNBOUND_DATAGRAM } from "./readiness.ts";
import type { BackendOptions, BindOptions, SocketBackend } from "./socket-backend.ts";

/**
 * A UDP socket on node:dgram. The dgram socket is made when first needed (bind, connect,
 * sendto, or a receive that must wait), with the options set before.
 */
export class DgramBackend extends DatagramBackendBase implements SocketBackend {
  readonly #family: number;
  readonly #options: BackendOptions;
  #dgram: DatagramEndpoint | null = null;
  #reuseAddr = 0;
  #reusePort = 0;
  #recvBuf = 0;
  #sendBuf = 0;
  #ref = true;
  #closed = false;
  /** A bound socket's "receive on ADDRESS", made on the first wait. */
  #receiveLabel: string | null = null;

  constructor(family: number, options: BackendOptions = {}) {
    super();
    this.#family = family;
    this.#options = options;
  }

  get connected(): boolean {
    return this.#dgram?.connected ?? false;
  }

  get droppedDatagrams(): number {
    return this.#dgram?.dropped ?? 0;
  }

  get droppedConnections(): number {
    return 0;
  }

  /** Whether the socket is bound (so SO_REUSEPORT can no longer be set). */
  get bound(): boolean {
    return this.#dgram?.bound ?? false;
  }

  #datagram(): DatagramEndpoint {
    if (this.#dgram === null) {
      this.#dgram = new DatagramEndpoint(this.#family === AF_INET6 ? "udp6" : "udp4", {
        reuseAddr: this.#reuseAddr !== 0,
        reusePort: this.#reusePort !== 0,
        maxQueuedDatagrams: this.#options.maxQueuedDatagrams,
        maxQueuedBytes: this.#options.maxQueuedBytes,
      });
      if (!this.#ref) this.#dgram.setRef(false);
    }
    return this.#dgram;
  }

  #applyBuffers(): void {
    const d = this.#dgram;
    if (d === null || !d.bound) return;
    try {
      if (this.#recvBuf) d.socket.setRecvBufferSize(this.#recvBuf);
      if (this.#sendBuf) d.socket.setSendBufferSize(this.#sendBuf);
    } catch (err) {
      throw toSocketError(err, "set buffer size");
    }
  }

  readiness(): Readiness {
    return this.#dgram ?? UNBOUND_DATAGRAM;
  }

  fileno(): number {
    return this.#dgram?.fileno() ?? -1;
  }

  setRef(ref: boolean): void {
    this.#ref = ref;
    this.#dgram?.setRef(ref);
  }

  async bind(address: Address, options: BindOptions): Promise<void> {
    if (this.#dgram?.bound) {
      throw badState(`Cannot bind ${formatAddress(address)}: socket is already bound`, "EINVAL");
    }
    const { host, port } = await resolveAddress(this.#family, address, "bind");
    await this.#datagram().bind(host, port, `bind ${formatAddress(address)}`, options.shared);
    this.#applyBuffers();
  }

  listen(): void {
    throw badState("Cannot listen: only stream sockets listen", "EOPNOTSUPP");
  }

  async accept(): Promise<[SocketBackend, SocketAddress]> {
    throw badState("Cannot accept: socket is not listening (call bind() and listen())", "EINVAL");
  }

  async connect(address: Address): Promise<void> {
    const label = formatAddress(address);
    const { host, port } = await resolveAddress(this.#family, address, "connect to");
    await this.#datagram().connect(host, port, `connect to ${label}`);
    this.#applyBuffers();
  }

  useTls(): void {
    throw new UnsupportedError("Cannot use TLS: only stream sockets can");
  }

  async connectFrom(address: [string, number]): Promise<void> {
    await this.bind(address, {});
  }

  async send(data: Buffer): Promise<number> {
    const d = this.#dgram;
    if (d === null || !d.connected) {
      throw badState(
        "Cannot send: datagram socket has no destination (use sendto or connect)",
        "EDESTADDRREQ",
      );
    }
    return d.send(data, undefined, undefined, "send");
  }

  async sendall(data: Buffer | string): Promise<void> {
    await this.send(typeof data === "string" ? Buffer.from(data, "utf8") : data);
  }

  sendto(data: Buffer, address: Address): Promise<number> {
    // Hot path (a server replying): a bound, unconnected socket and an IP literal of its
    // family, sent at once without resolving or building labels.
    const d = this.#dgram;
    if (d?.bound && !d.connected && Array.isArray(address)) {
      const [host, port] = address as unknown[];
      if (
        typeof host === "string" &&
        typeof port === "number" &&
        Number.isInteger(port) &&
        port >= 0 &&
        port <= 65535 &&
        ipVersion(host) === (this.#family === AF_INET6 ? 6 : 4)
      ) {
        return d.send(data, host, port);
      }
    }
    return this.#sendtoChecked(data, address);
  }

  async #sendtoChecked(data: Buffer, address: Address): Promise<number> {
    const label = formatAddress(address);
    const { host, port } = await resolveAddress(this.#family, address, "send to");
    const d = this.#datagram();
    if (d.connected) {
      // Linux sends to any address; Node.js's connected datagram socket only to its peer.
      const peer = this.getpeername() as [string, number];
      if (peer[0] === host && peer[1] === port) return this.send(data);
      throw badState(
        `Cannot send to ${label}: the socket is connected to ${formatAddress(peer)}, and Node.js sends a connected datagram socket's datagrams only there (use an unconnected socket)`,
        "EISCONN",
      );
    }
    const n = await d.send(data, host, port, `send to ${label}`);
    this.#applyBuffers();
    return n;
  }

  takeDatagram(bufsize: number): [Buffer, SocketAddress] | undefined {
    const d = this.#dgram;
    if (d === null || this.#closed) return undefined;
    const dg = d.take();
    if (dg === undefined) return undefined;
    const data = dg.data.length > bufsize ? dg.data.subarray(0, bufsize) : dg.data;
    return [data, toSocketAddress(this.#family, dg.from.address, dg.from.port)];
  }

  async recvfrom(bufsize: number, timeout: number | null): Promise<[Buffer, SocketAddress]> {
    const d = this.#datagram();
    const deadline = deadlineFrom(timeout);
    for (;;) {
      const got = this.takeDatagram(bufsize);
      if (got !== undefined) return got;
      const err = d.takeError("receive");
      if (err) throw err;
      if (d.closed || this.#closed) throw badState("Cannot receive: socket is closed", "EBADF");
      // Not bound yet: it waits as Linux does, until its timeout, or until a sendto binds
      // it and a datagram comes.
      await d.readers.wait(waitMs(timeout, deadline), this.#receiveAction(d));
    }
  }

  /**
   * What a receive waits for, as its timeout names it (made once: getsockname is a system
   * call).
   */
  #receiveAction(d: DatagramEndpoint): string {
    if (!d.bound) return "receive on an unbound datagram socket";
    this.#receiveLabel ??= `receive on ${formatAddress(this.getsockname())}`;
    return this.#receiveLabel;
  }

  shutdown(): void {
    throw badState("Cannot shutdown: socket is not connected", "ENOTCONN");
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#dgram?.close();
  }

  setsockopt(level: number, option: number, v: number): void {
    if (level === SOL_SOCKET) {
      switch (option) {
        case SO_REUSEADDR:
          this.#reuseAddr = v ? 1 : 0;
          return;
        case SO_REUSEPORT:
          if (this.#dgram?.bound) {
            throw badState("Cannot setsockopt SO_REUSEPORT: set it before bind()", "EINVAL");
          }
          // Only a Node.js that can set it gets here: on older lines Socket moves the
          // socket to the native backend first, or refuses.
          this.#reusePort = v ? 1 : 0;
          return;
        case SO_RCVBUF:
          this.#recvBuf = v;
          this.#applyBuffers();
          return;
        case SO_SNDBUF:
          this.#sendBuf = v;
          this.#applyBuffers();
          return;
      }
    }
    throw unsupportedOption("setsockopt", level, option, this.#family, SOCK_DGRAM);
  }

  getsockopt(level: number, option: number): number {
    const d = this.#dgram;
    if (level === SOL_SOCKET) {
      switch (option) {
        case SO_REUSEADDR:
          return this.#reuseAddr;
        case SO_REUSEPORT:
          return this.#reusePort;
        case SO_RCVBUF:
          return d?.bound ? d.socket.getRecvBufferSize() : this.#recvBuf;
        case SO_SNDBUF:
          return d?.bound ? d.socket.getSendBufferSize() : this.#sendBuf;
      }
    }
    throw unsupportedOption("getsockopt", level, option, this.#family, SOCK_DGRAM);
  }

  getsockname(): SocketAddress {
    const d = this.#dgram;
    if (d && (d.bound || d.connected)) {
      try {
        const a = d.socket.address();
        return toSocketAddress(this.#family, a.address, a.port);
      } catch {
        // not bound yet
      }
    }
    return this.#family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
  }

  getpeername(): SocketAddress {
    if (this.#dgram?.connected) {
      const a = this.#dgram.socket.remoteAddress();
      return toSocketAddress(this.#family, a.address, a.port);
    }
    throw badState("Cannot getpeername: socket is not connected", "ENOTCONN");
  }
}
