/**
 * Raw socket addresses (the bytes of a `struct sockaddr`) as the native reactor gives them
 * with each accepted connection and each datagram, and takes them back in `sendto` and
 * `sendmmsg`. Keeping them raw lets a server answer a datagram without turning its sender
 * into text and back; {@link decodeSockaddr} turns one into the addon's
 * {@link NativeAddress} when the text is wanted, in JavaScript (no call into the addon).
 * @module
 */
import { endianness } from "node:os";
import type { NativeAddress } from "./index.ts";

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const LITTLE = endianness() === "LE";

/** The address family of raw sockaddr bytes (`sa_family_t`, in the host's byte order). */
export function sockaddrFamily(raw: Uint8Array): number {
  if (raw.length < 2) return 0;
  return LITTLE
    ? (raw[0] as number) | ((raw[1] as number) << 8)
    : ((raw[0] as number) << 8) | (raw[1] as number);
}

/**
 * The address in raw sockaddr bytes, as the addon's other calls give addresses: the host
 * as `inet_ntop` writes it (so `::ffff:127.0.0.1` for a mapped IPv4 address), the port,
 * and for IPv6 the flowinfo and scope id; a Unix path up to its NUL, an abstract name whole.
 * Throws a `RangeError` for bytes that hold no address of those families.
 */
export function decodeSockaddr(raw: Uint8Array): NativeAddress {
  const family = sockaddrFamily(raw);
  if (family === AF_INET && raw.length >= 16) {
    return {
      family: "inet",
      host: `${raw[4]}.${raw[5]}.${raw[6]}.${raw[7]}`,
      port: ((raw[2] as number) << 8) | (raw[3] as number),
    };
  }
  if (family === AF_INET6 && raw.length >= 28) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return {
      family: "inet6",
      host: ipv6Text(raw, 8),
      port: view.getUint16(2),
      flowinfo: view.getUint32(4),
      scopeId: view.getUint32(24, LITTLE),
    };
  }
  if (family === AF_UNIX) {
    let end = raw.length;
    if (end > 2 && raw[2] !== 0) {
      const nul = raw.indexOf(0, 2);
      if (nul >= 0) end = nul;
    }
    return { family: "unix", path: Buffer.from(raw.subarray(2, end)) };
  }
  throw new RangeError(
    `Cannot decode socket address: family ${family} with ${raw.length} bytes is not one of AF_INET, AF_INET6, AF_UNIX`,
  );
}

/**
 * The 16 bytes at `raw[at]` as glibc's `inet_ntop` writes them: the first longest run of
 * two or more zero groups as `::`, hex without leading zeros, and the last 32 bits as a
 * dotted quad for `::a.b.c.d` and `::ffff:a.b.c.d`.
 */
function ipv6Text(raw: Uint8Array, at: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) {
    words.push(((raw[at + 2 * i] as number) << 8) | (raw[at + 2 * i + 1] as number));
  }
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (curBase < 0) curBase = i;
    } else if (curBase >= 0) {
      if (i - curBase > bestLen) {
        bestBase = curBase;
        bestLen = i - curBase;
      }
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${raw[at + 12]}.${raw[at + 13]}.${raw[at + 14]}.${raw[at + 15]}`;
      return out;
    }
    out += (words[i] as number).toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ":";
  return out;
}
