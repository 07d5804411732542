/**
 * Argument checks and conversions shared by `Socket` and its backends.
 * @module
 */
import { SocketError } from "../core/errors.ts";

/** The empty Buffer a `recv` returns at the end of a stream. */
export const EMPTY = Buffer.alloc(0);

/** An error of a call made in the wrong state (not connected, closed, ...). */
export function badState(message: string, code: string): SocketError {
  return new SocketError(message, { code });
}

/** The bytes of what `send` and friends take, without copying a Buffer or a view. */
export function toBuffer(data: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Refuses a size that is not a non-negative integer, as Python does. */
export function checkSize(bufsize: number, action: string): void {
  if (!Number.isInteger(bufsize) || bufsize < 0) {
    throw new SocketError(
      `Cannot ${action}: buffer size must be a non-negative integer, got ${bufsize}`,
      { code: "EINVAL" },
    );
  }
}

/** The byte count of a `recv_into`: `nbytes`, or all of `buffer` for 0 (Python's rules). */
export function intoSize(buffer: Uint8Array, nbytes: number, action: string): number {
  if (!(buffer instanceof Uint8Array)) {
    throw new SocketError(`Cannot ${action}: a Buffer or Uint8Array is needed`, { code: "EINVAL" });
  }
  checkSize(nbytes, action);
  if (nbytes > buffer.byteLength) {
    throw new SocketError(
      `Cannot ${action}: buffer too small for requested bytes (${buffer.byteLength} < ${nbytes})`,
      { code: "EINVAL" },
    );
  }
  return nbytes === 0 ? buffer.byteLength : nbytes;
}
