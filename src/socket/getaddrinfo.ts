/**
 * Name resolution as Python's `socket.getaddrinfo` and `socket.gethostname` do it.
 * @module
 */
import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import {
  bindHost,
  checkInetAddress,
  formatAddress,
  type InetParts,
  ipVersion,
  type SocketAddress,
  toSocketAddress,
} from "../core/address.ts";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_STREAM,
} from "../core/constants.ts";
import { errorFromCode, GaiError, toSocketError } from "../core/errors.ts";
import { normalizeAddress } from "./inet.ts";
import { interfaceIndex } from "./interface-names.ts";
import { findServicePort } from "./netdb.ts";

/** Options of {@link getaddrinfo}. */
export interface GetaddrinfoOptions {
  /** `AF_INET`, `AF_INET6`, or 0 for both. @default 0 */
  family?: number;
  /** `SOCK_STREAM`, `SOCK_DGRAM`, or 0 for every type, as Python lists them. @default 0 */
  type?: number;
}

/** One result: `[family, type, proto, canonname, sockaddr]`, as Python returns it. */
export type AddrInfo = [
  family: number,
  type: number,
  proto: number,
  canonname: string,
  sockaddr: SocketAddress,
];

const PROTO_OF: Record<number, number> = {
  [SOCK_STREAM]: IPPROTO_TCP,
  [SOCK_DGRAM]: IPPROTO_UDP,
  [SOCK_RAW]: 0,
};

/** Python's `socket.gaierror` for a port or service getaddrinfo cannot use. */
function badService(port: unknown, why: string): GaiError {
  return new GaiError(
    `Cannot resolve port ${JSON.stringify(port)}: servname not supported for ai_socktype (${why})`,
    { code: "EAI_SERVICE", errno: -8 },
  );
}

function checkPortNumber(n: number, given: unknown): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw badService(given, "not a port 0-65535");
  return n;
}

/**
 * The port of each socket type to list, `[type, port]`: a number (or numeric string) for
 * all of them; a service name, as glibc reads it, for the types whose protocol the
 * services database has it for (SOCK_STREAM as tcp, SOCK_DGRAM as udp; SOCK_RAW has no
 * services). Throws `GaiError` (`EAI_SERVICE`) when none has it.
 */
async function portsByType(
  port: number | string | null,
  types: number[],
): Promise<Array<[type: number, port: number]>> {
  let numeric: number | null = null;
  if (port === null || port === "") numeric = 0;
  else if (typeof port === "number") numeric = checkPortNumber(port, port);
  else if (typeof port !== "string") throw badService(port, "not a number or service name");
  else if (/^\s*\+?\d+$/.test(port)) numeric = checkPortNumber(Number(port), port);
  if (numeric !== null) {
    const n = numeric;
    return types.map((type) => [type, n]);
  }
  const name = port as string;
  const out: Array<[number, number]> = [];
  let why = "raw sockets have no services";
  for (const type of types) {
    const proto = type === SOCK_STREAM ? "tcp" : type === SOCK_DGRAM ? "udp" : undefined;
    if (proto === undefined) continue;
    const found = await findServicePort(name, proto);
    if (typeof found === "number") out.push([type, found]);
    else why = found.reason;
  }
  if (out.length === 0) throw badService(name, why);
  return out;
}

/**
 * Resolves a host and port to the addresses to try, like Python's `socket.getaddrinfo`.
 * `null` as host means the loopback addresses. The port is a number, a numeric string, a
 * service name of the services database (`"http"`), or `null` (0). IPv6 addresses come
 * back as `inet_ntop` prints them (`FF02::1` is `ff02::1`); a `%zone` stays on the host,
 * as Node.js needs it to connect, and its interface index is the tuple's scope id.
 *
 * @example
 * ```ts
 * import { AF_INET, getaddrinfo, SOCK_STREAM } from "socketkit";
 * const infos = await getaddrinfo("localhost", "http", { family: AF_INET, type: SOCK_STREAM });
 * // [[2, 1, 6, "", ["127.0.0.1", 80]]]
 * ```
 */
export async function getaddrinfo(
  host: string | null,
  port: number | string | null,
  options: GetaddrinfoOptions = {},
): Promise<AddrInfo[]> {
  const family = options.family ?? 0;
  const types = options.type ? [options.type] : [SOCK_STREAM, SOCK_DGRAM, SOCK_RAW];
  const ports = await portsByType(port, types);
  const found = await lookupAll(host ?? "localhost", family);
  const out: AddrInfo[] = [];
  for (const { address, version, scopeId } of found) {
    const fam = version === 6 ? AF_INET6 : AF_INET;
    for (const [type, p] of ports) {
      const sockaddr: SocketAddress =
        scopeId === null ? toSocketAddress(fam, address, p) : [address, p, 0, scopeId];
      out.push([fam, type, PROTO_OF[type] ?? 0, "", sockaddr]);
    }
  }
  return out;
}

/** An address the host resolved to. */
interface Found {
  address: string;
  version: 4 | 6;
  /** An IPv6 literal's scope id, from its zone; null to take it from the address. */
  scopeId: number | null;
}

async function lookupAll(host: string, family: number): Promise<Found[]> {
  const wanted = family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0;
  const literal = ipVersion(host);
  if (literal !== 0) {
    if (wanted !== 0 && literal !== wanted) throw familyMismatch(host);
    if (literal === 4) return [{ address: host, version: 4, scopeId: null }];
    return [{ address: normalizeAddress(host), version: 6, scopeId: await scopeOf(host) }];
  }
  try {
    const results = await lookup(host, { all: true, family: wanted, verbatim: true });
    return results.map((r) => ({
      address: r.address,
      version: r.family === 6 ? 6 : 4,
      scopeId: null,
    }));
  } catch (err) {
    throw toSocketError(err, `resolve ${JSON.stringify(host)}`);
  }
}

/** The scope id of an IPv6 literal's `%zone` (an interface name or number), 0 without one. */
async function scopeOf(host: string): Promise<number> {
  const pct = host.indexOf("%");
  if (pct < 0) return 0;
  const zone = host.slice(pct + 1);
  const index = await interfaceIndex(zone);
  if (index === null) {
    throw new GaiError(
      `Cannot resolve ${JSON.stringify(host)}: name or service not known (no interface ${JSON.stringify(zone)})`,
      { code: "EAI_NONAME", errno: -2 },
    );
  }
  // Where interfaces cannot be listed (not Linux), the zone is left to the system.
  return index ?? 0;
}

function familyMismatch(host: string): GaiError {
  return new GaiError(
    `Cannot resolve ${JSON.stringify(host)}: address family for hostname not supported`,
    { code: "EAI_ADDRFAMILY", errno: -9 },
  );
}

/**
 * The one IP address a socket of `family` uses for `host`: literals as they are,
 * `""` and `"<broadcast>"` as Python reads them, names through the resolver
 * (`"localhost"` is 127.0.0.1 for AF_INET and ::1 for AF_INET6, as in Python).
 */
export async function resolveHost(family: number, host: string, action: string): Promise<string> {
  const special = bindHost(family, host);
  const literal = ipVersion(special);
  const wanted = family === AF_INET6 ? 6 : 4;
  if (literal !== 0) {
    if (literal !== wanted) {
      // Python lets an AF_INET6 socket reach IPv4 only in mapped form; say so clearly.
      throw errorFromCode("EAI_ADDRFAMILY", `${action}: ${special} is not an IPv${wanted} address`);
    }
    return special;
  }
  try {
    const { address } = await lookup(special, { family: wanted });
    return address;
  } catch (err) {
    throw toSocketError(err, `${action}: cannot resolve ${JSON.stringify(host)}`);
  }
}

/**
 * An IP address tuple checked ({@link checkInetAddress}) and its host resolved
 * ({@link resolveHost}) for a socket of `family`: what every backend of `Socket` binds,
 * connects or sends to, so all of them refuse the same addresses with the same errors.
 */
export async function resolveAddress(
  family: number,
  address: unknown,
  action: string,
): Promise<InetParts> {
  const parts = checkInetAddress(family, address, action);
  const host = await resolveHost(family, parts.host, `${action} ${formatAddress(parts)}`);
  return { ...parts, host };
}

/**
 * The machine's host name, as Python's `socket.gethostname()`.
 *
 * @example
 * ```ts
 * import { gethostname } from "socketkit";
 * console.log(gethostname());
 * ```
 */
export function gethostname(): string {
  return hostname();
}
