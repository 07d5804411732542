/**
 * socketkit: Python's `socket` module for Node.js, as promises.
 *
 * @example
 * ```ts
 * import { AF_INET, SOCK_STREAM, socket } from "socketkit";
 * await using server = socket(AF_INET, SOCK_STREAM);
 * await server.bind(["127.0.0.1", 0]);
 * server.listen(5);
 * const [conn, addr] = await server.accept();
 * ```
 * @module
 */

export {
  LengthPrefixCodec,
  type LengthPrefixCodecOptions,
  LineSplitter,
  type LineSplitterOptions,
} from "./codec/index.ts";
export {
  AccessList,
  type AccessListOptions,
  type AccessRefusal,
} from "./core/access-list.ts";
export * from "./core/address.ts";
export * from "./core/constants.ts";
export * from "./core/errors.ts";
export { hasNative } from "./native/index.ts";

// Gives the socket layer the native addon: the socket types Node.js lacks (Unix datagram,
// SOCK_SEQPACKET, raw, ICMP), dup/detach, and the bulk transfers.
import "./native/register.ts";

export {
  BufferedReader,
  type BufferedReaderOptions,
  DEFAULT_MAX_LINE_LENGTH,
  type ReadlineOptions,
} from "./socket/buffered-reader.ts";
export { BufferedRWPair } from "./socket/buffered-rw-pair.ts";
export { type CreateConnectionOptions, createConnection } from "./socket/create-connection.ts";
export { type CreateServerOptions, createServer } from "./socket/create-server.ts";
export { getdefaulttimeout, setdefaulttimeout } from "./socket/default-timeout.ts";
export {
  type AddrInfo,
  type GetaddrinfoOptions,
  getaddrinfo,
  gethostname,
} from "./socket/getaddrinfo.ts";
export {
  getnameinfo,
  NI_DGRAM,
  NI_NAMEREQD,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
} from "./socket/getnameinfo.ts";
export { has_dualstack_ipv6 } from "./socket/has-dualstack-ipv6.ts";
export {
  getfqdn,
  gethostbyaddr,
  gethostbyname,
  gethostbyname_ex,
  type HostEntry,
} from "./socket/host-names.ts";
export {
  htonl,
  htons,
  inet_aton,
  inet_ntoa,
  inet_ntop,
  inet_pton,
  ntohl,
  ntohs,
} from "./socket/inet.ts";
export { type GetservOptions, getservbyname, getservbyport } from "./socket/netdb.ts";
export { type BindOptions, Socket, type SocketOptions, socket } from "./socket/socket.ts";
export { socketpair } from "./socket/socketpair.ts";
export { Writer } from "./socket/writer.ts";
