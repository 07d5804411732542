import { constants } from "node:fs";
import { lstat, mkdir, readdir, realpath, statfs } from "node:fs/promises";
import { basename, join, resolve, sep } from "node:path";
import { checkRelativePath } from "../../codec/transfer-codec.ts";
import { TransferError } from "../../core/errors.ts";

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
      throw new TransferError(`Cannot send two files named ${JSON.stringify(rel)}`, {
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
 * `overwrite` (a link or a directory always). Creates the directories. Returns the final
 * path; the data goes to `PATH.part` first.
 */
export async function targetPath(
  root: string,
  rel: string,
  options: TargetOptions = {},
): Promise<string> {
  checkRelativePath(rel);
  const parts = rel.split("/");
  const { base, dir } = await directories(root, rel, parts.slice(0, -1));
  const path = join(dir, parts[parts.length - 1] as string);
  if (!path.startsWith(base + sep)) throw refused(rel, "it would land outside the folder");
  const final = await lstat(path).catch(() => null);
  if (final !== null) {
    if (final.isSymbolicLink()) throw refused(rel, "a symbolic link is there");
    if (!final.isFile()) throw refused(rel, "something that is not a file is there");
    if (!options.overwrite) {
      throw new TransferError(
        `Refused ${JSON.stringify(rel)}: it exists (use --overwrite to replace it)`,
        {
          code: "ERR_TRANSFER_EXISTS",
        },
      );
    }
  }
  const part = await lstat(`${path}.part`).catch(() => null);
  if (part !== null && !part.isFile()) throw refused(rel, "its .part is not a plain file");
  return path;
}

/** Makes the empty directory `rel` under `root`, with the same checks as files. */
export async function targetDir(root: string, rel: string): Promise<void> {
  checkRelativePath(rel);
  await directories(root, rel, rel.split("/"));
}

/**
 * Walks (and makes) the directories `names` below `root`, each of which must be a real
 * directory: a symbolic link, even one planted there beforehand, is refused. Returns the
 * root's real path and the last directory's.
 */
async function directories(
  root: string,
  rel: string,
  names: string[],
): Promise<{ base: string; dir: string }> {
  const base = await realpath(root);
  let dir = base;
  for (const name of names) {
    dir = join(dir, name);
    const info = await lstat(dir).catch(() => null);
    if (info === null) await mkdir(dir);
    else if (!info.isDirectory()) throw refused(rel, `${name} is not a directory here`);
  }
  return { base, dir };
}

/** Bytes free for an unprivileged user on the file system holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

/** Flags to open a `.part` file without following a link planted there. */
export const PART_FLAGS = {
  fresh: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
  append: constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW,
};

function refused(rel: string, why: string): TransferError {
  return new TransferError(`Refused the file name ${JSON.stringify(rel)}: ${why}`, {
    code: "ERR_TRANSFER_NAME",
  });
}
