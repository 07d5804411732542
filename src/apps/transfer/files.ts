import { accessSync, constants, lstatSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { checkRelativePath, refusedName } from "../../codec/transfer-codec.ts";
import { describe, type SocketError, TransferError, toSocketError } from "../../core/errors.ts";
import { quote } from "../../core/escape.ts";
import { hasNative, native } from "../../native/index.ts";

/**
 * Longest path the system opens, in bytes: PATH_MAX (4096 on Linux, 1024 on macOS and
 * the BSDs) less the NUL that ends it.
 */
export const MAX_SYSTEM_PATH = process.platform === "linux" ? 4095 : 1023;

/**
 * The codes by which the system refuses a path itself (too long, a character or an
 * encoding the file system cannot store, a link or a non-directory in the way), rather
 * than the disk failing: the name is then refused.
 */
const NAME_REFUSALS = new Set(["ENAMETOOLONG", "EILSEQ", "EINVAL", "ELOOP", "ENOTDIR", "EISDIR"]);

/** A file to send: where it is, the name it goes under, its size and whether it runs. */
export interface SourceFile {
  abs: string;
  rel: string;
  size: number;
  exec: boolean;
}

/** What `send`/`share` will send: files, and the directories that are empty. */
export interface SourceTree {
  files: SourceFile[];
  emptyDirs: string[];
  /** Symbolic links and special files left out, by path. */
  skipped: string[];
}

const { S_IFMT, S_IFREG, S_IFDIR, R_OK, X_OK } = constants;
const isFile = (mode: number) => (mode & S_IFMT) === S_IFREG;
const isDir = (mode: number) => (mode & S_IFMT) === S_IFDIR;

/**
 * A folder's names, sorted, and side by side in `stats` each one's `lstat`: its mode at
 * 2i (or -errno when it could not be looked up), its size at 2i + 1.
 */
interface Listing {
  names: string[];
  stats: ArrayLike<number>;
}

/**
 * The folder `abs`'s listing: with the addon, in one call (10,000 names in a few ms, and
 * no object a name); without, `readdirSync` and an `lstatSync` a name.
 */
function listingOf(abs: string): Listing {
  const io = hasNative() ? native("a folder's listing") : null;
  // An addon built from older sources lacks the call.
  if (io !== null && typeof io.listFolder === "function") return io.listFolder(abs);
  const names = readdirSync(abs).sort();
  const stats = new Float64Array(2 * names.length);
  for (const [i, name] of names.entries()) {
    const s = lstatSync(join(abs, name));
    stats[2 * i] = s.mode;
    stats[2 * i + 1] = s.size;
  }
  return { names, stats };
}

/**
 * Fails, as `Cannot read SHOWN: permission denied`, when this process may not read the
 * file or list the folder `abs`. Free when its mode lets everyone (most files): only the
 * others cost an `access` call.
 */
function checkReadable(abs: string, shown: () => string, mode: number, dir: boolean): void {
  const everyone = dir ? 0o555 : 0o444;
  if ((mode & everyone) === everyone) return;
  try {
    accessSync(abs, dir ? R_OK | X_OK : R_OK);
  } catch (err) {
    throw toSocketError(err, `read ${shown()}`);
  }
}

/**
 * The files under `paths` (files, or folders walked whole), each named relative to its
 * argument's parent (`send photos/` sends `photos/a.jpg`). Symbolic links are not
 * followed and, like sockets and devices, are left out and listed in `skipped`. A file
 * or folder that cannot be read fails the listing, before anything is sent, with its path
 * as given (`Cannot read photos/private: permission denied`).
 */
export async function listSources(paths: string[]): Promise<SourceTree> {
  const tree: SourceTree = { files: [], emptyDirs: [], skipped: [] };
  const seen = new Set<string>();
  const add = (rel: string) => {
    checkRelativePath(rel);
    if (seen.has(rel)) {
      throw new TransferError(`Cannot send two files named ${quoteName(rel)}`, {
        code: "ERR_TRANSFER_NAME",
      });
    }
    seen.add(rel);
  };
  const addFile = (abs: string, rel: string, shown: () => string, mode: number, size: number) => {
    checkReadable(abs, shown, mode, false);
    add(rel);
    tree.files.push({ abs, rel, size, exec: (mode & 0o111) !== 0 });
  };
  // Synchronous: the listing comes before any connection, and 10,000 `lstat` calls take
  // 60 ms on the event loop against 170-220 ms through the thread pool, 256 at a time.
  // The path as shown in a message is made only for the message.
  const walkDir = (abs: string, rel: string, shown: string, mode: number): void => {
    checkReadable(abs, () => shown, mode, true);
    let listing: Listing;
    try {
      listing = listingOf(abs);
    } catch (err) {
      throw toSocketError(err, `read ${shown}`);
    }
    const { names, stats } = listing;
    if (names.length === 0) {
      add(rel);
      tree.emptyDirs.push(rel);
    }
    const prefix = abs.endsWith("/") ? abs : `${abs}/`;
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const path = prefix + name;
      let entryMode = stats[2 * i] as number;
      let size = stats[2 * i + 1] as number;
      if (entryMode < 0) {
        // Gone or unreadable since the folder was read: lstatSync says why (or finds it back).
        try {
          ({ mode: entryMode, size } = lstatSync(path));
        } catch (err) {
          throw toSocketError(err, `read ${shown}`);
        }
      }
      if (isFile(entryMode)) {
        addFile(path, `${rel}/${name}`, () => join(shown, name), entryMode, size);
      } else if (isDir(entryMode)) {
        walkDir(path, `${rel}/${name}`, join(shown, name), entryMode);
      } else {
        // Symbolic links, sockets, devices.
        tree.skipped.push(path);
      }
    }
  };
  for (const path of paths) {
    const abs = resolve(path);
    let info: { mode: number; size: number };
    try {
      info = lstatSync(abs);
    } catch (err) {
      if ((err as { code?: unknown }).code !== "ENOENT") throw toSocketError(err, `read ${path}`);
      throw new TransferError(`Cannot send ${path}: no such file or directory`, { code: "ENOENT" });
    }
    if (isFile(info.mode)) addFile(abs, basename(abs), () => path, info.mode, info.size);
    else if (isDir(info.mode)) walkDir(abs, basename(abs), path, info.mode);
    else tree.skipped.push(abs);
  }
  return tree;
}

/**
 * The error to report when a file-system call for the received name `rel` failed: a path
 * the system refuses (`ENAMETOOLONG`, `ELOOP`...) refuses the name (`ERR_TRANSFER_NAME`);
 * anything else is a `SocketError` with the system's code, `Cannot ACTION: ...`.
 */
export function diskError(err: unknown, rel: string, action: string): SocketError {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && NAME_REFUSALS.has(code)) {
    const why = code === "ELOOP" ? "a symbolic link is in the way" : describe(code);
    return refusedName(rel, `the system refuses it (${why})`);
  }
  return toSocketError(err, action);
}

/**
 * A received name for a message: quoted with its control characters escaped, and cut to
 * 200 characters (a name can be 4096 bytes long).
 */
export function quoteName(rel: string): string {
  return quote(rel, 200);
}
