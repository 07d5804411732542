/**
 * Socket constants with the names and (Linux) values Python's `socket` module uses,
 * so programs ported from Python read the same and can print the same numbers.
 *
 * @example
 * ```ts
 * import { AF_INET, SOCK_STREAM, socket } from "socketkit";
 * const s = socket(AF_INET, SOCK_STREAM);
 * ```
 * @module
 */

/** Unix domain sockets (a path in the file system, or an abstract name). */
export const AF_UNIX = 1;
/** IPv4. */
export const AF_INET = 2;
/** IPv6. */
export const AF_INET6 = 10;

/** Reliable, ordered byte stream (TCP, or a Unix stream socket). */
export const SOCK_STREAM = 1;
/** Datagrams (UDP, or a Unix datagram socket). */
export const SOCK_DGRAM = 2;
/** Raw packets (needs the native addon and privileges). */
export const SOCK_RAW = 3;
/** Reliable, ordered datagrams with kept boundaries (needs the native addon). */
export const SOCK_SEQPACKET = 5;

/** `shutdown()`: no more receiving. */
export const SHUT_RD = 0;
/** `shutdown()`: no more sending (sends FIN; the socket can still receive). */
export const SHUT_WR = 1;
/** `shutdown()`: both directions. */
export const SHUT_RDWR = 2;

/** `setsockopt` level for socket-wide options. */
export const SOL_SOCKET = 1;
/** Allow binding an address in TIME_WAIT. */
export const SO_REUSEADDR = 2;
/** Enable TCP keep-alive probes. */
export const SO_KEEPALIVE = 9;
/** Send buffer size. */
export const SO_SNDBUF = 7;
/** Receive buffer size. */
export const SO_RCVBUF = 8;
/** Bind several sockets to one port (needs Node.js >= 22.12 or the native addon). */
export const SO_REUSEPORT = 15;
/**
 * What `close()` does with bytes not yet sent: its value is Python's `struct.pack("ii",
 * l_onoff, l_linger)`, 8 bytes. On, with 0 seconds, `close()` drops them and resets the
 * connection (RST) at once.
 */
export const SO_LINGER = 13;

/** Protocol number of ICMP. */
export const IPPROTO_ICMP = 1;
/** Protocol number of TCP, also the `setsockopt` level for TCP options. */
export const IPPROTO_TCP = 6;
/** Protocol number of UDP. */
export const IPPROTO_UDP = 17;
/** Disable Nagle's algorithm. */
export const TCP_NODELAY = 1;

/** Address family numbers. */
export type AddressFamily = typeof AF_UNIX | typeof AF_INET | typeof AF_INET6;
/** Socket type numbers. */
export type SocketKind =
  | typeof SOCK_STREAM
  | typeof SOCK_DGRAM
  | typeof SOCK_RAW
  | typeof SOCK_SEQPACKET;

/** The largest payload of one UDP datagram over IPv4 (65535 - 8 - 20). */
export const MAX_UDP_PAYLOAD = 65507;

/** Names for messages: `familyName(AF_INET)` is `"AF_INET"`. */
export function familyName(family: number): string {
  switch (family) {
    case AF_UNIX:
      return "AF_UNIX";
    case AF_INET:
      return "AF_INET";
    case AF_INET6:
      return "AF_INET6";
    default:
      return `family ${family}`;
  }
}

/** Names for messages: `kindName(SOCK_DGRAM)` is `"SOCK_DGRAM"`. */
export function kindName(kind: number): string {
  switch (kind) {
    case SOCK_STREAM:
      return "SOCK_STREAM";
    case SOCK_DGRAM:
      return "SOCK_DGRAM";
    case SOCK_RAW:
      return "SOCK_RAW";
    case SOCK_SEQPACKET:
      return "SOCK_SEQPACKET";
    default:
      return `type ${kind}`;
  }
}
