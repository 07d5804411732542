/**
 * Python's `socket.getnameinfo`: an address and port to a host name and service name.
 * @module
 */
import { GaiError, OverflowError, SocketError } from "../core/errors.ts";
import { hostNameOf } from "./host-names.ts";
import { formatPacked, packLiteral, parseInetAton } from "./inet.ts";
import { interfaceIndex, interfaceName } from "./interface-names.ts";
import { findServiceName } from "./netdb.ts";

/** `getnameinfo` flag: give the host as a numeric address, never look its name up. */
export const NI_NUMERICHOST = 1;
/** `getnameinfo` flag: give the port as a number, never as a service name. */
export const NI_NUMERICSERV = 2;
/** `getnameinfo` flag: fail (`GaiError`, `EAI_NONAME`) when the host has no name. */
export const NI_NAMEREQD = 8;
/** `getnameinfo` flag: the service is a UDP one (some ports name different services). */
export const NI_DGRAM = 16;

function noName(action: string): GaiError {
  return new GaiError(`Cannot ${action}: name or service not known`, {
    code: "EAI_NONAME",
    errno: -2,
  });
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max;
}

/** The bytes of a numeric host as getaddrinfo's AI_NUMERICHOST reads it, or null. */
async function numericHost(host: string, action: string): Promise<Buffer | null> {
  if (!host.includes(":")) return parseInetAton(host, true);
  const pct = host.indexOf("%");
  const packed = packLiteral(pct >= 0 ? host.slice(0, pct) : host);
  // glibc refuses an unknown interface; the zone has no other effect here (see below).
  if (packed !== null && pct >= 0 && (await interfaceIndex(host.slice(pct + 1))) === null) {
    throw noName(action);
  }
  return packed;
}

/** glibc's IN6_IS_ADDR_LINKLOCAL and IN6_IS_ADDR_MC_LINKLOCAL: scopes shown by name. */
function scopedByName(packed: Buffer): boolean {
  const linkLocal = packed[0] === 0xfe && ((packed[1] ?? 0) & 0xc0) === 0x80;
  const multicastLinkLocal = packed[0] === 0xff && ((packed[1] ?? 0) & 0x0f) === 0x02;
  return linkLocal || multicastLinkLocal;
}

/**
 * The host and service of a socket address, as Python's `socket.getnameinfo`:
 * `[host, port]`, both strings. The host must be a numeric address (a name throws
 * `GaiError`, `EAI_NONAME`); it comes back as its name (hosts file, then the system
 * resolver) or, when it has none or with `NI_NUMERICHOST`, as the address (an IPv6 scope
 * id as `%interface`). The port comes back as its service name in the services database
 * (`NI_DGRAM` for UDP's), or as a number when it has none or with `NI_NUMERICSERV`.
 * With `NI_NAMEREQD`, a host without a name throws `GaiError` (`EAI_NONAME`).
 *
 * Throws `OverflowError` for a port outside 0-65535 or a flowinfo above 1048575, and
 * `SocketError` (`EINVAL`) for an IPv4 address given as a 4-tuple, as Python does.
 *
 * @example
 * ```ts
 * import { getnameinfo, NI_NUMERICHOST } from "socketkit";
 * console.log(await getnameinfo(["127.0.0.1", 80])); // ["localhost", "http"]
 * console.log(await getnameinfo(["::1", 53, 0, 0], NI_NUMERICHOST)); // ["::1", "domain"]
 * ```
 */
export async function getnameinfo(
  sockaddr:
    | [host: string, port: number]
    | [host: string, port: number, flowinfo: number, scopeId: number],
  flags = 0,
): Promise<[host: string, port: string]> {
  const action = `getnameinfo(${JSON.stringify(sockaddr)})`;
  if (!Array.isArray(sockaddr) || sockaddr.length < 2 || sockaddr.length > 4) {
    throw new SocketError(
      `Cannot ${action}: sockaddr must be [host, port] or [host, port, flowinfo, scopeId]`,
      {
        code: "EINVAL",
      },
    );
  }
  const [host, port, flowinfo = 0, scopeId = 0] = sockaddr as unknown[];
  if (typeof host !== "string" || typeof port !== "number" || !Number.isInteger(port)) {
    throw new SocketError(`Cannot ${action}: host must be a string and port an integer`, {
      code: "EINVAL",
    });
  }
  if (port < 0 || port > 65535) throw new OverflowError(`Cannot ${action}: port must be 0-65535`);
  if (!isUint(flowinfo, 0xfffff)) {
    throw new OverflowError(`Cannot ${action}: flowinfo must be 0-1048575`);
  }
  if (!isUint(scopeId, 0xffffffff)) {
    throw new OverflowError(`Cannot ${action}: scope id must be 0-4294967295`);
  }
  const packed = await numericHost(host, action);
  if (packed === null) throw noName(action);
  if (packed.length === 4 && sockaddr.length !== 2) {
    throw new SocketError(`Cannot ${action}: IPv4 sockaddr must be [host, port]`, {
      code: "EINVAL",
    });
  }
  const [name, service] = await Promise.all([
    hostOf(packed, scopeId, flags, action),
    flags & NI_NUMERICSERV
      ? String(port)
      : findServiceName(port, flags & NI_DGRAM ? "udp" : "tcp").then((s) => s ?? String(port)),
  ]);
  return [name, service];
}

async function hostOf(
  packed: Buffer,
  scopeId: number,
  flags: number,
  action: string,
): Promise<string> {
  if (!(flags & NI_NUMERICHOST)) {
    const entry = await hostNameOf(packed, action);
    if (entry !== null) return entry[0];
  }
  // glibc's order: NI_NAMEREQD fails even with NI_NUMERICHOST, which looked nothing up.
  if (flags & NI_NAMEREQD) throw noName(action);
  const text = formatPacked(packed);
  // As Python, the tuple's scope id counts, not a %zone in the host.
  if (packed.length === 4 || scopeId === 0) return text;
  const zone = scopedByName(packed) ? await interfaceName(scopeId) : null;
  return `${text}%${zone ?? scopeId}`;
}
