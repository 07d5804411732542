import { TransferError } from "../core/errors.ts";
import { escapeControls, quote } from "../core/escape.ts";

/**
 * The wire format of socketkit's file transfer (docs/transfer-protocol.md): an 8-byte
 * preamble from each side, then control messages (a 4-byte big-endian length and a JSON
 * object), and after a `data` message the file's bytes, unframed. Pure functions: the
 * transfer app reads and writes them on a socket.
 * @module
 */

/** The first four bytes each side sends. */
export const TRANSFER_MAGIC = Buffer.from("SKXF", "latin1");
/** The protocol version this code speaks. */
export const TRANSFER_VERSION = 2;
/** Bytes of the preamble: magic, version (u16), role (u8), reserved (u8). */
export const PREAMBLE_SIZE = 8;
/** Largest control message body, in bytes. */
export const MAX_MESSAGE_SIZE = 64 * 1024;
/** Largest file sent whole in a `pack` message (its bytes follow the message, unframed). */
export const MAX_BLOB_SIZE = 64 * 1024;
/** Most files in one `pack`. */
export const MAX_PACK_FILES = 1024;
/** Most bytes of data after one `pack` (the sum of its files' sizes). */
export const MAX_PACK_BYTES = 1024 * 1024;
/** Bytes of a SPAKE2 message (a side byte and a compressed Ed25519 point), hex in `pake`. */
export const PAKE_MESSAGE_SIZE = 33;
/** Longest relative path, in UTF-8 bytes, and longest path component. */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

/** Which side of a transfer: the one with the files, or the one writing them. */
export type Role = "sender" | "receiver";

const ROLE_BYTE: Record<Role, number> = { sender: 0x53, receiver: 0x52 };

/** A small file in a `pack`: its bytes follow the message, after those of the files before. */
export interface PackedFile {
  path: string;
  size: number;
  exec: boolean;
  sha256: string;
}

/** The messages of the protocol, by their `t` field. */
export type TransferMessage =
  | { t: "hello"; auth: boolean }
  | { t: "pake"; msg: string }
  | { t: "ready" }
  | { t: "file"; path: string; size: number; exec: boolean }
  | { t: "pack"; files: PackedFile[] }
  | { t: "dir"; path: string }
  | { t: "offer"; have: number; sha256: string | null; held: boolean }
  | { t: "data"; from: number }
  | { t: "done"; sha256: string }
  | { t: "ok"; present: boolean }
  | { t: "stored"; present: number[] }
  | { t: "end"; files: number; bytes: number }
  | { t: "bye" }
  | { t: "error"; code: string; message: string };

/** The preamble `role` sends. */
export function encodePreamble(role: Role): Buffer {
  const out = Buffer.alloc(PREAMBLE_SIZE);
  TRANSFER_MAGIC.copy(out, 0);
  out.writeUInt16BE(TRANSFER_VERSION, 4);
  out[6] = ROLE_BYTE[role];
  return out;
}

/**
 * Checks the peer's preamble: a socketkit transfer peer, of this version, in the other
 * role. Anything else is a `TransferError` that says what the peer is.
 */
export function checkPreamble(preamble: Buffer, peer: Role): void {
  if (preamble.length < PREAMBLE_SIZE || !preamble.subarray(0, 4).equals(TRANSFER_MAGIC)) {
    const seen = preamble.subarray(0, PREAMBLE_SIZE);
    const text = /^[\x20-\x7e]+$/.test(seen.toString("latin1"))
      ? JSON.stringify(seen.toString("latin1"))
      : seen.toString("hex");
    throw new TransferError(
      `The peer is not a socketkit transfer peer (it sent ${text || "nothing"})`,
      { code: "ERR_TRANSFER_PEER" },
    );
  }
  const version = preamble.readUInt16BE(4);
  if (version !== TRANSFER_VERSION) {
    throw new TransferError(
      `The peer speaks transfer protocol version ${version}; this socketkit speaks ${TRANSFER_VERSION}`,
      { code: "ERR_TRANSFER_VERSION" },
    );
  }
  const role = preamble[6];
  if (role !== ROLE_BYTE[peer]) {
    const mine = peer === "sender" ? "receiver" : "sender";
    throw new TransferError(
      role === ROLE_BYTE[mine]
        ? `Both sides are ${mine}s: one side must send and the other receive`
        : `The peer sent an unknown role byte ${role}`,
      { code: "ERR_TRANSFER_PEER" },
    );
  }
}

/** A message as it goes on the wire: its length (u32 BE), then its JSON. */
export function encodeMessage(message: TransferMessage): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  if (body.length > MAX_MESSAGE_SIZE) {
    throw new TransferError(`Cannot send a ${message.t} message of ${body.length} bytes`, {
      code: "ERR_TRANSFER_PROTOCOL",
    });
  }
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Checks a message length read from the wire before its body is read. */
export function checkMessageLength(length: number): void {
  if (length > MAX_MESSAGE_SIZE) {
    throw new TransferError(
      `The peer sent a message of ${length} bytes (at most ${MAX_MESSAGE_SIZE}): not this protocol`,
      { code: "ERR_TRANSFER_PROTOCOL" },
    );
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const PAKE_HEX = new RegExp(`^[0-9a-f]{${PAKE_MESSAGE_SIZE * 2}}$`);
const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A message from its JSON body, every field checked: anything malformed is a
 * `TransferError` (`ERR_TRANSFER_PROTOCOL`), never a crash or a half-valid object. File
 * and directory paths are checked with {@link checkRelativePath}. An `error` message's
 * text comes back with its control characters shown (`escapeControls`), cut to 1000
 * characters, and a code that is not letters, digits, `_`, `.` or `-` becomes
 * `ERR_TRANSFER`.
 */
export function decodeMessage(body: Buffer): TransferMessage {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    throw bad("a message that is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw bad("a message that is not an object");
  const m = value as Record<string, unknown>;
  switch (m.t) {
    case "hello":
      if (typeof m.auth !== "boolean") throw bad("hello without auth");
      return { t: "hello", auth: m.auth };
    case "pake":
      if (typeof m.msg !== "string" || !PAKE_HEX.test(m.msg)) throw bad("pake with a bad message");
      return { t: "pake", msg: m.msg };
    case "ready":
      return { t: "ready" };
    case "file":
      if (!isSize(m.size)) throw bad("file with a bad size");
      if (typeof m.exec !== "boolean") throw bad("file without exec");
      return { t: "file", path: checkRelativePath(m.path), size: m.size as number, exec: m.exec };
    case "pack":
      return { t: "pack", files: decodePack(m.files) };
    case "dir":
      return { t: "dir", path: checkRelativePath(m.path) };
    case "offer":
      if (!isSize(m.have)) throw bad("offer with a bad length");
      if (m.sha256 !== null && !isHex64(m.sha256)) throw bad("offer with a bad sha256");
      if (typeof m.held !== "boolean") throw bad("offer without held");
      // A held file is offered without its hash (the sender shows its own); a partial
      // one with the hash of the bytes there, when there are any.
      if ((m.held || m.have === 0) !== (m.sha256 === null))
        throw bad("offer with a hash that does not fit its length");
      return {
        t: "offer",
        have: m.have as number,
        sha256: m.sha256 as string | null,
        held: m.held,
      };
    case "data":
      if (!isSize(m.from)) throw bad("data with a bad offset");
      return { t: "data", from: m.from as number };
    case "done":
      if (!isHex64(m.sha256)) throw bad("done with a bad sha256");
      return { t: "done", sha256: m.sha256 as string };
    case "ok":
      if (typeof m.present !== "boolean") throw bad("ok without present");
      return { t: "ok", present: m.present };
    case "stored":
      return { t: "stored", present: decodePresent(m.present) };
    case "end":
      if (!isSize(m.files) || !isSize(m.bytes)) throw bad("end with bad counts");
      return { t: "end", files: m.files as number, bytes: m.bytes as number };
    case "bye":
      return { t: "bye" };
    case "error":
      if (typeof m.code !== "string" || typeof m.message !== "string")
        throw bad("error without code and message");
      // The peer's words end up on a terminal: its code must look like one, and its
      // message cannot carry control characters that would act there.
      return {
        t: "error",
        code: ERROR_CODE.test(m.code) ? m.code : "ERR_TRANSFER",
        message: escapeControls(m.message).slice(0, 1000),
      };
    default:
      throw bad(`an unknown message ${quote(shown(m.t).slice(0, 32))}`);
  }
}

/** A `pack`'s list of files, each checked, no path twice, within the pack's limits. */
function decodePack(files: unknown): PackedFile[] {
  if (!Array.isArray(files) || files.length === 0 || files.length > MAX_PACK_FILES)
    throw bad(`pack without 1 to ${MAX_PACK_FILES} files`);
  const out: PackedFile[] = [];
  const paths = new Set<string>();
  let bytes = 0;
  for (const f of files as unknown[]) {
    if (typeof f !== "object" || f === null || Array.isArray(f)) throw bad("pack with a bad file");
    const { path, size, exec, sha256 } = f as Record<string, unknown>;
    if (!isSize(size) || (size as number) > MAX_BLOB_SIZE) throw bad("pack with a bad size");
    if (typeof exec !== "boolean") throw bad("pack without exec");
    if (!isHex64(sha256)) throw bad("pack with a bad sha256");
    const checked = checkRelativePath(path);
    if (paths.has(checked)) throw bad(`pack with ${quote(checked, 200)} twice`);
    paths.add(checked);
    bytes += size as number;
    out.push({ path: checked, size: size as number, exec, sha256: sha256 as string });
  }
  if (bytes > MAX_PACK_BYTES) throw bad(`pack of over ${MAX_PACK_BYTES} bytes`);
  return out;
}

/** A `stored` message's list: the indexes, in order, of files of the pack that were there. */
function decodePresent(present: unknown): number[] {
  if (!Array.isArray(present) || present.length > MAX_PACK_FILES)
    throw bad("stored without present");
  let last = -1;
  for (const i of present as unknown[]) {
    if (!isSize(i) || (i as number) <= last || (i as number) >= MAX_PACK_FILES)
      throw bad("stored with a bad index");
    last = i as number;
  }
  return present as number[];
}

function bad(what: string): TransferError {
  return new TransferError(`The peer sent ${what}`, { code: "ERR_TRANSFER_PROTOCOL" });
}

function isHex64(v: unknown): boolean {
  return typeof v === "string" && HEX64.test(v);
}

function isSize(v: unknown): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// What invalid UTF-8 decodes to, and the lone surrogates a JSON "\ud800" escape gives
// (they cannot be written to a file name as they are: Node would turn them into U+FFFD).
const NOT_UTF8 = /\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A path the sender proposes, checked before the receiver goes near its disk: relative,
 * `/`-separated, and none of: `..` or `.` components, empty components, an absolute path,
 * a drive letter, a backslash, NUL or any control character, a component over 255 bytes,
 * a path over 4096 bytes. Returns the path; anything else is a `TransferError`
 * (`ERR_TRANSFER_NAME`) naming it with its control characters escaped.
 */
export function checkRelativePath(path: unknown): string {
  if (typeof path !== "string") {
    throw new TransferError(`Refused a file name that is not text: ${shown(path)}`, {
      code: "ERR_TRANSFER_NAME",
    });
  }
  const why = pathProblem(path);
  if (why !== null) throw refusedName(path, why);
  return path;
}

/** Printable ASCII but the backslash: most names, which need fewer checks. */
const PLAIN = /^[\x20-\x5b\x5d-\x7e]+$/;

/**
 * What can be wrong with a {@link PLAIN} path: an empty, `.` or `..` component, a leading
 * slash, a drive letter, a component over 255 bytes. Most names have none of these, and
 * are passed in one test (a sender of 10,000 small files checks as many names).
 */
const PLAIN_SUSPECT = /(?:^|\/)\.\.?(?:\/|$)|\/\/|^\/|\/$|^[A-Za-z]:|[^/]{256}/;

function pathProblem(path: string): string | null {
  if (path.length === 0) return "it is empty";
  // One byte a character, no control, no backslash, valid UTF-8: checked in one test.
  const plain = PLAIN.test(path);
  if (plain && path.length <= MAX_PATH_BYTES && !PLAIN_SUSPECT.test(path)) return null;
  const bytes = (s: string) => (plain ? s.length : Buffer.byteLength(s, "utf8"));
  if (bytes(path) > MAX_PATH_BYTES) return `it is over ${MAX_PATH_BYTES} bytes`;
  if (!plain && CONTROL.test(path)) return "it has control characters";
  if (!plain && path.includes("\\")) return "it has a backslash";
  if (path.startsWith("/")) return "it is absolute";
  if (/^[A-Za-z]:/.test(path)) return "it starts with a drive letter";
  for (const part of path.split("/")) {
    if (part === "") return "it has an empty component";
    if (part === "." || part === "..") return `it has a "${part}" component`;
    if (bytes(part) > MAX_NAME_BYTES) return `a component is over ${MAX_NAME_BYTES} bytes`;
  }
  if (!plain && NOT_UTF8.test(path)) return "it is not valid UTF-8";
  return null;
}

/**
 * The refusal of the file name `path` for `why`: `ERR_TRANSFER_NAME`, the name quoted with
 * its control characters escaped and cut to 200 characters (a name can be 4096 bytes).
 */
export function refusedName(path: string, why: string): TransferError {
  return new TransferError(`Refused the file name ${quote(path, 200)}: ${why}`, {
    code: "ERR_TRANSFER_NAME",
  });
}

/**
 * A value from the peer that should have been text, as text for a message. Never calls
 * the value's own methods: `String({ toString: 1 })` throws a TypeError.
 */
function shown(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "function") return "a function";
  return String(value);
}
