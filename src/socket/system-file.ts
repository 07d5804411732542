/**
 * The system's small databases (`/etc/services`, `/etc/hosts`, `/etc/host.conf`), read
 * and parsed once, then again only when the file changes, as glibc's files backend
 * reopens them.
 * @module
 */
import { readFile, stat } from "node:fs/promises";

interface Parsed {
  mtimeMs: number;
  size: number;
  value: unknown;
}

/** Parsed files by parser, then by path. */
const cache = new Map<(text: string) => unknown, Map<string, Parsed>>();

/**
 * `parse(contents of path)`, from the cache while the file's modification time and size
 * are unchanged. Rejects with the `node:fs` error when the file cannot be read.
 */
export async function readParsed<T>(path: string, parse: (text: string) => T): Promise<T> {
  const st = await stat(path);
  let byPath = cache.get(parse);
  if (byPath === undefined) {
    byPath = new Map();
    cache.set(parse, byPath);
  }
  const hit = byPath.get(path);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.value as T;
  const value = parse(await readFile(path, "utf8"));
  byPath.set(path, { mtimeMs: st.mtimeMs, size: st.size, value });
  return value;
}

/** Why a file cannot be read, for a message: `"/etc/services does not exist"`. */
export function unreadable(path: string, err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return `${path} does not exist`;
  if (code === "EACCES") return `${path} cannot be read (permission denied)`;
  return `${path} cannot be read (${String(code ?? err)})`;
}
