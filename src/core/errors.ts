/**
 * Every error socketkit raises, in one module (as undici keeps them): `SocketError`
 * (Python's `OSError`) and its subclasses, each with a stable string `code` and an
 * `errno`. Node's error codes are mapped to these classes in one place, `toSocketError`.
 *
 * @example
 * ```ts
 * import { ConnectionRefusedError, createConnection } from "socketkit";
 * try {
 *   await createConnection(["127.0.0.1", 9]);
 * } catch (err) {
 *   if (err instanceof ConnectionRefusedError) console.log(err.code); // "ECONNREFUSED"
 * }
 * ```
 * @module
 */
import { constants } from "node:os";

const E = constants.errno as Record<string, number>;

/** The errno of a code on this platform, 0 when the platform has none. */
function errnoOf(code: string): number {
  return E[code] ?? 0;
}

/** The code of an errno on this platform (`"ECONNREFUSED"` for 111 on Linux), else `E<n>`. */
export function codeOfErrno(errno: number): string {
  for (const [code, n] of Object.entries(E)) if (n === errno) return code;
  return `E${errno}`;
}

/** Options shared by every error constructor. */
export interface SocketErrorOptions {
  /** Stable string code, such as `"ECONNREFUSED"` or `"ERR_LINE_TOO_LONG"`. */
  code?: string;
  /** Numeric error number; OS errors use the platform's value, socketkit's own use 0. */
  errno?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Base class of every socketkit error, as Python's `OSError` is for `socket`.
 *
 * @example
 * ```ts
 * import { SocketError } from "socketkit";
 * const err = new SocketError("Cannot bind: address in use", { code: "EADDRINUSE" });
 * console.log(err.code, err.errno);
 * ```
 */
export class SocketError extends Error {
  /** Stable string code: the OS code (`"ECONNRESET"`) or socketkit's own (`"ERR_..."`). */
  readonly code: string;
  /** Numeric error number (platform errno for OS errors, negative for resolver errors, else 0). */
  readonly errno: number;

  constructor(message: string, options: SocketErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? this.defaultCode();
    this.errno = options.errno ?? errnoOf(this.code);
  }

  /** The code used when the constructor is given none; for subclasses. */
  protected defaultCode(): string {
    return "ERR_SOCKET";
  }

  /** The class's name (`"ConnectionRefusedError"`, ...), as Python names its exceptions. */
  override get name(): string {
    return this.constructor.name;
  }
}

/** The peer refused the connection (`ECONNREFUSED`): nothing listens there. */
export class ConnectionRefusedError extends SocketError {
  protected override defaultCode(): string {
    return "ECONNREFUSED";
  }
}

/** The peer reset the connection (`ECONNRESET`). */
export class ConnectionResetError extends SocketError {
  protected override defaultCode(): string {
    return "ECONNRESET";
  }
}

/** The connection was aborted on this side (`ECONNABORTED`). */
export class ConnectionAbortedError extends SocketError {
  protected override defaultCode(): string {
    return "ECONNABORTED";
  }
}

/** Writing to a connection the peer has closed (`EPIPE`). */
export class BrokenPipeError extends SocketError {
  protected override defaultCode(): string {
    return "EPIPE";
  }
}

/** An operation did not finish within the socket's timeout (`ETIMEDOUT`). */
export class TimeoutError extends SocketError {
  protected override defaultCode(): string {
    return "ETIMEDOUT";
  }
}

/** A non-blocking socket (`settimeout(0)`) had nothing to give or take (`EAGAIN`). */
export class BlockingIOError extends SocketError {
  protected override defaultCode(): string {
    return "EAGAIN";
  }
}

/** The address is already bound by another socket (`EADDRINUSE`). */
export class AddressInUseError extends SocketError {
  protected override defaultCode(): string {
    return "EADDRINUSE";
  }
}

/** The address does not belong to this machine (`EADDRNOTAVAIL`). */
export class AddressNotAvailableError extends SocketError {
  protected override defaultCode(): string {
    return "EADDRNOTAVAIL";
  }
}

/** The operation needs privileges this process lacks (`EACCES`, `EPERM`). */
export class PermissionError extends SocketError {
  protected override defaultCode(): string {
    return "EACCES";
  }
}

/**
 * Name resolution failed (Python's `socket.gaierror`). `code` is the resolver's
 * (`"EAI_NONAME"`, `"EAI_AGAIN"`...) and `errno` the negative number Python shows.
 */
export class GaiError extends SocketError {
  protected override defaultCode(): string {
    return "EAI_NONAME";
  }
}

/** End of stream came before the bytes asked for; `partial` holds what did arrive. */
export class IncompleteReadError extends SocketError {
  /** The bytes read before end of stream. */
  readonly partial: Buffer;
  /** How many bytes were expected, or `null` when reading up to a separator. */
  readonly expected: number | null;

  constructor(partial: Buffer, expected: number | null, options: SocketErrorOptions = {}) {
    super(
      expected === null
        ? `Cannot read until separator: end of stream after ${partial.length} bytes`
        : `Cannot read ${expected} bytes: end of stream after ${partial.length}`,
      options,
    );
    this.partial = partial;
    this.expected = expected;
  }

  protected override defaultCode(): string {
    return "ERR_INCOMPLETE_READ";
  }
}

/** A line was longer than the limit; the excess was discarded, never buffered. */
export class LineTooLongError extends SocketError {
  /** The limit that was exceeded, in bytes. */
  readonly limit: number;

  constructor(limit: number, options: SocketErrorOptions = {}) {
    super(`Cannot read line: longer than maxLength ${limit} bytes`, options);
    this.limit = limit;
  }

  protected override defaultCode(): string {
    return "ERR_LINE_TOO_LONG";
  }
}

/** A length-prefixed frame declared a size above the limit; nothing was allocated for it. */
export class FrameTooLargeError extends SocketError {
  /** The size the frame declared, in bytes. */
  readonly size: number;
  /** The limit, in bytes. */
  readonly limit: number;

  constructor(size: number, limit: number, options: SocketErrorOptions = {}) {
    super(`Cannot decode frame: length ${size} exceeds maxFrameSize ${limit}`, options);
    this.size = size;
    this.limit = limit;
  }

  protected override defaultCode(): string {
    return "ERR_FRAME_TOO_LARGE";
  }
}

/** The feature is not available here (socket type, option, platform); the message says how to get it. */
export class UnsupportedError extends SocketError {
  protected override defaultCode(): string {
    return "ERR_UNSUPPORTED";
  }
}

/**
 * A file transfer failed on protocol grounds: a wrong peer or version, a refused name or
 * size, a secret that does not match, a hash mismatch. `code` says which
 * (`ERR_TRANSFER_PEER`, `ERR_TRANSFER_NAME`, `ERR_TRANSFER_HASH`, ...).
 */
export class TransferError extends SocketError {
  protected override defaultCode(): string {
    return "ERR_TRANSFER";
  }
}

/**
 * An access list could not be made: an `allow` or `deny` entry that is not an IPv4 or
 * IPv6 address or CIDR range, or a list given to a server whose peers have no IP address
 * (a Unix socket). `code` is `ERR_ACCESS_LIST`.
 */
export class AccessListError extends SocketError {
  protected override defaultCode(): string {
    return "ERR_ACCESS_LIST";
  }
}

/**
 * A value given to socketkit is not one it can use: a list of ports that is not ports and
 * ranges within 1-65535, for one. The CLI reports it as a usage error. `code` is
 * `ERR_INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * import { ArgumentError } from "socketkit";
 * const err = new ArgumentError('Cannot scan ports "80-x": "80-x" is not a port or range');
 * console.log(err.code); // "ERR_INVALID_ARGUMENT"
 * ```
 */
export class ArgumentError extends SocketError {
  protected override defaultCode(): string {
    return "ERR_INVALID_ARGUMENT";
  }
}

/**
 * A selector of `socketkit/select` was asked about a socket it does not hold
 * (`ERR_NOT_REGISTERED`), or to register one it already holds (`ERR_ALREADY_REGISTERED`):
 * Python's `KeyError` from `selectors`.
 *
 * @example
 * ```ts
 * import { SelectorKeyError, socket } from "socketkit";
 * import { DefaultSelector } from "socketkit/select";
 * using selector = new DefaultSelector();
 * try {
 *   selector.getKey(socket());
 * } catch (err) {
 *   if (err instanceof SelectorKeyError) console.log(err.code); // "ERR_NOT_REGISTERED"
 * }
 * ```
 */
export class SelectorKeyError extends SocketError {
  protected override defaultCode(): string {
    return "ERR_NOT_REGISTERED";
  }
}

/**
 * A number outside the range an operation takes, where Python raises `OverflowError`:
 * `htons(-1)`, `htonl(2 ** 32)`, `getservbyport(65536)`. `code` is `ERR_OUT_OF_RANGE`.
 *
 * @example
 * ```ts
 * import { htons, OverflowError } from "socketkit";
 * try {
 *   htons(65536);
 * } catch (err) {
 *   if (err instanceof OverflowError) console.log(err.code); // "ERR_OUT_OF_RANGE"
 * }
 * ```
 */
export class OverflowError extends ArgumentError {
  protected override defaultCode(): string {
    return "ERR_OUT_OF_RANGE";
  }
}

type ErrorClass = new (message: string, options?: SocketErrorOptions) => SocketError;

/** Node/libuv code → class. Codes not listed become a plain `SocketError`. */
const CLASS_BY_CODE: Record<string, ErrorClass> = {
  ECONNREFUSED: ConnectionRefusedError,
  ECONNRESET: ConnectionResetError,
  ECONNABORTED: ConnectionAbortedError,
  EPIPE: BrokenPipeError,
  ETIMEDOUT: TimeoutError,
  EAGAIN: BlockingIOError,
  EWOULDBLOCK: BlockingIOError,
  EADDRINUSE: AddressInUseError,
  EADDRNOTAVAIL: AddressNotAvailableError,
  EACCES: PermissionError,
  EPERM: PermissionError,
};

/** Node's own codes for socket misuse → the OS code Python would raise. */
const NODE_CODE: Record<string, string> = {
  ERR_STREAM_WRITE_AFTER_END: "EPIPE",
  ERR_STREAM_DESTROYED: "EBADF",
  ERR_SOCKET_CLOSED: "EBADF",
  ERR_SOCKET_DGRAM_NOT_RUNNING: "EBADF",
  ERR_SOCKET_DGRAM_IS_CONNECTED: "EISCONN",
  ERR_SOCKET_DGRAM_NOT_CONNECTED: "ENOTCONN",
  ERR_SOCKET_BAD_PORT: "EINVAL",
  ERR_SOCKET_BAD_BUFFER_SIZE: "EINVAL",
  ERR_SOCKET_BUFFER_SIZE: "EINVAL",
  ERR_SOCKET_ALREADY_BOUND: "EINVAL",
  ERR_INVALID_ARG_TYPE: "EINVAL",
  ERR_INVALID_ARG_VALUE: "EINVAL",
};

/** Human text for the codes people meet, as `strerror` words them (lower case). */
const DESCRIPTION: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  ECONNABORTED: "connection aborted",
  EPIPE: "broken pipe",
  ETIMEDOUT: "timed out",
  EAGAIN: "resource temporarily unavailable",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "cannot assign requested address",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  ENOTCONN: "socket is not connected",
  EISCONN: "socket is already connected",
  EBADF: "bad file descriptor (socket is closed)",
  EINVAL: "invalid argument",
  EMSGSIZE: "message too long",
  ENETUNREACH: "network is unreachable",
  EHOSTUNREACH: "no route to host",
  EAFNOSUPPORT: "address family not supported by protocol",
  ENOTSOCK: "not a socket",
  ENAMETOOLONG: "file name too long",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links",
  EILSEQ: "invalid or incomplete multibyte or wide character",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "file too large",
  EROFS: "read-only file system",
  EIO: "input/output error",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the certificate is self-signed, so it cannot be verified",
  SELF_SIGNED_CERT_IN_CHAIN: "the certificate chain ends in a self-signed certificate",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the certificate cannot be verified",
  CERT_HAS_EXPIRED: "the certificate has expired",
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate is not for this host name",
  EAI_NONAME: "name or service not known",
  EAI_AGAIN: "temporary failure in name resolution",
  EAI_FAIL: "non-recoverable failure in name resolution",
  EAI_FAMILY: "address family not supported",
  EAI_NODATA: "no address associated with hostname",
  EAI_ADDRFAMILY: "address family for hostname not supported",
  EAI_SERVICE: "servname not supported for ai_socktype",
};

/** Python's `socket.EAI_*` numbers (glibc). */
const GAI_ERRNO: Record<string, number> = {
  EAI_BADFLAGS: -1,
  EAI_NONAME: -2,
  EAI_AGAIN: -3,
  EAI_FAIL: -4,
  EAI_NODATA: -5,
  EAI_FAMILY: -6,
  EAI_SOCKTYPE: -7,
  EAI_SERVICE: -8,
  EAI_ADDRFAMILY: -9,
  EAI_MEMORY: -10,
};

/** The words for a code: `describe("ECONNREFUSED")` is `"connection refused"`. */
export function describe(code: string): string {
  return DESCRIPTION[code] ?? code;
}

/**
 * A `SocketError` of the right class for an OS or resolver code, with the message
 * `Cannot ACTION: description`.
 *
 * @example
 * ```ts
 * import { errorFromCode } from "socketkit";
 * const err = errorFromCode("ECONNREFUSED", "connect to 127.0.0.1:9");
 * err.message; // "Cannot connect to 127.0.0.1:9: connection refused"
 * ```
 */
export function errorFromCode(code: string, action: string, cause?: unknown): SocketError {
  let c = NODE_CODE[code] ?? code;
  if (c === "ENOTFOUND") c = "EAI_NONAME";
  if (c.startsWith("EAI_")) {
    return new GaiError(`Cannot ${action}: ${describe(c)}`, {
      code: c,
      errno: GAI_ERRNO[c] ?? 0,
      cause,
    });
  }
  const Class = CLASS_BY_CODE[c] ?? SocketError;
  // A code outside socketkit's table keeps the number the system gave (libuv's are negative).
  const given = (cause as { errno?: unknown } | undefined)?.errno;
  const errno = errnoOf(c) || (typeof given === "number" ? Math.abs(given) : 0);
  return new Class(`Cannot ${action}: ${describe(c)}`, { code: c, errno, cause });
}

/**
 * Maps anything Node throws or emits to a `SocketError` naming the action that failed.
 * A `SocketError` passes through unchanged. This is the one place Node's codes are mapped.
 *
 * @example
 * ```ts
 * import { connect } from "node:net";
 * import { type SocketError, toSocketError } from "socketkit";
 * let stored: SocketError | null = null; // for the next operation to throw
 * const conn = connect(80, "127.0.0.1");
 * conn.on("error", (e) => {
 *   stored = toSocketError(e, "connect to 127.0.0.1:80");
 * });
 * conn.on("close", () => console.log(stored?.message)); // "Cannot connect to 127.0.0.1:80: ..."
 * ```
 */
export function toSocketError(err: unknown, action: string): SocketError {
  if (err instanceof SocketError) return err;
  const code =
    typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "string"
      ? (err as { code: string }).code
      : undefined;
  if (code !== undefined) return errorFromCode(code, action, err);
  return new SocketError(`Cannot ${action}: ${messageOf(err)}`, { cause: err });
}

/** What went wrong, in words: an error's message, or anything else as text. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for the ways a peer routinely goes away (reset, broken pipe, abort). */
export function isDisconnect(err: unknown): boolean {
  return (
    err instanceof ConnectionResetError ||
    err instanceof BrokenPipeError ||
    err instanceof ConnectionAbortedError
  );
}

/**
 * A Magic Wormhole exchange failed: the rendezvous server refused or broke a request,
 * the code was wrong on one side (`ERR_WORMHOLE_KEY`, the key confirmation failed), the
 * peer sent what the protocol does not allow, or no transit connection could be made.
 * `code` says which (`ERR_WORMHOLE_SERVER`, `ERR_WORMHOLE_KEY`, `ERR_WORMHOLE_PEER`,
 * `ERR_WORMHOLE_TRANSIT`, `ERR_WORMHOLE_REFUSED`).
 */
export class WormholeError extends SocketError {
  protected override defaultCode(): string {
    return "ERR_WORMHOLE";
  }
}
