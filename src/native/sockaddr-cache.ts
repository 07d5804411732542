import { isIP } from "node:net";
import { endianness } from "node:os";
import { checkUnixAddress, type SocketAddress } from "../core/address.ts";
import { AF_INET6, AF_UNIX } from "../core/constants.ts";
import { decodeSockaddr } from "./sockaddr.ts";

const LITTLE = endianness() === "LE";
/** Entries each map keeps before it starts again (a server's clients, mostly). */
const MOST = 4096;

/**
 * Turns the raw sockaddr bytes of a datagram's sender into the address `recvfrom` returns,
 * and a destination back into raw bytes for `sendto`, for one family. For AF_INET and
 * AF_INET6 the host text of each address seen, and the raw form of each host sent to, are
 * kept (up to 4,096 of each), so a server answering the same clients builds no strings and
 * parses no addresses per datagram; for AF_UNIX the raw form of each path sent to is.
 */
export class SockaddrCache {
  readonly #v6: boolean;
  readonly #unix: boolean;
  readonly #encode: (host: string) => Uint8Array;
  /** Host text by IPv4 address (as a number) or IPv6 address (its 16 bytes as latin1). */
  readonly #hosts = new Map<number | string, string>();
  /** Raw sockaddr with port 0, by host text. */
  readonly #raw = new Map<string, Uint8Array>();
  readonly #scratch: Buffer;

  /**
   * `family` is AF_INET, AF_INET6 or AF_UNIX; `encode` gives the raw sockaddr (port 0) of
   * an IP literal of that family, or of a Unix path or abstract name (the addon's
   * `encodeAddress`), called once per host or path.
   */
  constructor(family: number, encode: (host: string) => Uint8Array) {
    this.#v6 = family === AF_INET6;
    this.#unix = family === AF_UNIX;
    this.#encode = encode;
    this.#scratch = Buffer.alloc(this.#v6 ? 28 : 16);
  }

  /**
   * The address of a sender's raw sockaddr, `raw[at, at + length)`: `[host, port]`, or
   * `[host, port, flowinfo, scopeId]`; for AF_UNIX the path, the abstract name with its
   * leading NUL, or `""` for a sender that has no name (Python says None).
   */
  decode(raw: Buffer, at = 0, length = raw.length - at): SocketAddress {
    if (this.#unix) return unixPath(raw, at, length);
    const family = LITTLE ? raw[at] : raw[at + 1];
    const port = ((raw[at + 2] as number) << 8) | (raw[at + 3] as number);
    if (!this.#v6) {
      if (length < 16 || family !== 2 || raw[LITTLE ? at + 1 : at] !== 0) {
        return generic(raw.subarray(at, at + length));
      }
      const key =
        (raw[at + 4] as number) * 16777216 +
        (((raw[at + 5] as number) << 16) |
          ((raw[at + 6] as number) << 8) |
          (raw[at + 7] as number));
      let host = this.#hosts.get(key);
      if (host === undefined) {
        host = `${raw[at + 4]}.${raw[at + 5]}.${raw[at + 6]}.${raw[at + 7]}`;
        this.#remember(this.#hosts, key, host);
      }
      return [host, port];
    }
    if (length < 28 || family !== 10 || raw[LITTLE ? at + 1 : at] !== 0) {
      return generic(raw.subarray(at, at + length));
    }
    const key = raw.toString("latin1", at + 8, at + 24);
    let host = this.#hosts.get(key);
    if (host === undefined) {
      host = (decodeSockaddr(raw.subarray(at, at + length)) as { host: string }).host;
      this.#remember(this.#hosts, key, host);
    }
    return [
      host,
      port,
      raw.readUInt32BE(at + 4),
      LITTLE ? raw.readUInt32LE(at + 24) : raw.readUInt32BE(at + 24),
    ];
  }

  /**
   * The raw sockaddr of the AF_UNIX path (or abstract name) `path`, or null when it is
   * no valid one (the caller then checks it the long way, which says why).
   */
  encodePath(path: string): Uint8Array | null {
    let raw = this.#raw.get(path);
    if (raw === undefined) {
      try {
        raw = this.#encode(checkUnixAddress(path, "send to"));
      } catch {
        return null;
      }
      this.#remember(this.#raw, path, raw);
    }
    return raw;
  }

  /**
   * The raw sockaddr of `[host, port]` (`[host, port, flowinfo, scopeId]`) in a buffer
   * reused by the next call, or null when the host is not an IP literal of the family or
   * a number is out of range (the caller then checks and resolves it the long way).
   */
  encode(address: readonly unknown[]): Uint8Array | null {
    const host = address[0];
    const port = address[1];
    if (typeof host !== "string" || typeof port !== "number") return null;
    if (!(port >= 0 && port <= 65535 && Number.isInteger(port))) return null;
    let raw = this.#raw.get(host);
    if (raw === undefined) {
      // A zone (`fe80::1%eth0`) is resolved the long way, into the scope id.
      if (isIP(host) !== (this.#v6 ? 6 : 4) || host.includes("%")) return null;
      raw = this.#encode(host);
      this.#remember(this.#raw, host, raw);
    }
    const out = this.#scratch;
    out.set(raw);
    out[2] = port >> 8;
    out[3] = port & 255;
    if (this.#v6) {
      const flowinfo = address[2] ?? 0;
      const scopeId = address[3] ?? 0;
      if (flowinfo !== 0 || scopeId !== 0) {
        if (!isU32(flowinfo) || flowinfo > 0xfffff || !isU32(scopeId)) return null;
        out.writeUInt32BE(flowinfo, 4);
        if (LITTLE) out.writeUInt32LE(scopeId, 24);
        else out.writeUInt32BE(scopeId, 24);
      }
    }
    return out;
  }

  #remember<K>(map: Map<K, unknown>, key: K, value: unknown): void {
    if (map.size >= MOST) map.clear();
    map.set(key, value);
  }
}

/** A Unix sender's name: a path up to its NUL, an abstract name whole, or `""` for none. */
function unixPath(raw: Buffer, at: number, length: number): string {
  if (length <= 2) return "";
  let end = at + length;
  if (raw[at + 2] !== 0) {
    const nul = raw.indexOf(0, at + 2);
    if (nul >= 0 && nul < end) end = nul;
  }
  return raw.toString("utf8", at + 2, end);
}

function isU32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/**
 * An address of another family than expected, or none (never on an IP socket): decoded
 * as it is, or the unspecified address.
 */
function generic(raw: Uint8Array): SocketAddress {
  let a: ReturnType<typeof decodeSockaddr>;
  try {
    a = decodeSockaddr(raw);
  } catch {
    return ["0.0.0.0", 0];
  }
  if (a.family === "unix") return a.path.toString("utf8");
  if (a.family === "inet6") return [a.host, a.port, a.flowinfo ?? 0, a.scopeId ?? 0];
  return [a.host, a.port];
}
