/**
 * IP addresses between text and bytes, and byte order, as Python's `socket.inet_pton`,
 * `inet_ntop`, `inet_aton`, `inet_ntoa`, `htons`, `ntohs`, `htonl` and `ntohl` do them on
 * Linux: the parsers and the printer follow glibc's, so every string glibc takes is taken
 * and every address prints as glibc (and so Python) prints it.
 *
 * @example
 * ```ts
 * import { AF_INET6, inet_ntop, inet_pton } from "socketkit";
 * console.log(inet_ntop(AF_INET6, inet_pton(AF_INET6, "FF02:0:0::1"))); // "ff02::1"
 * ```
 * @module
 */
import { endianness } from "node:os";
import { AF_INET, AF_INET6, familyName } from "../core/constants.ts";
import { errorFromCode, OverflowError, SocketError } from "../core/errors.ts";

function invalid(message: string): SocketError {
  return new SocketError(message, { code: "EINVAL" });
}

function unsupportedFamily(action: string, family: number): SocketError {
  return errorFromCode("EAFNOSUPPORT", `${action}: ${familyName(family)}`);
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

function hexValue(c: number): number {
  if (c >= DIGIT_0 && c <= DIGIT_9) return c - DIGIT_0;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * glibc's `inet_pton4`: exactly four decimal parts of 0-255, no leading zeros, nothing
 * else. Writes into `out` at `at`; false when `text[from, to)` is not such an address.
 */
function parseDottedQuad(text: string, from: number, to: number, out: Buffer, at: number): boolean {
  let octets = 0;
  let sawDigit = false;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= DIGIT_0 && c <= DIGIT_9) {
      if (sawDigit && value === 0) return false;
      value = value * 10 + (c - DIGIT_0);
      if (value > 255) return false;
      if (!sawDigit) {
        if (++octets > 4) return false;
        sawDigit = true;
      }
    } else if (c === 0x2e && sawDigit) {
      if (octets === 4) return false;
      out[at + octets - 1] = value;
      value = 0;
      sawDigit = false;
    } else {
      return false;
    }
  }
  if (octets < 4 || !sawDigit) return false;
  out[at + 3] = value;
  return true;
}

/** glibc's `inet_pton6`: the 16 bytes of an IPv6 address in text, or null. */
function parseIPv6(text: string): Buffer | null {
  const out = Buffer.alloc(16);
  const end = text.length;
  let i = 0;
  if (end === 0) return null;
  // A leading "::" needs both colons; a single leading ":" is an error.
  if (text.charCodeAt(0) === 0x3a) {
    if (end < 2 || text.charCodeAt(1) !== 0x3a) return null;
    i = 1;
  }
  let tp = 0;
  let colonp = -1;
  let token = i;
  let digits = 0;
  let value = 0;
  while (i < end) {
    const c = text.charCodeAt(i++);
    const digit = hexValue(c);
    if (digit >= 0) {
      if (digits === 4) return null;
      value = (value << 4) | digit;
      digits++;
      continue;
    }
    if (c === 0x3a) {
      token = i;
      if (digits === 0) {
        if (colonp >= 0) return null;
        colonp = tp;
        continue;
      }
      if (i === end) return null;
      if (tp + 2 > 16) return null;
      out[tp++] = value >> 8;
      out[tp++] = value & 0xff;
      digits = 0;
      value = 0;
      continue;
    }
    if (c === 0x2e && tp + 4 <= 16 && parseDottedQuad(text, token, end, out, tp)) {
      tp += 4;
      digits = 0;
      break;
    }
    return null;
  }
  if (digits > 0) {
    if (tp + 2 > 16) return null;
    out[tp++] = value >> 8;
    out[tp++] = value & 0xff;
  }
  if (colonp >= 0) {
    // "::" must stand for at least one group of zeros.
    if (tp === 16) return null;
    const n = tp - colonp;
    out.copyWithin(16 - n, colonp, tp);
    out.fill(0, colonp, 16 - n);
    tp = 16;
  }
  return tp === 16 ? out : null;
}

/** glibc's `inet_ntop4`. */
function formatIPv4(bytes: Uint8Array, at = 0): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * glibc's `inet_ntop6`: lowercase hex without leading zeros, the first longest run of two
 * or more zero groups as "::", and the last four bytes in dotted form for IPv4-compatible
 * (`::a.b.c.d`) and IPv4-mapped (`::ffff:a.b.c.d`) addresses.
 */
function formatIPv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += formatIPv4(bytes, 12);
      break;
    }
    out += (words[i] ?? 0).toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ":";
  return out;
}

/** glibc's `isspace` in the C locale. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * glibc's `inet_aton`: one to four numbers, each decimal, octal (leading `0`) or hex
 * (`0x`), the last one filling the bytes that are left (`127.1` is 127.0.0.1). With
 * `exact` false, as `inet_aton` itself, anything after a white-space character is
 * ignored; with `exact` true (getaddrinfo's numeric hosts) nothing may follow.
 */
export function parseInetAton(text: string, exact: boolean): Buffer | null {
  const parts: number[] = [];
  let i = 0;
  const end = text.length;
  for (;;) {
    const first = text.charCodeAt(i);
    if (!(first >= DIGIT_0 && first <= DIGIT_9)) return null;
    let base = 10;
    if (first === DIGIT_0) {
      base = 8;
      i++;
      const x = text.charCodeAt(i) | 0x20;
      // "0x" counts as hex only when a hex digit follows, as strtoul reads it.
      if (x === 0x78 && i + 1 < end && hexValue(text.charCodeAt(i + 1)) >= 0) {
        base = 16;
        i++;
      }
    }
    let value = 0;
    for (; i < end; i++) {
      const d = hexValue(text.charCodeAt(i));
      if (d < 0 || d >= base) break;
      value = value * base + d;
      if (value > 0xffffffff) return null;
    }
    if (text.charCodeAt(i) !== 0x2e) {
      parts.push(value);
      break;
    }
    if (parts.length > 2 || value > 0xff) return null;
    parts.push(value);
    i++;
  }
  if (i < end && (exact || !isSpace(text.charCodeAt(i)))) return null;
  const last = parts.pop() ?? 0;
  // What the last number may hold: 32 bits alone, 24 after one byte, 16 after two, 8 after three.
  if (last > 2 ** (32 - 8 * parts.length) - 1) return null;
  const out = Buffer.alloc(4);
  parts.forEach((p, k) => {
    out[k] = p;
  });
  out.writeUIntBE(last, parts.length, 4 - parts.length);
  return out;
}

/**
 * Turns an IP address in text into its bytes (4 for AF_INET, 16 for AF_INET6), as Python's
 * `socket.inet_pton`. Only the strict forms: four decimal parts for IPv4 (use
 * {@link inet_aton} for `127.1` and the like), no `%zone` for IPv6. Throws `SocketError`
 * (`EINVAL`) for a string that is not such an address, (`EAFNOSUPPORT`) for another family.
 *
 * @example
 * ```ts
 * import { AF_INET, AF_INET6, inet_pton } from "socketkit";
 * console.log(inet_pton(AF_INET, "192.0.2.1")); // <Buffer c0 00 02 01>
 * console.log(inet_pton(AF_INET6, "::1").length); // 16
 * ```
 */
export function inet_pton(family: number, address: string): Buffer {
  const action = `inet_pton(${familyName(family)}, ${JSON.stringify(address)})`;
  if (typeof address !== "string") throw invalid(`Cannot ${action}: address must be a string`);
  let packed: Buffer | null = null;
  if (family === AF_INET) {
    const out = Buffer.alloc(4);
    packed = parseDottedQuad(address, 0, address.length, out, 0) ? out : null;
  } else if (family === AF_INET6) {
    packed = parseIPv6(address);
  } else {
    throw unsupportedFamily("inet_pton", family);
  }
  if (packed === null) throw invalid(`Cannot ${action}: illegal IP address string`);
  return packed;
}

/**
 * Turns the bytes of an IP address into text, as Python's `socket.inet_ntop`: dotted
 * decimal for AF_INET (4 bytes), and for AF_INET6 (16 bytes) the form glibc prints, which
 * is RFC 5952's (lowercase, the longest run of zero groups as `::`), with IPv4-mapped
 * addresses as `::ffff:192.0.2.1`. Throws `SocketError` (`EINVAL`) for a wrong length.
 *
 * @example
 * ```ts
 * import { AF_INET6, inet_ntop } from "socketkit";
 * const packed = Buffer.alloc(16);
 * packed[15] = 1;
 * console.log(inet_ntop(AF_INET6, packed)); // "::1"
 * ```
 */
export function inet_ntop(family: number, packed: Uint8Array): string {
  const want = family === AF_INET ? 4 : family === AF_INET6 ? 16 : 0;
  if (want === 0) throw unsupportedFamily("inet_ntop", family);
  if (!(packed instanceof Uint8Array) || packed.length !== want) {
    throw invalid(
      `Cannot inet_ntop(${familyName(family)}): invalid length of packed IP address string (${packed?.length} bytes, not ${want})`,
    );
  }
  return family === AF_INET ? formatIPv4(packed) : formatIPv6(packed);
}

/**
 * Turns an IPv4 address in text into its 4 bytes, as Python's `socket.inet_aton` (glibc's
 * `inet_aton`): besides `a.b.c.d` it takes the classic shorter and C-style forms,
 * `127.1`, `0x7f.1`, `0177.0.0.1`, `2130706433`, and ignores anything after a space.
 * Throws `SocketError` (`EINVAL`) for a string it cannot read.
 *
 * @example
 * ```ts
 * import { inet_aton, inet_ntoa } from "socketkit";
 * console.log(inet_ntoa(inet_aton("127.1"))); // "127.0.0.1"
 * ```
 */
export function inet_aton(address: string): Buffer {
  const packed = typeof address === "string" ? parseInetAton(address, false) : null;
  if (packed === null) {
    throw invalid(`Cannot inet_aton(${JSON.stringify(address)}): illegal IP address string`);
  }
  return packed;
}

/**
 * Turns 4 bytes into a dotted IPv4 address, as Python's `socket.inet_ntoa`. Throws
 * `SocketError` (`EINVAL`) when there are not exactly 4.
 *
 * @example
 * ```ts
 * import { inet_ntoa } from "socketkit";
 * console.log(inet_ntoa(Buffer.from([192, 0, 2, 1]))); // "192.0.2.1"
 * ```
 */
export function inet_ntoa(packed: Uint8Array): string {
  if (!(packed instanceof Uint8Array) || packed.length !== 4) {
    throw invalid(`Cannot inet_ntoa: packed IP wrong length (${packed?.length} bytes, not 4)`);
  }
  return formatIPv4(packed);
}

/**
 * The normal text of an IP address given as text: IPv6 as {@link inet_ntop} prints it
 * (`FF02:0::1` is `ff02::1`), a `%zone` kept as given; IPv4 and anything else unchanged.
 */
export function normalizeAddress(address: string): string {
  if (!address.includes(":")) return address;
  const pct = address.indexOf("%");
  const packed = parseIPv6(pct >= 0 ? address.slice(0, pct) : address);
  if (packed === null) return address;
  return formatIPv6(packed) + (pct >= 0 ? address.slice(pct) : "");
}

/**
 * The bytes of a literal as `inet_pton` reads it: 4 for a dotted-quad IPv4 address, 16 for
 * an IPv6 one (without `%zone`), null for anything else.
 */
export function packLiteral(text: string): Buffer | null {
  const v4 = Buffer.alloc(4);
  if (parseDottedQuad(text, 0, text.length, v4, 0)) return v4;
  return text.includes(":") ? parseIPv6(text) : null;
}

/** The text of 4 or 16 address bytes, as `inet_ntop` prints it. */
export function formatPacked(packed: Uint8Array): string {
  return packed.length === 4 ? formatIPv4(packed) : formatIPv6(packed);
}

const LITTLE_ENDIAN = endianness() === "LE";

function checkUnsigned(name: string, x: number, bits: 16 | 32): void {
  if (typeof x !== "number" || !Number.isInteger(x)) {
    throw invalid(`Cannot ${name}(${String(x)}): an integer is required`);
  }
  if (x < 0) {
    throw new OverflowError(
      `Cannot ${name}(${x}): can't convert a negative number to a ${bits}-bit unsigned integer`,
    );
  }
  if (x > 2 ** bits - 1) {
    throw new OverflowError(
      `Cannot ${name}(${x}): too large for a ${bits}-bit unsigned integer (max ${2 ** bits - 1})`,
    );
  }
}

function swap16(name: string, x: number): number {
  checkUnsigned(name, x, 16);
  return LITTLE_ENDIAN ? ((x & 0xff) << 8) | (x >>> 8) : x;
}

function swap32(name: string, x: number): number {
  checkUnsigned(name, x, 32);
  if (!LITTLE_ENDIAN) return x;
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/**
 * A 16-bit number from host to network byte order, as Python's `socket.htons` (on a
 * little-endian machine, the two bytes swapped). Throws `OverflowError` for a number
 * outside 0-65535, `SocketError` (`EINVAL`) for one that is not an integer.
 *
 * @example
 * ```ts
 * import { htons } from "socketkit";
 * console.log(htons(0x1234).toString(16)); // "3412" on x86 and ARM
 * ```
 */
export function htons(x: number): number {
  return swap16("htons", x);
}

/**
 * A 16-bit number from network to host byte order, as Python's `socket.ntohs`; the
 * inverse of {@link htons}, with the same checks.
 *
 * @example
 * ```ts
 * import { htons, ntohs } from "socketkit";
 * console.log(ntohs(htons(8080))); // 8080
 * ```
 */
export function ntohs(x: number): number {
  return swap16("ntohs", x);
}

/**
 * A 32-bit number from host to network byte order, as Python's `socket.htonl`. Throws
 * `OverflowError` for a number outside 0-4294967295, `SocketError` (`EINVAL`) for one
 * that is not an integer.
 *
 * @example
 * ```ts
 * import { htonl } from "socketkit";
 * console.log(htonl(1).toString(16)); // "1000000" on x86 and ARM
 * ```
 */
export function htonl(x: number): number {
  return swap32("htonl", x);
}

/**
 * A 32-bit number from network to host byte order, as Python's `socket.ntohl`; the
 * inverse of {@link htonl}, with the same checks.
 *
 * @example
 * ```ts
 * import { htonl, ntohl } from "socketkit";
 * console.log(ntohl(htonl(0x01020304)) === 0x01020304); // true
 * ```
 */
export function ntohl(x: number): number {
  return swap32("ntohl", x);
}
