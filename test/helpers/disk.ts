/**
 * A small file system for tests of a full disk: a tmpfs mounted for the test (as root, on
 * Linux), or the reason there cannot be one here.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";

/**
 * A tmpfs of `size` mounted on a fresh directory, unmounted when the test ends; or why
 * there cannot be one here (the test then skips, saying so).
 */
export function tinyDisk(t: TestContext, size: string): string | { skip: string } {
  if (process.platform !== "linux") return { skip: "tmpfs mounts are Linux only" };
  if (process.getuid?.() !== 0) return { skip: "mounting a small tmpfs needs root" };
  const dir = mkdtempSync(join(tmpdir(), "socketkit-tiny-disk-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], {
    encoding: "utf8",
  });
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs: ${(mounted.stderr || mounted.error?.message) ?? ""}` };
  }
  t.after(() => {
    // A process still holding a file there would make a plain unmount fail: detach then.
    if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
