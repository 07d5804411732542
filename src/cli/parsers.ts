import { isIP } from "node:net";
import { InvalidArgumentError } from "commander";
import { unbracket } from "../core/address.ts";
import { quote } from "../core/escape.ts";

// Plain decimal digits only: `Number()` alone would take "" and " " as 0, "0x50" as 80,
// "1e3" as 1000 and "0b1" as 1.
const DIGITS = /^[0-9]+$/;
const DECIMAL = /^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)$/;

/** `value` as a whole number when it is plain decimal digits, else null. */
function wholeNumber(value: string): number | null {
  if (!DIGITS.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

/** Parses a port number (0-65535, decimal digits only) for commander. */
export function parsePort(value: string): number {
  const n = wholeNumber(value);
  if (n === null || n > 65535) {
    throw new InvalidArgumentError(`Port must be 0-65535 in decimal digits, got ${quote(value)}`);
  }
  return n;
}

/** Parses seconds (>= 0, a plain decimal such as `30` or `1.5`) for commander. */
export function parseSeconds(value: string): number {
  const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) {
    throw new InvalidArgumentError(
      `Expected seconds as a decimal number >= 0 (such as 30 or 1.5), got ${quote(value)}`,
    );
  }
  return n;
}

/** Parses a whole number >= 1 (decimal digits only) for commander. */
export function parseCount(value: string): number {
  const n = wholeNumber(value);
  if (n === null || n < 1) {
    throw new InvalidArgumentError(
      `Expected a whole number >= 1 in decimal digits, got ${quote(value)}`,
    );
  }
  return n;
}

/** Parses a whole number >= 0 (decimal digits only) for commander. */
export function parseCountOrZero(value: string): number {
  const n = wholeNumber(value);
  if (n === null) {
    throw new InvalidArgumentError(
      `Expected a whole number >= 0 in decimal digits, got ${quote(value)}`,
    );
  }
  return n;
}

/** Parses a port a client connects to (1-65535: port 0 cannot be connected to). */
export function parseRemotePort(value: string): number {
  const n = parsePort(value);
  if (n === 0) throw new InvalidArgumentError("Port must be 1-65535 to connect to, got 0");
  return n;
}

/**
 * Parses a host: a name, an IPv4 address, or an IPv6 address with or without brackets
 * (`::1` and `[::1]` alike); the brackets are taken off.
 */
export function parseHost(value: string): string {
  if (value.startsWith("[") || value.endsWith("]")) {
    const inner = unbracket(value);
    if (isIP(inner) !== 6) {
      throw new InvalidArgumentError(
        `Expected an IPv6 address inside the brackets, got ${quote(value)}`,
      );
    }
    return inner;
  }
  if (value === "") throw new InvalidArgumentError('Expected a host name or address, got ""');
  return value;
}

/**
 * Parses `HOST:PORT`: a name or IPv4 address, `[v6]:PORT`, or a bare IPv6 address followed
 * by `:PORT` (`::1:9000`, read as `[::1]:9000`).
 */
export function parseHostPort(value: string): [string, number] {
  const bracketed = /^\[([^\]]+)\]:([^:]+)$/.exec(value);
  if (bracketed !== null) {
    return [parseHost(`[${bracketed[1]}]`), parseRemotePort(bracketed[2] as string)];
  }
  const colon = value.lastIndexOf(":");
  const host = value.slice(0, colon);
  if (colon <= 0 || (host.includes(":") && isIP(host) !== 6)) {
    throw new InvalidArgumentError(`Expected HOST:PORT (or [IPv6]:PORT), got ${quote(value)}`);
  }
  return [host, parseRemotePort(value.slice(colon + 1))];
}
