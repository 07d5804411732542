/**
 * The receiver's destination folder: every name is relative to it, and what a transfer
 * has received so far (its partial file) is kept apart from the user's files, in
 * `.socketkit-partial/` ({@link STAGING_DIR}), under a name no sender can choose.
 *
 * With the native addon on Linux ({@link DestDir.beneath}), every open, mkdir, rename,
 * unlink and stat starts from a descriptor of the folder and is resolved by the kernel
 * without following any symbolic link and without leaving the folder (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or an openat(O_NOFOLLOW) walk where openat2 is
 * missing). A local process that swaps a folder on the way for a link, at any moment,
 * makes the call fail; nothing is written outside.
 *
 * Without the addon (or elsewhere than Linux), paths are checked and then used:
 * - What holds: a user's `NAME.part` is never taken for a partial file (partial files
 *   are hashed names in the staging folder); a symbolic link or a non-folder planted
 *   before a call, on the way or at the name, is refused (each component is `lstat`ed,
 *   the last opened with O_NOFOLLOW); a staged file with another hard link, or one that
 *   is not a regular file, is refused before any byte of it is written, truncated, read
 *   or deleted (checked by `fstat` on the open descriptor); a commit without overwrite
 *   never replaces a file (`link` then `unlink`, which fails when anything is there).
 * - What does not: between the `lstat` of a folder on the way and the call that uses
 *   its path, a local process can swap that folder for a link and redirect the call
 *   outside the folder. On a file system without hard links, a commit without
 *   overwrite falls back to checking that the name is free, then renaming.
 * @module
 */
import { hash } from "node:crypto";
import * as fs from "node:fs";
import {
  access,
  link,
  lstat,
  mkdir,
  readdir,
  realpath,
  rename,
  rm,
  stat,
  unlink,
} from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { checkRelativePath, refusedName } from "../../codec/transfer-codec.ts";
import { type SocketError, TransferError, toSocketError } from "../../core/errors.ts";
import { quote } from "../../core/escape.ts";
import { hasNative, type NativeAddon, type NativeStat, native } from "../../native/index.ts";
import { diskError, MAX_SYSTEM_PATH, quoteName } from "./files.ts";

/** The folder, in the destination, that holds the partial files of received names. */
export const STAGING_DIR = ".socketkit-partial";

/** What `.socketkit-partial/README` says. */
const STAGING_README =
  "Partial files of interrupted socketkit transfers: the same transfer, run again, resumes from them.\n" +
  "The list 'received' names the files socketkit gave their names here, so that the same file sent again counts as already there.\n" +
  "Safe to delete when no socketkit transfer is running: a transfer then starts over, and files received before are refused as existing without --overwrite.\n";

const { O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } =
  fs.constants;

// O_NONBLOCK: opening a FIFO or a device planted at the name must not hang or act before
// fstat tells what it is; on a regular file it changes nothing.
const STAGED_WRITE = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK;
const LIST_APPEND = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK;
const READ = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
const fsWritev = promisify(fs.writev);
const fsRead = promisify(fs.read);
const fsFstat = promisify(fs.fstat);
const fsFchmod = promisify(fs.fchmod);
const fsFtruncate = promisify(fs.ftruncate);
const fsFsync = promisify(fs.fsync);

/**
 * Where the partial file of the received name `rel` is kept, relative to the destination:
 * `.socketkit-partial/<40 hex digits>.part`, the same for the same name (to resume), and
 * no name a sender can give (those under {@link STAGING_DIR} are refused).
 */
export function stagedPath(rel: string, kind: StagedKind = "part"): string {
  const digest = hash("sha256", `socketkit partial${kind === "part" ? "" : ` ${kind}`}\n${rel}`);
  return `${STAGING_DIR}/${digest.slice(0, 40)}.${kind}`;
}

/**
 * What is staged for a received name: `part`, a file's partial data; `zip`, the zip a
 * folder came in (Magic Wormhole's folders); `dir`, that folder being unpacked.
 */
export type StagedKind = "part" | "zip" | "dir";

/**
 * Whether the received name `rel` lies in {@link STAGING_DIR}, so must be refused. Case
 * and compatibility forms are folded, for file systems that ignore them.
 */
export function isReserved(rel: string): boolean {
  const slash = rel.indexOf("/");
  const first = slash < 0 ? rel : rel.slice(0, slash);
  // ASCII is its own NFKC form (and normalize() takes as long as the file's storing).
  return (ASCII.test(first) ? first : first.normalize("NFKC")).toLowerCase() === STAGING_DIR;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: all of ASCII is what is matched
const ASCII = /^[\u0000-\u007f]*$/;

/** Options of {@link DestDir.prepare}. */
export interface PrepareOptions {
  /** The file may replace a regular file of the same name. @default false */
  overwrite?: boolean;
}

/** What is at a name: `lstat`'s answer, in the few words the checks need. */
type Entry = NativeStat;

/**
 * The file operations of a {@link DestDir}, relative to its folder, chosen once when it
 * opens. They fail with Node-style errors (`code` the errno name): a symbolic link in
 * the way is `ELOOP`, a way out of the folder `EXDEV`.
 */
interface FileOps {
  /** Opens `rel` with `flags`, following no link at the end: a descriptor. */
  open(rel: string, flags: number, mode: number): Promise<number>;
  /** Makes the missing folders of `rel`; a link or a file on the way fails. */
  mkdirs(rel: string, mode: number): Promise<void>;
  /** Renames; with `noReplace`, `EEXIST` when anything is at `to`. */
  rename(from: string, to: string, noReplace: boolean): Promise<void>;
  unlink(rel: string): Promise<void>;
  /** What is at `rel`, or null when nothing is (nor its folder). */
  stat(rel: string): Promise<Entry | null>;
  close(): Promise<void>;
  /** {@link DestDir.storeWhole} in one call, where the ops can (the addon). */
  store?: (
    ...args: Parameters<NativeAddon["storeBeneath"]> extends [number, ...infer A] ? A : never
  ) => ReturnType<NativeAddon["storeBeneath"]>;
}

/**
 * A file {@link DestDir} opened, over its descriptor: Node's public API cannot wrap a
 * descriptor in a `FileHandle`. Failures are Node's errors, as a `FileHandle`'s are.
 */
export class StagedFile {
  /** The descriptor; valid until {@link StagedFile.close}. */
  readonly fd: number;
  #closed = false;

  /** For {@link DestDir}: takes over `fd`. */
  constructor(fd: number) {
    this.fd = fd;
  }

  /** Writes every byte of `buffers`, in order, at the file's position (its end to append). */
  async write(buffers: Buffer[]): Promise<void> {
    let rest = buffers.filter((b) => b.length > 0);
    while (rest.length > 0) {
      let { bytesWritten } = await fsWritev(this.fd, rest);
      while (rest.length > 0 && bytesWritten >= (rest[0] as Buffer).length) {
        bytesWritten -= (rest[0] as Buffer).length;
        rest = rest.slice(1);
      }
      if (bytesWritten > 0) rest = [(rest[0] as Buffer).subarray(bytesWritten), ...rest.slice(1)];
    }
  }

  /** Reads up to `length` bytes at `position` into `buffer[offset...]`, as `FileHandle.read`. */
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number; buffer: Buffer }> {
    return fsRead(this.fd, buffer, offset, length, position);
  }

  /** The file's size now, in bytes. */
  async size(): Promise<number> {
    return (await fsFstat(this.fd)).size;
  }

  /** What tells this file from another under the same name later: inode, size, mtime. */
  async identity(): Promise<FileIdentity> {
    const s = await fsFstat(this.fd, { bigint: true });
    return { ino: String(s.ino), size: Number(s.size), mtime: String(s.mtimeNs) };
  }

  /** Sets the file's permission bits. */
  chmod(mode: number): Promise<void> {
    return fsFchmod(this.fd, mode);
  }

  /** Waits until what was written is on the disk. */
  sync(): Promise<void> {
    return fsFsync(this.fd);
  }

  /** Closes the descriptor; again is a no-op. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await fsClose(this.fd);
  }
}

/** A file's inode, size and modification time (ns), as {@link StagedFile.identity} reads them. */
export interface FileIdentity {
  ino: string;
  size: number;
  mtime: string;
}

/** What {@link DestDir.commit} notes of a file it gives its name: its identity and hash. */
export interface ReceivedFile extends FileIdentity {
  sha256: string;
}

/** A small file for {@link DestDir.storeWhole}: its name, bytes, mode and SHA-256. */
export interface StoreItem {
  rel: string;
  data: Buffer;
  mode: number;
  sha256: string;
}

/** The list, in the staging folder, of the files socketkit gave their names. */
const RECEIVED_LIST = `${STAGING_DIR}/received`;

/** A received list longer than this is rewritten with one line per name when it is read. */
const RECEIVED_LIST_COMPACT = 1024 * 1024;

/**
 * The receiver's destination folder. Every name given is a received name, relative to the
 * folder (checked again by `checkRelativePath`). A file's data goes to its staged file
 * ({@link stagedPath}) and is renamed to its name by {@link DestDir.commit} once its hash
 * is checked.
 *
 * @example
 * ```ts
 * import { DestDir } from "./dest-dir.ts";
 * const data = Buffer.from("the photo's bytes");
 * const dest = await DestDir.open("downloads");
 * try {
 *   if ((await dest.prepare("photos/a.jpg")) === "new") {
 *     const file = await dest.openStaged("photos/a.jpg", false);
 *     await file.write([data]);
 *     await file.close();
 *     await dest.commit("photos/a.jpg", false);
 *   }
 * } finally {
 *   await dest.close();
 * }
 * ```
 */
export class DestDir {
  /** The folder's real path (its links resolved once, when it was opened). */
  readonly root: string;
  /**
   * Whether every call is resolved by the kernel beneath a descriptor of the folder (the
   * native addon, on Linux); otherwise paths are checked, then used (see the module's
   * notes for what that leaves open).
   */
  readonly beneath: boolean;
  /**
   * Whether {@link DestDir.storeWhole} checks each file's SHA-256 itself (on the thread
   * pool, with the addon): the caller then need not.
   */
  get checksWhole(): boolean {
    return this.#ops.store !== undefined;
  }
  readonly #ops: FileOps;
  /** Bytes of {@link root} in UTF-8, for the check of a path's length. */
  readonly #rootBytes: number;
  #stagingReady = false;
  /**
   * Whether the staging folder may hold staged files: it was there before this DestDir
   * made it, or a file was staged through this DestDir (null: not looked yet).
   */
  #mayHoldStaged: boolean | null = null;
  /** The addon's store calls under way. */
  readonly #storeCalls = new Set<Promise<unknown>>();
  /** Set by {@link DestDir.close}: a store asked for from then on is refused. */
  #closing = false;
  /** Folders being made for {@link DestDir.storeWhole}, by folder. */
  readonly #makingDirs = new Map<string, Promise<void>>();
  /** The staging folder's check under way, shared by the callers meanwhile. */
  #stagingLook: Promise<boolean> | null = null;
  /** Settles once the last {@link DestDir.storeWhole} call has been made (or failed before). */
  #storeMade: Promise<void> = Promise.resolve();
  /** The addon's numbers that run this folder's store calls in turn (see `storeBeneath`). */
  readonly #storeOrder = new Int32Array(3);
  /**
   * Folders made or found on the way, beneath the folder's descriptor only: there the
   * kernel refuses a link at every later call anyway, so the walk need not be repeated
   * for each file of a folder. (By path, each call checks the way again.)
   */
  readonly #madeDirs = new Set<string>();
  /** The received list, read when first asked (null: not read yet). */
  #received: Map<string, ReceivedFile> | null = null;
  /** The received list being opened or open to append to, once a file was committed. */
  #list: Promise<StagedFile> | null = null;

  private constructor(root: string, ops: FileOps, beneath: boolean) {
    this.root = root;
    this.#ops = ops;
    this.beneath = beneath;
    this.#rootBytes = Buffer.byteLength(root);
  }

  /**
   * Opens the folder `root`, which must exist and be a folder; fails with the system's
   * code (`ENOENT`, `ENOTDIR`...) as `Cannot open the folder "ROOT": ...`.
   */
  static async open(root: string): Promise<DestDir> {
    const action = `open the folder ${quote(root)}`;
    try {
      const base = await realpath(root);
      const io = beneathAddon();
      if (io !== null) {
        const dirfd = await fsOpen(base, O_RDONLY | O_DIRECTORY);
        return new DestDir(base, new NativeOps(io, dirfd), true);
      }
      if (!(await lstat(base)).isDirectory()) throw sysError("ENOTDIR", "open");
      return new DestDir(base, new PathOps(base), false);
    } catch (err) {
      throw toSocketError(err, action);
    }
  }

  /**
   * Makes the folder `root` and its parents when they are not there (as `mkdir -p`), and
   * checks that this process may create files in it, so that a receiver refuses at start
   * rather than when its sender arrives. Fails as `Cannot use the folder "ROOT": ...`
   * with the system's code (`ENOTDIR` when a file has the name, `EACCES`, `EROFS`...).
   */
  static async prepare(root: string): Promise<void> {
    try {
      await mkdir(root, { recursive: true }).catch((err: unknown) => {
        // A file in the way: said below, as what it is.
        if ((err as { code?: unknown }).code !== "EEXIST") throw err;
      });
      if (!(await stat(root)).isDirectory()) throw sysError("ENOTDIR", "mkdir");
      await access(root, fs.constants.W_OK | fs.constants.X_OK);
    } catch (err) {
      throw toSocketError(err, `use the folder ${quote(root)}`);
    }
  }

  /** Lets the folder go (its descriptor, with the addon). Again is a no-op. */
  async close(): Promise<void> {
    // A store asked for before this writes to the received list and beneath the folder:
    // both stay open until it ends (a descriptor closed under it could be reused).
    this.#closing = true;
    await this.#storeMade;
    await Promise.allSettled(this.#storeCalls);
    const list = this.#list;
    this.#list = null;
    await (await list?.catch(() => null))?.close();
    await this.#ops.close();
  }

  /**
   * The SHA-256 of the file `rel` when socketkit gave it its name itself (a
   * {@link DestDir.commit} with its hash) and it is unchanged since: the same inode, size
   * and modification time, and `size` bytes when given. Null otherwise: a file of the
   * user's is never read.
   */
  async received(rel: string, size?: number): Promise<string | null> {
    this.#check(rel);
    const noted = (await this.#receivedList()).get(rel);
    if (noted === undefined || (size !== undefined && noted.size !== size)) return null;
    let file: StagedFile;
    try {
      file = await this.openFinalForRead(rel);
    } catch {
      return null;
    }
    try {
      const now = await file.identity();
      return now.ino === noted.ino && now.size === noted.size && now.mtime === noted.mtime
        ? noted.sha256
        : null;
    } finally {
      await file.close();
    }
  }

  /**
   * Gets the name `rel` ready to receive: refuses a name in {@link STAGING_DIR} or too
   * long for the system, makes the folders on the way (a link or a file there refuses
   * the name), and looks at what is at the name. A link, a folder or anything but a
   * regular file refuses it (`ERR_TRANSFER_NAME`). Returns `"exists"` when a regular
   * file is there and `overwrite` is off (the caller may then compare its content with
   * the sender's), else `"new"`.
   */
  async prepare(rel: string, options: PrepareOptions = {}): Promise<"new" | "exists"> {
    this.#check(rel);
    await this.#madeParent(rel);
    const entry = await this.#stat(rel, rel, `look up ${quoteName(rel)}`);
    if (entry === null) return "new";
    if (entry.isLink) throw refusedName(rel, "a symbolic link is there");
    if (!entry.isFile) throw refusedName(rel, "something that is not a file is there");
    return options.overwrite ? "new" : "exists";
  }

  /**
   * The size of what an earlier transfer of `rel` left in its staged file, 0 when there
   * is none. A staged file with another link, or not a regular file, refuses the name.
   */
  async stagedSize(rel: string): Promise<number> {
    this.#check(rel);
    if (!(await this.#staging(false))) return 0;
    const entry = await this.#stat(stagedPath(rel), rel, `look up ${partialOf(rel)}`);
    if (entry === null) return 0;
    checkStaged(rel, entry);
    return entry.size;
  }

  /**
   * Opens the staged file of `rel` for writing, made if missing (mode 0600), emptied
   * unless `append`. A staged file with another link, or not a regular file, refuses the
   * name and is neither written nor emptied.
   */
  async openStaged(rel: string, append: boolean): Promise<StagedFile> {
    this.#check(rel);
    await this.#staging(true);
    this.#mayHoldStaged = true;
    const path = stagedPath(rel);
    const action = `open ${partialOf(rel)}`;
    if (!append) {
      // Made anew by this call (O_EXCL fails on anything there, a link included), it is
      // ours alone: no checks to make. Anything there takes the checked way below.
      try {
        return new StagedFile(await this.#ops.open(path, STAGED_WRITE | O_EXCL, 0o600));
      } catch (err) {
        if ((err as { code?: unknown }).code !== "EEXIST") throw fail(err, rel, action);
      }
    }
    const before = await this.#stat(path, rel, action);
    if (before !== null) checkStaged(rel, before);
    const flags = STAGED_WRITE | (append ? O_APPEND : 0);
    return this.#openChecked(path, flags, 0o600, rel, action, async (file, entry) => {
      checkStaged(rel, entry);
      if (!append) await fsFtruncate(file.fd, 0);
    });
  }

  /** Opens the staged file of `rel` to read it (to hash what it holds), with the same checks. */
  async openStagedForRead(rel: string): Promise<StagedFile> {
    this.#check(rel);
    await this.#staging(false);
    const action = `read ${partialOf(rel)}`;
    return this.#openChecked(stagedPath(rel), READ, 0, rel, action, (_file, entry) =>
      checkStaged(rel, entry),
    );
  }

  /** Opens the file `rel` itself to read it; anything but a regular file refuses the name. */
  async openFinalForRead(rel: string): Promise<StagedFile> {
    this.#check(rel);
    const action = `read ${quoteName(rel)}`;
    return this.#openChecked(rel, READ, 0, rel, action, (_file, entry) => {
      if (!entry.isFile) throw refusedName(rel, "something that is not a file is there");
    });
  }

  /**
   * Moves the staged file of `rel` to its name. Without `overwrite`, nothing there is
   * ever replaced, even a file that appeared since {@link DestDir.prepare}:
   * `ERR_TRANSFER_EXISTS`. With it, only a regular file is replaced; a link or a folder
   * there refuses the name. With `noted` (the staged file's identity and hash), the file is
   * added to the received list first, so that {@link DestDir.received} knows it for
   * socketkit's even if the process dies right after the rename.
   */
  async commit(rel: string, overwrite: boolean, noted?: ReceivedFile): Promise<void> {
    this.#check(rel);
    await this.#staging(false);
    if (noted !== undefined) await this.#note(rel, noted);
    const path = stagedPath(rel);
    const action = `move ${partialOf(rel)} to ${quoteName(rel)}`;
    const staged = await this.#stat(path, rel, action);
    if (staged === null) throw fail(sysError("ENOENT", "rename"), rel, action);
    checkStaged(rel, staged);
    if (overwrite) {
      const final = await this.#stat(rel, rel, action);
      if (final?.isLink) throw refusedName(rel, "a symbolic link is there");
      if (final !== null && !final.isFile)
        throw refusedName(rel, "something that is not a file is there");
    }
    try {
      await this.#ops.rename(path, rel, !overwrite);
    } catch (err) {
      throw this.#renameError(err, rel, action, overwrite);
    }
  }

  /** The error to report when giving the staged file of `rel` its name failed. */
  #renameError(err: unknown, rel: string, action: string, overwrite: boolean): SocketError {
    const { code, syscall } = err as { code?: unknown; syscall?: unknown };
    if (code === "EEXIST" && !overwrite) return existsError(rel);
    if (code === "EEXIST") return refusedName(rel, "something that is not a file is there");
    if (code === "EXDEV" && typeof syscall === "string" && /rename|link/.test(syscall)) {
      return new TransferError(
        `Cannot ${action}: its folder is on another file system than ${STAGING_DIR}`,
        { code: "EXDEV", cause: err },
      );
    }
    return fail(err, rel, action);
  }

  /** Makes the folders on the way to `rel` (once per folder, beneath the descriptor). */
  async #madeParent(rel: string): Promise<void> {
    const slash = rel.lastIndexOf("/");
    if (slash <= 0) return;
    const dir = rel.slice(0, slash);
    if (this.#madeDirs.has(dir)) return;
    await this.#mkdirs(rel, dir);
    if (this.beneath) this.#madeDirs.add(dir);
  }

  /**
   * Small files received whole and checked, in order: each one's `data` written to the
   * staged file of its `rel`, given `mode`, noted in the received list with its `sha256`
   * and renamed to `rel`, as {@link DestDir.prepare}, {@link DestDir.openStaged} and
   * {@link DestDir.commit} would (the same checks and refusals); with the addon, all in
   * one call on the thread pool. Without `overwrite`, a regular file at `rel` is left as
   * it is and its outcome is `"exists"`; otherwise what was noted. The first failure is
   * thrown (the files before it have their names).
   */
  async storeWhole(
    files: readonly StoreItem[],
    overwrite: boolean,
  ): Promise<("exists" | ReceivedFile)[]> {
    const store = this.#ops.store;
    const out: ("exists" | ReceivedFile)[] = [];
    if (store === undefined) {
      for (const file of files) out.push(await this.#storeByParts(file, overwrite));
      return out;
    }
    // Calls are made in the order of storeWhole's calls: one is made ready (its folders
    // made) only once the one before it is with the addon, which runs them in turn.
    const before = this.#storeMade;
    let made = () => {};
    this.#storeMade = new Promise<void>((resolve) => {
      made = resolve;
    });
    let stored: ReturnType<typeof store>;
    try {
      // Asked for after close(): refused. Asked for before, it is made and close waits.
      if (this.#closing) {
        throw new TransferError(
          `Cannot store ${quoteName(files[0]?.rel ?? "")}: the folder is closed`,
          { code: "ERR_TRANSFER_STOPPED" },
        );
      }
      await before;
      const list = await this.#storeReady(files);
      stored = store(
        {
          finals: files.map((f) => f.rel),
          data: files.map((f) => f.data),
          sums: files.map((f) => f.sha256),
          modes: Uint32Array.from(files, (f) => f.mode),
        },
        !overwrite,
        list.fd,
        this.#mayHoldStaged !== false,
        this.#storeOrder,
      );
    } finally {
      made();
    }
    const call = stored;
    this.#storeCalls.add(call);
    const outcomes = await call.finally(() => this.#storeCalls.delete(call));
    for (const [i, outcome] of outcomes.entries()) {
      const file = files[i] as StoreItem;
      if ("exists" in outcome) out.push("exists");
      else if ("corrupt" in outcome) {
        const bad = files[outcome.index] as StoreItem;
        throw corruptError(bad.rel, outcome.corrupt, bad.sha256);
      } else if ("refused" in outcome) {
        const { nlink, isFile } = outcome.refused;
        checkStaged(file.rel, {
          size: 0,
          nlink,
          mode: 0,
          uid: 0,
          isFile,
          isDir: false,
          isLink: false,
        });
      } else if ("error" in outcome) {
        throw this.#renameError(outcome.error, file.rel, `store ${quoteName(file.rel)}`, overwrite);
      } else {
        const noted = {
          ino: outcome.ino,
          size: outcome.size,
          mtime: outcome.mtime,
          sha256: file.sha256,
        };
        this.#received?.set(file.rel, noted);
        out.push(noted);
      }
    }
    if (out.length < files.length) {
      // Not tried: a call made before this one failed (its failure is thrown first).
      throw new TransferError(
        `Cannot store ${quoteName(files[out.length]?.rel ?? "")}: an earlier file failed`,
        {
          code: "ERR_TRANSFER_STOPPED",
        },
      );
    }
    return out;
  }

  /**
   * Makes ready what {@link DestDir.storeWhole} will need to store `files` (the staging
   * folder, the received list, the files' folders) without waiting: a receiver calls it
   * as a pack's entries arrive, so that this is done while the pack's bytes come in. A
   * failure here is the store's to report: it tries again and throws.
   */
  prepareStore(files: readonly { path: string }[]): void {
    if (this.#ops.store === undefined) return;
    const ready = (rel: string) => {
      const slash = rel.lastIndexOf("/");
      return slash <= 0 || this.#madeDirs.has(rel.slice(0, slash));
    };
    // Most packs find all made already.
    if (this.#list !== null && files.every((f) => ready(f.path))) return;
    this.#storeReady(files.map((f) => ({ rel: f.path }))).catch(() => {});
  }

  /**
   * The received list, open, once the names of `files` are checked, the staging folder
   * is there (looked at again by each caller but those that come while a look is under
   * way) and their folders are made; with the addon. Each folder is made once however
   * many callers ask at once.
   */
  async #storeReady(files: readonly { rel: string }[]): Promise<StagedFile> {
    // Every name is checked before any folder is made.
    for (const { rel } of files) this.#check(rel);
    const made: Promise<void>[] = [];
    for (const { rel } of files) {
      const slash = rel.lastIndexOf("/");
      if (slash <= 0) continue;
      const dir = rel.slice(0, slash);
      if (this.#madeDirs.has(dir)) continue;
      let making = this.#makingDirs.get(dir);
      if (making === undefined) {
        making = this.#madeParent(rel).finally(() => this.#makingDirs.delete(dir));
        this.#makingDirs.set(dir, making);
      }
      made.push(making);
    }
    this.#stagingLook ??= this.#staging(true).finally(() => {
      this.#stagingLook = null;
    });
    // The list is in the staging folder: opened once that is there.
    await Promise.all([this.#stagingLook, ...made]);
    return this.#listFile(files[0]?.rel ?? "");
  }

  /** A file of {@link DestDir.storeWhole} call by call (without the addon). */
  async #storeByParts(file: StoreItem, overwrite: boolean): Promise<"exists" | ReceivedFile> {
    const { rel, data, mode, sha256 } = file;
    if ((await this.prepare(rel, { overwrite })) === "exists") return "exists";
    const staged = await this.openStaged(rel, false);
    let identity: FileIdentity;
    try {
      await staged.write([data]);
      await staged.chmod(mode);
      identity = await staged.identity();
    } catch (err) {
      throw fail(err, rel, `write ${partialOf(rel)}`);
    } finally {
      await staged.close();
    }
    const noted = { ...identity, sha256 };
    await this.commit(rel, overwrite, noted);
    return noted;
  }

  /**
   * Opens the spool of the received folder `rel` (the zip it comes in, staged as
   * `.socketkit-partial/<hash>.zip`), made anew (what a cut transfer left is replaced),
   * to write and read back.
   */
  async openSpool(rel: string): Promise<StagedFile> {
    this.#check(rel);
    await this.#staging(true);
    this.#mayHoldStaged = true;
    const path = stagedPath(rel, "zip");
    await this.#ops.unlink(path).catch(() => {});
    return this.#open(path, STAGED_WRITE | O_EXCL, 0o600, rel, `open ${partialOf(rel)}`);
  }

  /** Opens the spool of the received folder `rel` ({@link DestDir.openSpool}) to read it. */
  async openSpoolForRead(rel: string): Promise<StagedFile> {
    this.#check(rel);
    await this.#staging(false);
    const action = `read ${partialOf(rel)}`;
    return this.#openChecked(stagedPath(rel, "zip"), READ, 0, rel, action, (_file, entry) =>
      checkStaged(rel, entry),
    );
  }

  /**
   * Makes the staged folder of the received folder `rel` (`.socketkit-partial/<hash>.dir`)
   * anew, what a cut transfer left there deleted first, and opens it as a DestDir of its
   * own: what is unpacked goes there, by {@link DestDir.createFile} and
   * {@link DestDir.mkdirs}, and nowhere else.
   */
  async openStagedFolder(rel: string): Promise<DestDir> {
    this.#check(rel);
    await this.#staging(true);
    this.#mayHoldStaged = true;
    const path = stagedPath(rel, "dir");
    await rm(join(this.root, path), { recursive: true, force: true });
    // The folder's own mode once it has its name (the staging folder keeps it private now).
    await this.#ops.mkdirs(path, 0o777).catch((err: unknown) => {
      throw fail(err, rel, `create ${partialOf(rel)}`);
    });
    return DestDir.open(join(this.root, path));
  }

  /**
   * Creates the file `rel` (and the folders on its way), which must not be there: in a
   * staged folder, a name that comes twice is refused (`ERR_TRANSFER_NAME`).
   */
  async createFile(rel: string, mode: number): Promise<StagedFile> {
    this.#check(rel);
    await this.#madeParent(rel);
    try {
      return new StagedFile(await this.#ops.open(rel, O_WRONLY | O_CREAT | O_EXCL, mode));
    } catch (err) {
      if ((err as { code?: unknown }).code === "EEXIST")
        throw refusedName(rel, "it comes twice, or a folder has its name");
      throw fail(err, rel, `create ${quoteName(rel)}`);
    }
  }

  /**
   * What is at the name `rel`: nothing, a folder, or something else (a link is something
   * else, never followed).
   */
  async kindOf(rel: string): Promise<"none" | "folder" | "other"> {
    this.#check(rel);
    const entry = await this.#stat(rel, rel, `look up ${quoteName(rel)}`);
    return entry === null ? "none" : entry.isDir && !entry.isLink ? "folder" : "other";
  }

  /**
   * Gives the staged folder of `rel` ({@link DestDir.openStagedFolder}) its name. When
   * nothing is there it is renamed whole, never over anything that appeared meanwhile
   * (`ERR_TRANSFER_EXISTS`). With `overwrite` and a folder there, its files are moved one by
   * one into that folder, each replacing only a regular file of the same name (a link or a
   * folder refuses it); the user's other files stay.
   */
  async commitFolder(rel: string, overwrite: boolean): Promise<void> {
    this.#check(rel);
    const path = stagedPath(rel, "dir");
    const action = `move ${partialOf(rel)} to ${quoteName(rel)}`;
    const there = await this.kindOf(rel);
    if (there === "none" || !overwrite) {
      try {
        await this.#ops.rename(path, rel, true);
      } catch (err) {
        throw this.#renameError(err, rel, action, false);
      }
      return;
    }
    if (there !== "folder") throw refusedName(rel, "something that is not a folder is there");
    const walk = async (sub: string): Promise<void> => {
      const names = await readdir(join(this.root, path, sub), { withFileTypes: true });
      for (const entry of names) {
        const inner = sub === "" ? entry.name : `${sub}/${entry.name}`;
        const target = `${rel}/${inner}`;
        this.#check(target);
        if (entry.isDirectory()) {
          await this.#mkdirs(target, target);
          await walk(inner);
          continue;
        }
        await this.#madeParent(target);
        const final = await this.#stat(target, target, action);
        if (final?.isLink) throw refusedName(target, "a symbolic link is there");
        if (final !== null && !final.isFile)
          throw refusedName(target, "something that is not a file is there");
        try {
          await this.#ops.rename(`${path}/${inner}`, target, false);
        } catch (err) {
          throw this.#renameError(err, target, action, true);
        }
      }
    };
    await walk("");
    await rm(join(this.root, path), { recursive: true, force: true });
  }

  /** Deletes the spool and the staged folder of the received folder `rel`, if there. */
  async discardFolder(rel: string): Promise<void> {
    this.#check(rel);
    if (!(await this.#staging(false))) return;
    await this.#ops.unlink(stagedPath(rel, "zip")).catch(() => {});
    await rm(join(this.root, stagedPath(rel, "dir")), { recursive: true, force: true });
  }

  /** Deletes the staged file of `rel`, if there is one (and only if it is socketkit's). */
  async discard(rel: string): Promise<void> {
    this.#check(rel);
    if (!(await this.#staging(false))) return;
    const path = stagedPath(rel);
    const action = `delete ${partialOf(rel)}`;
    const entry = await this.#stat(path, rel, action);
    if (entry === null) return;
    checkStaged(rel, entry);
    await this.#ops.unlink(path).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== "ENOENT") throw fail(err, rel, action);
    });
  }

  /** Appends `rel` to the received list (kept in memory too once it was read). */
  async #note(rel: string, noted: ReceivedFile): Promise<void> {
    const action = `write ${quote(join(this.root, RECEIVED_LIST))}`;
    const list = await this.#listFile(rel);
    try {
      await list.write([Buffer.from(`${JSON.stringify({ path: rel, ...noted })}\n`)]);
    } catch (err) {
      throw toSocketError(err, action);
    }
    this.#received?.set(rel, noted);
  }

  /** The received list, open to append to (opened once). */
  #listFile(rel: string): Promise<StagedFile> {
    // One open, however many callers ask at once: the promise is kept, not its outcome.
    this.#list ??= this.#open(
      RECEIVED_LIST,
      LIST_APPEND,
      0o600,
      rel,
      `write ${quote(join(this.root, RECEIVED_LIST))}`,
    );
    const list = this.#list;
    list.catch(() => {
      if (this.#list === list) this.#list = null;
    });
    return list;
  }

  /** The received list by name (the last line for a name wins), read once. */
  async #receivedList(): Promise<Map<string, ReceivedFile>> {
    if (this.#received !== null) return this.#received;
    const found = new Map<string, ReceivedFile>();
    let text = "";
    if (await this.#staging(false)) {
      const file = await this.#ops.open(RECEIVED_LIST, READ, 0).then(
        (fd) => new StagedFile(fd),
        () => null,
      );
      if (file !== null) {
        try {
          const size = await file.size();
          const buf = Buffer.alloc(size);
          let at = 0;
          while (at < size) {
            const { bytesRead } = await file.read(buf, at, size - at, at);
            if (bytesRead === 0) break;
            at += bytesRead;
          }
          text = buf.subarray(0, at).toString("utf8");
        } finally {
          await file.close();
        }
      }
    }
    let lines = 0;
    for (const line of text.split("\n")) {
      const entry = parseNoted(line);
      if (entry === null) continue;
      lines++;
      const { path, ...noted } = entry;
      found.delete(path);
      found.set(path, noted);
    }
    this.#received = found;
    if (text.length > RECEIVED_LIST_COMPACT && lines > 2 * found.size) await this.#compact(found);
    return found;
  }

  /** Rewrites the received list with one line per name (best effort: it is only a cache). */
  async #compact(found: Map<string, ReceivedFile>): Promise<void> {
    const fresh = `${RECEIVED_LIST}.new`;
    try {
      await this.#ops.unlink(fresh).catch(() => {});
      const file = new StagedFile(
        await this.#ops.open(fresh, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600),
      );
      try {
        const lines = [...found].map(([path, noted]) => JSON.stringify({ path, ...noted }));
        await file.write([Buffer.from(`${lines.join("\n")}\n`)]);
      } finally {
        await file.close();
      }
      await this.#ops.rename(fresh, RECEIVED_LIST, false);
    } catch {
      // The long list still works.
    }
  }

  /** Makes the folder `relDir` (a sender's empty folder) and those on its way. */
  async mkdirs(relDir: string): Promise<void> {
    this.#check(relDir);
    await this.#mkdirs(relDir, relDir);
  }

  /** Refuses a name that is not a safe relative path, is socketkit's or is too long. */
  #check(rel: string): void {
    checkRelativePath(rel);
    if (isReserved(rel)) throw refusedName(rel, "it is socketkit's folder for partial files");
    const length = this.#rootBytes + 1 + Buffer.byteLength(rel);
    if (length > MAX_SYSTEM_PATH) {
      throw refusedName(
        rel,
        `in ${quote(this.root)} its path would be ${length} bytes, over the system's limit of ${MAX_SYSTEM_PATH}`,
      );
    }
  }

  async #mkdirs(rel: string, dir: string): Promise<void> {
    await this.#ops.mkdirs(dir, 0o777).catch((err: unknown) => {
      throw fail(err, rel, `create the folder ${quoteName(dir)}`);
    });
  }

  async #stat(path: string, rel: string, action: string): Promise<Entry | null> {
    try {
      return await this.#ops.stat(path);
    } catch (err) {
      throw fail(err, rel, action);
    }
  }

  async #open(
    path: string,
    flags: number,
    mode: number,
    rel: string,
    action: string,
  ): Promise<StagedFile> {
    try {
      return new StagedFile(await this.#ops.open(path, flags, mode));
    } catch (err) {
      throw fail(err, rel, action);
    }
  }

  /**
   * Opens `path` as {@link DestDir.#open} does, then runs `check` on what was opened (its
   * `fstat`): a check that throws closes it, and a failure of the system refuses or names
   * the file as `action`.
   */
  async #openChecked(
    path: string,
    flags: number,
    mode: number,
    rel: string,
    action: string,
    check: (file: StagedFile, entry: Entry) => void | Promise<void>,
  ): Promise<StagedFile> {
    const file = await this.#open(path, flags, mode, rel, action);
    try {
      await check(file, entryOf(await fsFstat(file.fd)));
    } catch (err) {
      await file.close();
      throw err instanceof TransferError ? err : fail(err, rel, action);
    }
    return file;
  }

  /**
   * Checks the staging folder: true when it is there (made, with its README, if `create`),
   * false when it is not. A link, a file, or a folder of another user's that others can
   * write to is refused (`ERR_TRANSFER_STAGING`).
   */
  async #staging(create: boolean): Promise<boolean> {
    const where = quote(join(this.root, STAGING_DIR));
    const refuse = (why: string) =>
      new TransferError(`Cannot keep partial files in ${where}: ${why}`, {
        code: "ERR_TRANSFER_STAGING",
      });
    const look = () =>
      this.#ops.stat(STAGING_DIR).catch((err: unknown) => {
        throw toSocketError(err, `look up ${where}`);
      });
    let entry = await look();
    this.#mayHoldStaged ??= entry !== null;
    if (entry === null) {
      if (!create) return false;
      await this.#ops.mkdirs(STAGING_DIR, 0o700).catch((err: unknown) => {
        throw toSocketError(err, `create ${where}`);
      });
      entry = await look();
      if (entry === null) throw refuse("it went away as it was made");
    }
    if (entry.isLink) throw refuse("it is a symbolic link, not socketkit's folder (move it away)");
    if (!entry.isDir) throw refuse("it is not a folder (move it away)");
    // Another user who can write there could swap a checked staged file for their own
    // before it is renamed. (A folder of ours that all may write to is the user's choice,
    // and all a FAT file system shows.)
    if ((entry.mode & 0o022) !== 0 && entry.uid !== process.getuid?.())
      throw refuse("another user owns it and others can write to it (move it away)");
    if (create && !this.#stagingReady) {
      await this.#readme().catch((err: unknown) => {
        throw toSocketError(err, `write ${quote(join(this.root, STAGING_DIR, "README"))}`);
      });
      this.#stagingReady = true;
    }
    return true;
  }

  /** Writes the staging folder's README, unless one is there. */
  async #readme(): Promise<void> {
    let fd: number;
    try {
      fd = await this.#ops.open(`${STAGING_DIR}/README`, O_WRONLY | O_CREAT | O_EXCL, 0o644);
    } catch (err) {
      if ((err as { code?: unknown }).code === "EEXIST") return;
      throw err;
    }
    const file = new StagedFile(fd);
    try {
      await file.write([Buffer.from(STAGING_README)]);
    } finally {
      await file.close();
    }
  }
}

/** The addon, when it has the calls beneath a descriptor and they hold (Linux); else null. */
function beneathAddon(): NativeAddon | null {
  if (process.platform !== "linux" || !hasNative()) return null;
  const io = native("files beneath a folder");
  // An addon built before these calls existed has none of them.
  return typeof io.openBeneath === "function" ? io : null;
}

/** A received file whose bytes are not what the sender hashed. */
export function corruptError(rel: string, ours: string, theirs: string): TransferError {
  return new TransferError(
    `${quoteName(rel)} arrived corrupt: its SHA-256 is ${ours}, the sender's is ${theirs}`,
    { code: "ERR_TRANSFER_HASH" },
  );
}

/** The refusal of a received name where a file is, without `--overwrite`. */
export function existsError(rel: string): TransferError {
  return new TransferError(`Refused ${quoteName(rel)}: it exists (use --overwrite to replace it)`, {
    code: "ERR_TRANSFER_EXISTS",
  });
}

/** A line of the received list, or null when it is not one (a line cut by a crash). */
function parseNoted(line: string): (ReceivedFile & { path: string }) | null {
  if (line === "") return null;
  try {
    const v = JSON.parse(line) as Record<string, unknown>;
    if (
      typeof v.path === "string" &&
      typeof v.ino === "string" &&
      typeof v.size === "number" &&
      typeof v.mtime === "string" &&
      typeof v.sha256 === "string"
    ) {
      return { path: v.path, ino: v.ino, size: v.size, mtime: v.mtime, sha256: v.sha256 };
    }
  } catch {
    // Not a line of the list.
  }
  return null;
}

/** How a message names the partial file of `rel`. */
function partialOf(rel: string): string {
  return `the partial file of ${quoteName(rel)}`;
}

/**
 * Refuses the staged file of `rel` when it is not socketkit's own: not a regular file, or
 * with another hard link (writing it would write that other file).
 */
function checkStaged(rel: string, entry: Entry): void {
  const where = stagedPath(rel);
  if (!entry.isFile) throw refusedName(rel, `its partial file ${where} is not a plain file`);
  if (entry.nlink > 1) {
    throw refusedName(
      rel,
      `its partial file ${where} has ${entry.nlink} links, so it is not socketkit's alone (delete it)`,
    );
  }
}

/**
 * The error for a failed call on the received name `rel`: a link in the way or a way out
 * of the folder refuses the name; else {@link diskError} (`ENOSPC` keeps its code...).
 */
function fail(err: unknown, rel: string, action: string): SocketError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ELOOP") return refusedName(rel, "a symbolic link is in the way");
  if (code === "EXDEV") return refusedName(rel, "it would land outside the folder");
  return diskError(err, rel, action);
}

/** A Node-style system error, for the checks that stand in for the kernel's. */
function sysError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}, ${syscall}`), { code, syscall });
}

function entryOf(s: fs.Stats): Entry {
  return {
    size: s.size,
    nlink: s.nlink,
    mode: s.mode,
    uid: s.uid,
    isFile: s.isFile(),
    isDir: s.isDirectory(),
    isLink: s.isSymbolicLink(),
  };
}

/** The calls beneath a descriptor of the folder, by the native addon. */
class NativeOps implements FileOps {
  readonly #io: NativeAddon;
  #dirfd: number;

  constructor(io: NativeAddon, dirfd: number) {
    this.#io = io;
    this.#dirfd = dirfd;
  }

  open(rel: string, flags: number, mode: number): Promise<number> {
    return this.#io.openBeneath(this.#fd(), rel, flags | O_NOFOLLOW, mode);
  }

  mkdirs(rel: string, mode: number): Promise<void> {
    return this.#io.mkdirsBeneath(this.#fd(), rel, mode);
  }

  rename(from: string, to: string, noReplace: boolean): Promise<void> {
    return this.#io.renameBeneath(this.#fd(), from, to, noReplace);
  }

  unlink(rel: string): Promise<void> {
    return this.#io.unlinkBeneath(this.#fd(), rel);
  }

  store: FileOps["store"] = (...args) => this.#io.storeBeneath(this.#fd(), ...args);

  stat(rel: string): Promise<Entry | null> {
    return this.#io.statBeneath(this.#fd(), rel);
  }

  async close(): Promise<void> {
    const fd = this.#dirfd;
    this.#dirfd = -1;
    if (fd >= 0) await fsClose(fd);
  }

  #fd(): number {
    if (this.#dirfd < 0) throw sysError("EBADF", "openat2");
    return this.#dirfd;
  }
}

/**
 * The same calls by path, with node:fs: each folder on the way is `lstat`ed (a link or
 * a file refuses), the last component opened with O_NOFOLLOW. Racy; see the module notes.
 */
class PathOps implements FileOps {
  readonly #base: string;

  constructor(base: string) {
    this.#base = base;
  }

  async open(rel: string, flags: number, mode: number): Promise<number> {
    return fsOpen(await this.#parentOf(rel), flags | O_NOFOLLOW, mode);
  }

  async mkdirs(rel: string, mode: number): Promise<void> {
    await this.#walk(rel.split("/"), true, mode);
  }

  async rename(from: string, to: string, noReplace: boolean): Promise<void> {
    const source = await this.#parentOf(from);
    const target = await this.#parentOf(to);
    if (!noReplace) {
      const there = await lstatOrNull(target);
      if (there?.isSymbolicLink()) throw sysError("ELOOP", "rename");
      if (there?.isDirectory()) throw sysError("EISDIR", "rename");
      if (there !== null && !there.isFile()) throw sysError("EEXIST", "rename");
      await rename(source, target);
      return;
    }
    try {
      await link(source, target);
    } catch (err) {
      if (!NO_HARD_LINKS.has((err as { code?: unknown }).code as string)) throw err;
      if ((await lstatOrNull(target)) !== null) throw sysError("EEXIST", "rename");
      await rename(source, target);
      return;
    }
    await unlink(source);
  }

  async unlink(rel: string): Promise<void> {
    await unlink(await this.#parentOf(rel));
  }

  async stat(rel: string): Promise<Entry | null> {
    let path: string;
    try {
      path = await this.#parentOf(rel);
    } catch (err) {
      if ((err as { code?: unknown }).code === "ENOENT") return null;
      throw err;
    }
    const s = await lstatOrNull(path);
    return s === null ? null : entryOf(s);
  }

  async close(): Promise<void> {}

  /** The path of `rel`, once the folders on its way are checked. */
  async #parentOf(rel: string): Promise<string> {
    const names = rel.split("/");
    const last = names.pop() as string;
    return join(await this.#walk(names, false, 0), last);
  }

  /** Checks (and makes, if `create`) the folders `names` in turn: the last one's path. */
  async #walk(names: string[], create: boolean, mode: number): Promise<string> {
    let dir = this.#base;
    for (const name of names) {
      if (name === "" || name === "." || name === "..") throw sysError("EXDEV", "open");
      dir = join(dir, name);
      let info = await lstatOrNull(dir);
      if (info === null) {
        if (!create) throw sysError("ENOENT", "open");
        await mkdir(dir, mode).catch((err: unknown) => {
          if ((err as { code?: unknown }).code !== "EEXIST") throw err;
        });
        info = await lstat(dir);
      }
      if (info.isSymbolicLink()) throw sysError("ELOOP", "open");
      if (!info.isDirectory()) throw sysError("ENOTDIR", "open");
    }
    return dir;
  }
}

/** Codes of `link` on a file system that has no hard links. */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

async function lstatOrNull(path: string): Promise<fs.Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return null;
    throw err;
  }
}
