/**
 * Host names and addresses as Python's `socket.gethostbyname`, `gethostbyname_ex`,
 * `gethostbyaddr` and `getfqdn` give them on Linux: the hosts file first, read as glibc
 * reads it (canonical name, aliases), then the system resolver through Node's `dns`.
 * @module
 */
import { lookup, lookupService } from "node:dns/promises";
import { hostname as osHostname } from "node:os";
import { ipVersion } from "../core/address.ts";
import { errorFromCode, GaiError, SocketError, toSocketError } from "../core/errors.ts";
import { type HostEntry, hostsByAddress, hostsByName } from "./hosts-file.ts";
import { formatPacked, packLiteral, parseInetAton } from "./inet.ts";

export type { HostEntry } from "./hosts-file.ts";

/** Python's `herror` "Unknown host", as socketkit's resolver error. */
function unknownHost(action: string): GaiError {
  return new GaiError(`Cannot ${action}: unknown host`, { code: "EAI_NONAME", errno: -2 });
}

function checkString(value: unknown, action: string): void {
  if (typeof value !== "string") {
    throw new SocketError(`Cannot ${action}: the host must be a string`, { code: "EINVAL" });
  }
}

/** An IPv6 literal, with or without a `%zone`. */
function isIPv6Literal(host: string): boolean {
  return ipVersion(host) === 6;
}

/**
 * Resolves a host name to one IPv4 address, as Python's `socket.gethostbyname`: an IPv4
 * address is returned as it is, `""` is `"0.0.0.0"`, `"<broadcast>"` is
 * `"255.255.255.255"`, and a name is resolved as `getaddrinfo` resolves it (hosts file,
 * then DNS), its first IPv4 address. Throws `GaiError`: `EAI_NONAME` for a name that
 * does not resolve, `EAI_ADDRFAMILY` for an IPv6 address.
 *
 * @example
 * ```ts
 * import { gethostbyname } from "socketkit";
 * console.log(await gethostbyname("localhost")); // "127.0.0.1"
 * ```
 */
export async function gethostbyname(host: string): Promise<string> {
  const action = `resolve ${JSON.stringify(host)} to an IPv4 address`;
  checkString(host, action);
  if (host === "") return "0.0.0.0";
  if (host === "<broadcast>" || host === "255.255.255.255") return "255.255.255.255";
  const literal = packLiteral(host);
  if (literal?.length === 4) return formatPacked(literal);
  if (isIPv6Literal(host)) throw errorFromCode("EAI_ADDRFAMILY", action);
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch (err) {
    throw toSocketError(err, action);
  }
}

/**
 * Resolves a host name to `[hostname, aliases, addresses]` (IPv4 only), as Python's
 * `socket.gethostbyname_ex`: for a name in the hosts file, its canonical name, its
 * aliases and its addresses as glibc reads them (every line naming it, when
 * `/etc/host.conf` says `multi on`); for a dotted address, itself; otherwise the name as
 * given and the addresses the resolver gives (Node.js does not report DNS canonical
 * names). Throws `GaiError` as {@link gethostbyname} does.
 *
 * @example
 * ```ts
 * import { gethostbyname_ex } from "socketkit";
 * const [name, aliases, addresses] = await gethostbyname_ex("localhost");
 * console.log(name, aliases, addresses); // "localhost" [] ["127.0.0.1"]
 * ```
 */
export async function gethostbyname_ex(host: string): Promise<HostEntry> {
  const action = `resolve ${JSON.stringify(host)} to IPv4 addresses`;
  checkString(host, action);
  if (isIPv6Literal(host)) throw errorFromCode("EAI_ADDRFAMILY", action);
  if (host === "" || host === "<broadcast>") throw unknownHost(action);
  // glibc answers a name of digits and dots itself, reading it as inet_aton does.
  if (/^[\d.]+$/.test(host) && !host.endsWith(".")) {
    const packed = parseInetAton(host, true);
    if (packed === null) throw unknownHost(action);
    return [host, [], [formatPacked(packed)]];
  }
  const fromFile = await hostsByName(host);
  if (fromFile !== null) return fromFile;
  try {
    const all = await lookup(host, { family: 4, all: true });
    return [host, [], all.map((a) => a.address)];
  } catch (err) {
    throw toSocketError(err, action);
  }
}

/**
 * The address `gethostbyaddr` asks about: a literal as it is (an IPv6 `%zone` dropped),
 * a name resolved to its first address, as Python's `setipaddr` does.
 */
async function addressOf(host: string, action: string): Promise<Buffer> {
  if (host === "") {
    throw new SocketError(`Cannot ${action}: wildcard resolved to multiple address`, {
      code: "EINVAL",
    });
  }
  if (host === "<broadcast>") return Buffer.from([255, 255, 255, 255]);
  const literal = packLiteral(host.includes(":") ? (host.split("%")[0] ?? host) : host);
  if (literal !== null) return literal;
  try {
    const { address } = await lookup(host);
    const packed = packLiteral(address.split("%")[0] ?? address);
    if (packed !== null) return packed;
  } catch (err) {
    throw toSocketError(err, action);
  }
  throw unknownHost(action);
}

/**
 * The host name of an address (4 or 16 bytes), as glibc's `gethostbyaddr` finds it: the
 * hosts file's line for it, else the system resolver (`getnameinfo`, as Node's
 * `dns.lookupService` calls it); null when neither has a name for it.
 */
export async function hostNameOf(packed: Buffer, action: string): Promise<HostEntry | null> {
  const fromFile = await hostsByAddress(packed);
  if (fromFile !== null) return fromFile;
  const text = formatPacked(packed);
  try {
    const { hostname } = await lookupService(text, 0);
    return [hostname, [], [text]];
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOTFOUND") return null;
    throw toSocketError(err, action);
  }
}

/**
 * The host name of an address, as Python's `socket.gethostbyaddr`:
 * `[hostname, aliases, addresses]`, from the hosts file (its line's name and aliases)
 * or else the system resolver (a PTR record). A name is resolved to its first address
 * first. Throws `GaiError` (`EAI_NONAME`) when there is no name for the address (Python
 * raises `herror` "Unknown host").
 *
 * @example
 * ```ts
 * import { gethostbyaddr } from "socketkit";
 * const [name] = await gethostbyaddr("127.0.0.1");
 * console.log(name); // "localhost"
 * ```
 */
export async function gethostbyaddr(address: string): Promise<HostEntry> {
  const action = `look up the host name of ${JSON.stringify(address)}`;
  checkString(address, action);
  const entry = await hostNameOf(await addressOf(address, action), action);
  if (entry === null) throw unknownHost(action);
  return entry;
}

/**
 * A fully qualified domain name for `name`, as Python's `socket.getfqdn`: the first of
 * the names {@link gethostbyaddr} gives (canonical name, then aliases) that has a dot,
 * else the canonical name; `name` itself when it cannot be looked up. An empty name,
 * `"0.0.0.0"` or `"::"` means this machine ({@link gethostname}).
 *
 * @example
 * ```ts
 * import { getfqdn } from "socketkit";
 * console.log(await getfqdn()); // this machine's name, with its domain if one is known
 * ```
 */
export async function getfqdn(name = ""): Promise<string> {
  let host = name.trim();
  if (host === "" || host === "0.0.0.0" || host === "::") host = osHostname();
  try {
    const [canonical, aliases] = await gethostbyaddr(host);
    return [canonical, ...aliases].find((n) => n.includes(".")) ?? canonical;
  } catch (err) {
    if (err instanceof SocketError) return host;
    throw err;
  }
}
