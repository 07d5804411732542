/**
 * Bun and Deno for the benchmarks' baselines: `npm run bench:install` puts the npm packages
 * `bun` and `deno` into build/bench/runtimes (never globally); this finds their binaries,
 * checks that they run, and says why when they cannot be had.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readSync } from "node:fs";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("..", import.meta.url));
/** Where `npm run bench:install` installs the runtimes. */
export const RUNTIMES_DIR = `${REPO}build/bench/runtimes`;
const MODULES = `${RUNTIMES_DIR}/node_modules`;

export type RuntimeName = "bun" | "deno";

/** A runtime that runs here, or why it does not. */
export type Runtime = { path: string; version: string } | { missing: string };

/**
 * Where each package may hold the native binary: its own folder once its postinstall has
 * run, else the platform package it depends on. A `.bin` entry can be a Node.js wrapper
 * that starts the binary as a child, which stopping the server by its pid would leave
 * running, so only a native executable is taken.
 */
function candidates(name: RuntimeName): string[] {
  const scoped = (scope: string, inside: string) =>
    existsSync(`${MODULES}/${scope}`)
      ? readdirSync(`${MODULES}/${scope}`).map((p) => `${MODULES}/${scope}/${p}/${inside}`)
      : [];
  return name === "bun"
    ? [`${MODULES}/bun/bin/bun.exe`, ...scoped("@oven", "bin/bun")]
    : [`${MODULES}/deno/deno`, ...scoped("@deno", "deno")];
}

function isNativeExecutable(path: string): boolean {
  if (!existsSync(path)) return false;
  const head = Buffer.alloc(4);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  return head.toString("latin1") === "\x7fELF";
}

const found = new Map<RuntimeName, Runtime>();

/** `bun` or `deno` from build/bench/runtimes, checked with `--version` (once per run). */
export function runtime(name: RuntimeName): Runtime {
  let r = found.get(name);
  if (r === undefined) {
    r = locate(name);
    found.set(name, r);
  }
  return r;
}

function locate(name: RuntimeName): Runtime {
  const path = candidates(name).find(isNativeExecutable);
  if (path === undefined) {
    return {
      missing: existsSync(`${MODULES}/${name}`)
        ? `the ${name} package is in build/bench/runtimes but not its binary (its postinstall did not run?): npm run bench:install`
        : `${name} is not installed (npm run bench:install)`,
    };
  }
  const v = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 30_000 });
  if (v.status !== 0) {
    const why = (v.error?.message ?? v.stderr ?? "").trim().split("\n")[0];
    return { missing: `${name} --version did not run (${why || `exit ${v.status}`})` };
  }
  // "1.4.5" from bun, "deno 2.9.6 (stable, release, ...)" and more lines from deno.
  const version = /\d+\.\d+\.\d+\S*/.exec(v.stdout)?.[0] ?? v.stdout.trim();
  return { path, version };
}

/**
 * Runs `npm run bench:install` when Bun or Deno is not there yet: null when both run
 * afterwards, else why not (offline, a blocked postinstall...), which their rows report.
 */
export function installRuntimes(): string | null {
  if ("path" in runtime("bun") && "path" in runtime("deno")) return null;
  process.stderr.write(
    "installing Bun and Deno into build/bench/runtimes (npm run bench:install)\n",
  );
  const npm = spawnSync("npm", ["run", "bench:install"], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 600_000,
  });
  found.clear();
  if (npm.error !== undefined || npm.status !== 0) {
    // npm's first error lines say what failed ("code ECONNREFUSED", then "FetchError: request
    // to ... failed, reason: ..."); the rest is a stack and where its log went.
    const lines = `${npm.error?.message ?? ""}\n${npm.stderr ?? ""}`
      .split("\n")
      .map((l) => l.replace(/^npm error\s*/, "").trim());
    const why =
      lines.find((l) => /reason:|Error:|EAI_AGAIN|ENOTFOUND|E404|ETIMEDOUT/.test(l)) ??
      lines.find((l) => l.startsWith("code ")) ??
      lines.find((l) => l !== "") ??
      "";
    return `npm run bench:install failed (${npm.status ?? "not started"}): ${why}`;
  }
  return null;
}

/**
 * What a benchmark server run by `name` needs in its environment: its caches under
 * build/bench/runtimes rather than in the home folder, and no update check.
 */
export function runtimeEnv(name: RuntimeName): Record<string, string> {
  return name === "deno"
    ? { DENO_DIR: `${RUNTIMES_DIR}/deno-dir`, DENO_NO_UPDATE_CHECK: "1" }
    : { DO_NOT_TRACK: "1" };
}
