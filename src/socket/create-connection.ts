import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { type Address, checkInetAddress, formatAddress } from "../core/address.ts";
import { AF_UNIX, SOCK_STREAM } from "../core/constants.ts";
import { type SocketError, toSocketError } from "../core/errors.ts";
import { getaddrinfo } from "./getaddrinfo.ts";
import { kConnectFrom, kConnectTls } from "./internal.ts";
import { Socket, type SocketOptions } from "./socket.ts";

/** Options of {@link createConnection}. */
export interface CreateConnectionOptions extends SocketOptions {
  /**
   * Seconds for each connection attempt, and the socket's timeout afterwards; `null`
   * blocks. @default getdefaulttimeout() (null unless `setdefaulttimeout` was called)
   */
  timeout?: number | null;
  /** Local `[host, port]` to connect from. @default undefined (the kernel picks) */
  sourceAddress?: [string, number];
  /**
   * Run TLS over the connection, with these `node:tls` options (the server name is the
   * host unless given). The certificate is verified unless `rejectUnauthorized: false`.
   * @default undefined (plain TCP)
   */
  tls?: ConnectionOptions;
  /** With `tls`: accept only a server whose certificate has this SHA-256 fingerprint. */
  fingerprint256?: string;
  /**
   * When no address connects, reject with an `AggregateError` holding every attempt's
   * error in order (Python's `all_errors=True`, which raises an `ExceptionGroup`) instead
   * of the last attempt's error alone. @default false
   */
  allErrors?: boolean;
}

/**
 * Connects to a TCP service, as Python's `socket.create_connection`: resolves the host,
 * tries every address in turn (IPv6 and IPv4), and returns the first socket that
 * connects, or throws the last attempt's error (with `allErrors`, an `AggregateError` of
 * them all). A string address is a Unix socket path.
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * await using s = await createConnection(["localhost", 5000], { timeout: 5 });
 * await s.sendall("hello\n");
 * ```
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * try {
 *   await createConnection(["localhost", 9], { allErrors: true });
 * } catch (err) {
 *   if (err instanceof AggregateError) for (const e of err.errors) console.log(e.message);
 * }
 * ```
 */
export async function createConnection(
  address: Address,
  options: CreateConnectionOptions = {},
): Promise<Socket> {
  if (typeof address === "string") {
    const s = new Socket(AF_UNIX, SOCK_STREAM, 0, options);
    if (options.tls) s[kConnectTls](options.tls, options.fingerprint256);
    try {
      if (options.timeout !== undefined) s.settimeout(options.timeout);
      await s.connect(address);
    } catch (err) {
      await s.close();
      throw options.allErrors ? allFailed([toSocketError(err, "connect")], address) : err;
    }
    return s;
  }
  const { host, port } = checkInetAddress(0, address, "connect");
  const infos = await getaddrinfo(host === "" ? "localhost" : host, port, { type: SOCK_STREAM });
  const errors: SocketError[] = [];
  for (const [family, , , , sockaddr] of infos) {
    const s = new Socket(family, SOCK_STREAM, 0, options);
    try {
      if (options.timeout !== undefined) s.settimeout(options.timeout);
      if (options.sourceAddress) await s[kConnectFrom](options.sourceAddress);
      if (options.tls) {
        const servername = options.tls.servername ?? (isIP(host) ? undefined : host);
        s[kConnectTls](
          { ...options.tls, ...(servername ? { servername } : {}) },
          options.fingerprint256,
        );
      }
      await s.connect(sockaddr as Address);
      return s;
    } catch (err) {
      errors.push(toSocketError(err, `connect to ${formatAddress(sockaddr)}`));
      await s.close();
    }
  }
  if (errors.length === 0) {
    throw toSocketError({ code: "EAI_NONAME" }, `connect to ${formatAddress([host, port])}`);
  }
  if (options.allErrors) throw allFailed(errors, [host, port]);
  // As Python, the last error: the first may be an IPv6 address that was never reachable.
  throw errors[errors.length - 1];
}

function allFailed(errors: SocketError[], address: Address): AggregateError {
  const n = errors.length;
  return new AggregateError(
    errors,
    `Cannot connect to ${formatAddress(address)}: ${n === 1 ? "the address" : `all ${n} addresses`} failed`,
  );
}
