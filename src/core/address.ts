/**
 * Socket addresses as Python has them: `[host, port]` for AF_INET,
 * `[host, port, flowinfo, scopeId]` for AF_INET6 and a path string for AF_UNIX.
 * Parsing, checking and formatting only; resolving names is `socket/getaddrinfo.ts`.
 *
 * @example
 * ```ts
 * import { formatAddress } from "socketkit";
 * formatAddress(["::1", 80, 0, 0]); // "[::1]:80"
 * ```
 * @module
 */
import { isIP } from "node:net";
import { AF_INET, AF_INET6, AF_UNIX, familyName } from "./constants.ts";
import { SocketError } from "./errors.ts";

/** An IPv4 address: `[host, port]`. */
export type InetAddress = [host: string, port: number];
/** An IPv6 address: `[host, port, flowinfo, scopeId]` (the last two may be left out). */
export type Inet6Address =
  | [host: string, port: number]
  | [host: string, port: number, flowinfo: number, scopeId: number];
/** A Unix socket path; a leading NUL (`"\0name"`) is an abstract name. */
export type UnixAddress = string;
/** Any address `bind`, `connect` and `sendto` take. */
export type Address = InetAddress | Inet6Address | UnixAddress;
/** An address as `getsockname`, `accept` and `recvfrom` return it. */
export type SocketAddress = InetAddress | [string, number, number, number] | UnixAddress;

/** The host and port of an IP address, checked. */
export interface HostPort {
  /** The IP address or host name, as given. */
  host: string;
  /** The port, 0-65535. */
  port: number;
}

function invalid(message: string): SocketError {
  return new SocketError(message, { code: "EINVAL" });
}

/** A checked IP address: its host and port, and an IPv6 tuple's flowinfo and scope id (else 0). */
export interface InetParts extends HostPort {
  /** IPv6 flow label, 0-1048575 (0 for IPv4). */
  flowinfo: number;
  /** IPv6 scope (interface index) of a link-local address, 0 when none. */
  scopeId: number;
}

/**
 * Checks an IP address tuple and returns its parts. Throws `SocketError` (`EINVAL`)
 * naming the problem, as Python's `TypeError`/`OverflowError` would: a port outside
 * 0-65535 or not an integer, a host that is not a string, a flowinfo outside 0-1048575.
 */
export function checkInetAddress(family: number, address: unknown, action: string): InetParts {
  // AF_INET takes a pair, as Python's TypeError says; AF_INET6 also flowinfo and scope id.
  const most = family === AF_INET ? 2 : 4;
  if (!Array.isArray(address) || address.length < 2 || address.length > most) {
    throw invalid(
      `Cannot ${action}: ${familyName(family)} address must be ${most === 2 ? "a pair " : ""}[host, port], got ${JSON.stringify(address)}`,
    );
  }
  const [host, port] = address as unknown[];
  if (typeof host !== "string") {
    throw invalid(`Cannot ${action}: host must be a string, got ${JSON.stringify(host)}`);
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalid(`Cannot ${action}: port must be 0-65535, got ${JSON.stringify(port)}`);
  }
  const [flowinfo = 0, scopeId = 0] = (address as unknown[]).slice(2);
  if (!isUint(flowinfo, 0xfffff)) {
    throw invalid(`Cannot ${action}: flowinfo must be 0-1048575, got ${JSON.stringify(flowinfo)}`);
  }
  if (!isUint(scopeId, 0xffffffff)) {
    throw invalid(
      `Cannot ${action}: scope id must be 0-4294967295, got ${JSON.stringify(scopeId)}`,
    );
  }
  return { host, port, flowinfo, scopeId };
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max;
}

/**
 * Checks a Unix socket address: a path of at most 107 bytes (sun_path's 108, less the NUL
 * that ends a path), or an abstract name (starting with NUL, Linux) of at most 108.
 */
export function checkUnixAddress(address: unknown, action: string): string {
  if (typeof address !== "string" || address.length === 0) {
    throw invalid(
      `Cannot ${action}: AF_UNIX address must be a path, got ${JSON.stringify(address)}`,
    );
  }
  const abstract = address.startsWith("\0");
  const max = abstract ? 108 : 107;
  if (Buffer.byteLength(address) > max) {
    throw invalid(
      `Cannot ${action}: AF_UNIX ${abstract ? "abstract name" : "path"} ${JSON.stringify(address)} is longer than ${max} bytes`,
    );
  }
  return address;
}

/**
 * The host to bind for Python's special names: `""` is every interface and
 * `"<broadcast>"` is 255.255.255.255. Other hosts are returned unchanged.
 */
export function bindHost(family: number, host: string): string {
  if (host === "") return family === AF_INET6 ? "::" : "0.0.0.0";
  if (host === "<broadcast>") return "255.255.255.255";
  return host;
}

/** The IP version (4 or 6) a literal address has, 0 for a name. */
export function ipVersion(host: string): 0 | 4 | 6 {
  return isIP(host) as 0 | 4 | 6;
}

/** Builds the Python-style tuple for a host and port Node reports. */
export function toSocketAddress(family: number, host: string, port: number): SocketAddress {
  if (family === AF_INET6) {
    const pct = host.indexOf("%");
    const scope = pct >= 0 ? Number(host.slice(pct + 1)) : 0;
    return [host, port, 0, Number.isInteger(scope) ? scope : 0];
  }
  return [host, port];
}

/**
 * `"127.0.0.1:80"`, `"[::1]:80"` or the Unix path (abstract names shown with `@`),
 * for messages and logs.
 */
export function formatAddress(address: Address | SocketAddress | HostPort): string {
  if (typeof address === "string") {
    return address.startsWith("\0") ? `@${address.slice(1)}` : address;
  }
  // Not trusted to be well formed: a message about a malformed address formats it too.
  if (typeof address !== "object" || address === null) return String(address);
  const host = String(Array.isArray(address) ? address[0] : address.host);
  const port = Array.isArray(address) ? address[1] : address.port;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The host of a peer's address: its IP address, or the path of a Unix socket. */
export function hostOf(address: SocketAddress): string {
  return typeof address === "string" ? address : address[0];
}

/** `[::1]` → `::1`: a host without the brackets an IPv6 address is written in; else unchanged. */
export function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The address family a Python-style address implies: a string is AF_UNIX, a 4-tuple AF_INET6. */
export function familyOfAddress(address: Address): number {
  if (typeof address === "string") return AF_UNIX;
  if (address.length === 4 || ipVersion(address[0]) === 6) return AF_INET6;
  return AF_INET;
}

/** The warning to print when `host` means every interface, else null. */
export function allInterfacesWarning(host: string, unix?: string): string | null {
  if (unix !== undefined || !isAllInterfaces(host)) return null;
  return "warning: listening on all interfaces: other machines can connect";
}

/** `""`, `0.0.0.0`, and every spelling of `::` (`::0`, `0:0:0:0:0:0:0:0`, `[::]`). */
function isAllInterfaces(host: string): boolean {
  const ip = unbracket(host);
  if (ip === "" || ip === "0.0.0.0") return true;
  return isIP(ip) === 6 && /^[0:]+$/.test(ip);
}
