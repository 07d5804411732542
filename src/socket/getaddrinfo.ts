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

function parsePort(port: number | string | null): number {
  if (port === null) return 0;
  const n = typeof port === "number" ? port : Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new GaiError(`Cannot resolve port ${JSON.stringify(port)}: servname not supported`, {
      code: "EAI_SERVICE",
      errno: -8,
    });
  }
  return n;
}

/**
 * Resolves a host and port to the addresses to try, like Python's `socket.getaddrinfo`.
 * `null` as host means the loopback addresses.
 *
 * @example
 * ```ts
 * import { AF_INET, getaddrinfo, SOCK_STREAM } from "socketkit";
 * const infos = await getaddrinfo("localhost", 80, { family: AF_INET, type: SOCK_STREAM });
 * // [[2, 1, 6, "", ["127.0.0.1", 80]]]
 * ```
 */
export async function getaddrinfo(
  host: string | null,
  port: number | string | null,
  options: GetaddrinfoOptions = {},
): Promise<AddrInfo[]> {
  const portNumber = parsePort(port);
  const family = options.family ?? 0;
  const types = options.type ? [options.type] : [SOCK_STREAM, SOCK_DGRAM, SOCK_RAW];
  const name = host ?? "localhost";
  const versions = await lookupAll(name, family);
  const out: AddrInfo[] = [];
  for (const { address, version } of versions) {
    const fam = version === 6 ? AF_INET6 : AF_INET;
    for (const type of types) {
      out.push([fam, type, PROTO_OF[type] ?? 0, "", toSocketAddress(fam, address, portNumber)]);
    }
  }
  return out;
}

async function lookupAll(
  host: string,
  family: number,
): Promise<Array<{ address: string; version: 4 | 6 }>> {
  const wanted = family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0;
  const literal = ipVersion(host);
  if (literal !== 0) {
    if (wanted !== 0 && literal !== wanted) throw familyMismatch(host);
    return [{ address: host, version: literal }];
  }
  try {
    const results = await lookup(host, { all: true, family: wanted, verbatim: true });
    return results.map((r) => ({ address: r.address, version: r.family === 6 ? 6 : 4 }));
  } catch (err) {
    throw toSocketError(err, `resolve ${JSON.stringify(host)}`);
  }
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
