/**
 * The timeout new sockets start with, as Python's `socket.setdefaulttimeout` and
 * `socket.getdefaulttimeout` keep it for the whole process.
 * @module
 */
import { SocketError } from "../core/errors.ts";

let defaultTimeout: number | null = null;

/**
 * Sets the timeout, in seconds, that every socket made from now on starts with: those of
 * `socket()`, `createConnection()` (unless given a `timeout`), `createServer()`, and the
 * ones `accept()` returns, as in Python (an accepted socket takes this default, not its
 * listener's timeout). `null` (the default) means blocking, `0` non-blocking. Sockets that
 * exist already keep theirs. Throws `SocketError` (`EINVAL`) for a negative or non-finite
 * number, as `settimeout` does.
 *
 * @example
 * ```ts
 * import { setdefaulttimeout, socket } from "socketkit";
 * setdefaulttimeout(5);
 * await using s = socket();
 * console.log(s.gettimeout()); // 5
 * ```
 */
export function setdefaulttimeout(timeout: number | null): void {
  if (
    timeout !== null &&
    (typeof timeout !== "number" || !(timeout >= 0) || !Number.isFinite(timeout))
  ) {
    throw new SocketError(
      `Cannot set default timeout: ${String(timeout)} is out of range (use null or seconds >= 0)`,
      { code: "EINVAL" },
    );
  }
  defaultTimeout = timeout;
}

/**
 * The timeout new sockets start with, in seconds, or `null` (blocking, the initial value),
 * as Python's `socket.getdefaulttimeout()`.
 *
 * @example
 * ```ts
 * import { getdefaulttimeout } from "socketkit";
 * console.log(getdefaulttimeout()); // null unless setdefaulttimeout was called
 * ```
 */
export function getdefaulttimeout(): number | null {
  return defaultTimeout;
}
