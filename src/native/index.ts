/**
 * The optional native addon (native/socketkit.cc, built by `npm install` when a compiler
 * is there). {@link native} returns it, or throws `UnsupportedError` saying why it is
 * missing and how to get it. `SOCKETKIT_NO_NATIVE=1` makes socketkit act as if it were
 * absent (the test suite runs that way too).
 * @module
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { UnsupportedError } from "../core/errors.ts";

/**
 * An address as the addon takes and gives it. The port must be an integer in 0-65535
 * (anything else is refused with `EINVAL`, never cut to 16 bits); an IPv6 address carries
 * its flowinfo and scope id, as Python's 4-tuple does.
 */
export type NativeAddress =
  | { family: "unix"; path: Buffer }
  | { family: "inet"; host: string; port: number }
  | { family: "inet6"; host: string; port: number; flowinfo?: number; scopeId?: number };

/** The addon's calls: non-blocking, null or -1 meaning "would block". */
export interface NativeAddon {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, address: NativeAddress): void;
  connect(fd: number, address: NativeAddress): boolean;
  listen(fd: number, backlog: number): void;
  accept(fd: number): [number, NativeAddress] | null;
  sendto(fd: number, data: Buffer, address: NativeAddress | null): number;
  recvfrom(fd: number, size: number): [Buffer, NativeAddress | null, number] | null;
  /**
   * Reads a stream socket into `buffer[offset, offset + length)` on the thread pool until
   * it is full, the stream ends or `ms` pass: bytes read, 0 at end of stream, -1 when
   * nothing came within `ms`.
   */
  recvInto(fd: number, buffer: Buffer, offset: number, length: number, ms: number): Promise<number>;
  /**
   * sendfile(2) from the file `fileFd` (from `offset`, at most `count` bytes) to the stream
   * socket `fd` on the thread pool, for at most `ms`: bytes sent, 0 at the file's end, -1
   * when `ms` passed with nothing sent.
   */
  sendFile(fd: number, fileFd: number, offset: number, count: number, ms: number): Promise<number>;
  /** Sends `buffer[offset, offset + length)` on the thread pool, for at most `ms`: bytes sent. */
  sendFrom(fd: number, buffer: Buffer, offset: number, length: number, ms: number): Promise<number>;
  /**
   * Writes `buffer[offset, offset + length)` to a file at its position on the thread
   * pool, in `write` calls of at most `slice` bytes: bytes written (all of them).
   */
  writeFile(
    fd: number,
    buffer: Buffer,
    offset: number,
    length: number,
    slice: number,
  ): Promise<number>;
  /**
   * Opens `path`, relative to the directory `dirfd`, on the thread pool, following no
   * symbolic link on the way or at the end and never leaving the directory (openat2 with
   * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a walk by openat(O_NOFOLLOW) where openat2
   * is missing): the new descriptor. A link in the way is `ELOOP`, a way out `EXDEV`.
   */
  openBeneath(dirfd: number, path: string, flags: number, mode: number): Promise<number>;
  /**
   * Makes the missing folders of `path` beneath `dirfd`, each from a descriptor of the one
   * before, on the thread pool. A folder there is fine; a link is `ELOOP`, a file `ENOTDIR`.
   */
  mkdirsBeneath(dirfd: number, path: string, mode: number): Promise<void>;
  /**
   * Renames `from` to `to`, both beneath `dirfd`, on the thread pool. With `noReplace`,
   * never over anything (`EEXIST`); without, only over a regular file (a link there is
   * `ELOOP`, a folder `EISDIR`, anything else `EEXIST`).
   */
  renameBeneath(dirfd: number, from: string, to: string, noReplace: boolean): Promise<void>;
  /** Removes the file (or link itself) `path` beneath `dirfd`, on the thread pool. */
  unlinkBeneath(dirfd: number, path: string): Promise<void>;
  /**
   * What is at `path` beneath `dirfd`, not following a link there (lstat), on the thread
   * pool; null when nothing is, nor its folder.
   */
  statBeneath(dirfd: number, path: string): Promise<NativeStat | null>;
  /**
   * Small files received whole, in one call on the thread pool. File i is named
   * `finals[i]`, holds `data[i]`, which must have the SHA-256 `sums[i]` (if one has not,
   * nothing of the batch is written: the outcomes are its `corrupt` sum and `index`
   * alone), and gets `modes[i]`: written to a nameless
   * file in its folder (O_TMPFILE) with `noReplace` where the file system can, else to its
   * staged file (made anew, or an earlier one taken only when it is a regular file with
   * one link); noted in the received list (JSON lines, one write to `listFd` for up to 256
   * files; -1: none); then given its name (linked, or renamed; never over anything with
   * `noReplace`; with `staleStaged`, a staged file an earlier run left for it is removed).
   * Per file, in order: `exists` when a file is at the name with `noReplace` (nothing
   * written); `refused` with what the staged file is when it is not socketkit's; `error`;
   * else the identity of the file now at its name. The first `refused` or `error` ends
   * the call: the outcomes stop there. With `order` (an `Int32Array` of 3, zeros at first,
   * shared by one receiver's calls), the calls run one at a time in the order they were
   * made, and once one has failed the later ones try nothing (their outcomes are empty).
   */
  storeBeneath(
    dirfd: number,
    files: { finals: string[]; data: Buffer[]; sums: string[]; modes: Uint32Array },
    noReplace: boolean,
    listFd: number,
    staleStaged: boolean,
    order?: Int32Array,
  ): Promise<
    (
      | { exists: true }
      | { corrupt: string; index: number }
      | { refused: { nlink: number; isFile: boolean } }
      | { error: Error }
      | { ino: string; size: number; mtime: string }
    )[]
  >;
  /** An int option, or a struct's bytes (SO_LINGER's). */
  setsockopt(fd: number, level: number, name: number, value: number | Buffer): void;
  getsockopt(fd: number, level: number, name: number): number;
  getsockname(fd: number, peer: boolean): NativeAddress;
  shutdown(fd: number, how: number): void;
  close(fd: number): void;
  /** A new descriptor of the same open socket (close-on-exec). */
  dup(fd: number): number;
  /**
   * Which of `events` (`UV_READABLE | UV_WRITABLE`) the descriptor is ready for now,
   * without waiting (poll(2), read as select(2) reads it: a hang-up or an error is readable).
   */
  poll(fd: number, events: number): number;
  Poller: new (fd: number, callback: (status: number, events: number) => void) => NativePoller;
  constants: { UV_READABLE: number; UV_WRITABLE: number; SO_REUSEPORT: number; SO_ERROR: number };
  /**
   * Reads the files at the absolute `paths` whole, on the thread pool, each of the size
   * in `sizes`, and hashes each: their bytes one after another, and each one's SHA-256 (64
   * hex digits). A file that cannot be read rejects with an errno error with `index` and
   * `path`; one that ended early has the code `ESHORT`.
   */
  readFiles(paths: string[], sizes: number[]): Promise<{ data: Buffer; sums: string[] }>;
  /**
   * The names in the folder `dir`, sorted by code point, and for each, on the calling
   * thread and not following a link, its st_mode and st_size in `stats` (two numbers a
   * name); a name that cannot be looked up has -errno as its mode (-EILSEQ for a name
   * that is not valid UTF-8).
   */
  listFolder(dir: string): { names: string[]; stats: Float64Array };
}

/** What {@link NativeAddon.statBeneath} tells of a file (`mode` is `st_mode`, type bits too). */
export interface NativeStat {
  size: number;
  nlink: number;
  mode: number;
  uid: number;
  isFile: boolean;
  isDir: boolean;
  isLink: boolean;
}

/** A libuv poll handle on a file descriptor. */
export interface NativePoller {
  start(events: number): void;
  stop(): void;
  close(): void;
}

let loaded: NativeAddon | null = null;
let missing: string | null = null;

function load(): void {
  if (loaded !== null || missing !== null) return;
  if (process.env.SOCKETKIT_NO_NATIVE) {
    missing = "SOCKETKIT_NO_NATIVE is set";
    return;
  }
  try {
    // From src/native/ and from dist/native/ alike, the package's root is two levels up:
    // node-gyp-build loads build/Release/socketkit.node when it was built here, else the
    // binary for this platform shipped in prebuilds/ (N-API: one for every Node.js line).
    const require = createRequire(import.meta.url);
    const root = fileURLToPath(new URL("../..", import.meta.url));
    loaded = (require("node-gyp-build") as (dir: string) => NativeAddon)(root);
  } catch (err) {
    missing = `the native addon is not built and no prebuilt one fits this system (${(err as Error).message.split("\n")[0]})`;
  }
}

/** Whether the addon is there. */
export function hasNative(): boolean {
  load();
  return loaded !== null;
}

/** Why the addon is not there, or null when it is. */
export function nativeMissingReason(): string | null {
  load();
  return missing;
}

/**
 * The addon, for `what` ("AF_UNIX SOCK_DGRAM socket", ...); without it, an
 * `UnsupportedError` that names the reason and the fix.
 */
export function native(what: string): NativeAddon {
  load();
  if (loaded !== null) return loaded;
  throw new UnsupportedError(
    `Cannot create ${what}: Node.js has no such sockets and ${missing}. ` +
      "Install a C++ compiler, make and python3, then run `npm run build:native` (or reinstall socketkit).",
  );
}
