import type { TlsOptions } from "node:tls";
import type { Address, SocketAddress } from "../core/address.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SO_REUSEADDR,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { Socket, type SocketOptions } from "./socket.ts";

/** Options of {@link createServer}. */
export interface CreateServerOptions extends SocketOptions {
  /** `AF_INET`, `AF_INET6`, or `AF_UNIX` (then the address is a path). @default AF_INET */
  family?: number;
  /** How many connections may wait for `accept()`. @default 511 */
  backlog?: number;
  /** Set SO_REUSEPORT so several processes can share the port. @default false */
  reusePort?: boolean;
  /** With AF_INET6, accept IPv4 clients too (IPV6_V6ONLY off). @default false */
  dualstackIpv6?: boolean;
  /** Serve TLS with these `node:tls` options (`key`, `cert`...). @default undefined */
  tls?: TlsOptions;
  /**
   * Checks each peer (its address as `accept()` gives it; `""` on a Unix socket) the
   * moment it connects, before anything is read and before a TLS handshake. A peer it
   * refuses (or that makes it throw) is closed at once and never returned by `accept()`.
   * @default undefined (every peer is accepted)
   */
  admit?: (peer: SocketAddress) => boolean;
}

/**
 * Binds and listens, as Python's `socket.create_server`: SO_REUSEADDR on, and for
 * AF_INET6 IPv6 only unless `dualstackIpv6`.
 *
 * @example
 * ```ts
 * import { createServer } from "socketkit";
 * await using server = await createServer(["127.0.0.1", 0]);
 * console.log(server.getsockname()); // ["127.0.0.1", 40123]
 * for await (const [conn] of server) { await conn.sendall("hi\n"); await conn.close(); }
 * ```
 */
export async function createServer(
  address: Address,
  options: CreateServerOptions = {},
): Promise<Socket> {
  const family = options.family ?? (typeof address === "string" ? AF_UNIX : AF_INET);
  const s = new Socket(family, SOCK_STREAM, 0, options);
  try {
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    await s.bind(address, {
      ipv6Only: family === AF_INET6 && !options.dualstackIpv6,
      reusePort: options.reusePort ?? false,
      backlog: options.backlog,
      tls: options.tls,
      admit: options.admit,
    });
    s.listen(options.backlog);
  } catch (err) {
    await s.close();
    throw err;
  }
  return s;
}
