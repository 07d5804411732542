import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, realpath, statfs } from "node:fs/promises";
import { basename, join, resolve, sep } from "node:path";
import { checkRelativePath, MAX_NAME_BYTES, refusedName } from "../../codec/transfer-codec.ts";
import { describe, type SocketError, TransferError, toSocketError } from "../../core/errors.ts";
import { quote } from "../../core/escape.ts";

/** What a file's data goes to until its hash is checked: `NAME.part` beside `NAME`. */
export const PART_SUFFIX = ".part";

/**
 * Longest path the system opens, in bytes: PATH_MAX (4096 on Linux, 1024 on macOS and
 * the BSDs) less the NUL that ends it.
 */
const MAX_SYSTEM_PATH = process.platform === "linux" ? 4095 : 1023;

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

/**
 * The files under `paths` (files, or folders walked whole), each named relative to its
 * argument's parent (`send photos/` sends `photos/a.jpg`). Symbolic links are not
 * followed and, like sockets and devices, are left out and listed in `skipped`.
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
  const walk = async (abs: string, rel: string): Promise<void> => {
    const info = await lstat(abs);
    if (info.isSymbolicLink() || !(info.isFile() || info.isDirectory())) {
      tree.skipped.push(abs);
      return;
    }
    if (info.isFile()) {
      add(rel);
      tree.files.push({ abs, rel, size: info.size, exec: (info.mode & 0o111) !== 0 });
      return;
    }
    const entries = (await readdir(abs)).sort();
    if (entries.length === 0) {
      add(rel);
      tree.emptyDirs.push(rel);
    }
    for (const name of entries) await walk(join(abs, name), `${rel}/${name}`);
  };
  for (const path of paths) {
    const abs = resolve(path);
    const info = await lstat(abs).catch(() => null);
    if (info === null)
      throw new TransferError(`Cannot send ${path}: no such file or directory`, { code: "ENOENT" });
    await walk(abs, basename(abs));
  }
  return tree;
}

/** Options of {@link targetPath}. */
export interface TargetOptions {
  /** Replace a file that exists. @default false */
  overwrite?: boolean;
}

/**
 * Where the file named `rel` goes under `root`, made safe: the name is checked, every
 * directory on the way must be a real directory inside the root (a symbolic link, even
 * one planted there beforehand, is refused), and an existing file is refused without
 * `overwrite` (a link or a directory always). A name the system could not store (its
 * `.part` path too long, say) is refused before anything is made. Creates the
 * directories. Returns the final path; the data goes to `PATH.part` first.
 */
export async function targetPath(
  root: string,
  rel: string,
  options: TargetOptions = {},
): Promise<string> {
  checkRelativePath(rel);
  const parts = rel.split("/");
  const last = parts[parts.length - 1] as string;
  if (Buffer.byteLength(last) + PART_SUFFIX.length > MAX_NAME_BYTES) {
    throw refusedName(
      rel,
      `with ${PART_SUFFIX} added, its last part is over ${MAX_NAME_BYTES} bytes`,
    );
  }
  const { base, dir } = await directories(root, rel, parts.slice(0, -1), PART_SUFFIX);
  const path = join(dir, last);
  if (!path.startsWith(base + sep)) throw refusedName(rel, "it would land outside the folder");
  const final = await existing(path, rel);
  if (final !== null) {
    if (final.isSymbolicLink()) throw refusedName(rel, "a symbolic link is there");
    if (!final.isFile()) throw refusedName(rel, "something that is not a file is there");
    if (!options.overwrite) {
      throw new TransferError(
        `Refused ${quoteName(rel)}: it exists (use --overwrite to replace it)`,
        {
          code: "ERR_TRANSFER_EXISTS",
        },
      );
    }
  }
  const part = await existing(`${path}${PART_SUFFIX}`, rel);
  if (part !== null && !part.isFile())
    throw refusedName(rel, `its ${PART_SUFFIX} is not a plain file`);
  return path;
}

/**
 * Makes the empty directory `rel` under `root`, with the same checks as files: a name the
 * system could not store is refused before any directory is made.
 */
export async function targetDir(root: string, rel: string): Promise<void> {
  checkRelativePath(rel);
  await directories(root, rel, rel.split("/"), "");
}

/**
 * Opens the `.part` of the file `rel` (whose final path is `final`) for writing, anew or
 * to append to, without following a link planted there. A failure is a coded error: a
 * name the system refuses is `ERR_TRANSFER_NAME`, anything else keeps the system's code
 * (`ENOSPC`, `EACCES`...).
 */
export async function openPart(final: string, rel: string, append: boolean): Promise<FileHandle> {
  try {
    return await open(
      `${final}${PART_SUFFIX}`,
      append ? PART_FLAGS.append : PART_FLAGS.fresh,
      0o600,
    );
  } catch (err) {
    throw diskError(err, rel, `open ${quoteName(`${rel}${PART_SUFFIX}`)}`);
  }
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
 * Walks (and makes) the directories `names` below `root`, each of which must be a real
 * directory: a symbolic link, even one planted there beforehand, is refused. The whole
 * path of `rel` (with `suffix`) must fit the system's limit, checked before anything is
 * made. Returns the root's real path and the last directory's.
 */
async function directories(
  root: string,
  rel: string,
  names: string[],
  suffix: string,
): Promise<{ base: string; dir: string }> {
  const base = await realpath(root).catch((err: unknown) => {
    throw toSocketError(err, `open the folder ${quote(root)}`);
  });
  const length = Buffer.byteLength(join(base, rel)) + suffix.length;
  if (length > MAX_SYSTEM_PATH) {
    throw refusedName(
      rel,
      `in ${quote(base)} its path would be ${length} bytes, over the system's limit of ${MAX_SYSTEM_PATH}`,
    );
  }
  let dir = base;
  for (const [i, name] of names.entries()) {
    dir = join(dir, name);
    const info = await existing(dir, rel);
    if (info === null) {
      await mkdir(dir).catch((err: unknown) => {
        throw diskError(
          err,
          rel,
          `create the folder ${quoteName(names.slice(0, i + 1).join("/"))}`,
        );
      });
    } else if (!info.isDirectory())
      throw refusedName(rel, `${quoteName(name)} is not a directory here`);
  }
  return { base, dir };
}

/** What is at `path` (not following a link), or null when nothing is. */
async function existing(path: string, rel: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return null;
    throw diskError(err, rel, `look up ${quoteName(rel)}`);
  }
}

/** Bytes free for an unprivileged user on the file system holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

/** Flags to open a `.part` file without following a link planted there. */
const PART_FLAGS = {
  fresh: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
  append: constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW,
};

/**
 * A received name for a message: quoted with its control characters escaped, and cut to
 * 200 characters (a name can be 4096 bytes long).
 */
export function quoteName(rel: string): string {
  return quote(rel, 200);
}
