/**
 * Child processes for integration tests: start a program, wait for its
 * `listening on HOST:PORT` line, feed stdin, collect output, and stop it by pid.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const TSX = `${ROOT}node_modules/.bin/tsx`;

let python: string | null | undefined;
/** The python3 executable, or null when there is none (tests then skip, saying why). */
export function python3(): string | null {
  if (python === undefined) {
    const r = spawnSync("python3", ["--version"], { encoding: "utf8" });
    python = r.status === 0 ? "python3" : null;
  }
  return python;
}

/** A started program. */
export interface Program {
  child: ChildProcess;
  stdout: () => Buffer;
  stderr: () => string;
  /** Resolves with the exit code when the program has ended and all its output is read. */
  exited: Promise<number | null>;
  /** Stops the program (SIGTERM, then SIGKILL after 3 s) and waits for {@link exited}. */
  stop: () => Promise<void>;
}

/** Starts `command args...` in the repository root with piped stdio. */
export function start(
  command: string,
  args: string[],
  options: { stdin?: Buffer | string; cwd?: string; env?: Record<string, string> } = {},
): Program {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: options.env === undefined ? process.env : { ...process.env, ...options.env },
  });
  const out: Buffer[] = [];
  let err = "";
  child.stdout?.on("data", (c: Buffer) => out.push(c));
  child.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  child.stdin?.on("error", () => {});
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  const { exited, stop } = lifetimeOf(child);
  return { child, stdout: () => Buffer.concat(out), stderr: () => err, exited, stop };
}

/**
 * A started child's end (its exit code once its output is all read) and how to stop it:
 * SIGTERM, then SIGKILL after 3 s, by its pid.
 */
export function lifetimeOf(child: ChildProcess): Pick<Program, "exited" | "stop"> {
  // `close`, not `exit`: `exit` can come before the last of stdout and stderr is read.
  // (`close` also waits for any other process holding those pipes, such as workers.)
  const exited = new Promise<number | null>((resolve) => {
    child.on("close", (code) => resolve(code));
    child.on("error", () => resolve(null));
  });
  const stop = async () => {
    let timer: NodeJS.Timeout | undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    }
    await exited;
    clearTimeout(timer);
  };
  return { exited, stop };
}

/** Starts an example: `tsx examples/NAME.ts args...`. */
export function example(
  name: string,
  args: string[],
  options?: { stdin?: Buffer | string; cwd?: string },
): Program {
  return start(
    process.execPath,
    ["--import", "tsx", `${ROOT}examples/${name}.ts`, ...args],
    options,
  );
}

/** Starts a Python seed fixture: `python3 -u test/fixtures/seeds/NAME.py args...`. */
export function seed(
  name: string,
  args: string[],
  options?: { stdin?: Buffer | string; cwd?: string },
): Program {
  return start(
    python3() ?? "python3",
    ["-u", `${ROOT}test/fixtures/seeds/${name}.py`, ...args],
    options,
  );
}

/** Starts the byte-exact Python peer `test/fixtures/blob.py MODE args...`. */
export function blob(args: string[], stdin?: Buffer): Program {
  return start(
    python3() ?? "python3",
    [`${ROOT}test/fixtures/blob.py`, ...args],
    stdin ? { stdin } : {},
  );
}

/**
 * Waits for the `listening on HOST:PORT` (or `listening on PATH`) line on stderr and
 * returns what follows "listening on ". Fails if the program exits first or 20 s pass.
 */
export async function listening(program: Program): Promise<string> {
  const line = /listening on (\S+)/;
  await errorOutputFrom(program, (err) => line.test(err));
  return (line.exec(program.stderr()) as RegExpExecArray)[1] as string;
}

/**
 * Waits until `ready` holds for what the program wrote to `stream` so far, each time it
 * writes more; fails if the program exits first or 20 s pass.
 */
async function outputOn(
  program: Program,
  stream: "stdout" | "stderr",
  ready: (text: string) => boolean,
): Promise<void> {
  const text = () => (stream === "stdout" ? program.stdout().toString() : program.stderr());
  const deadline = AbortSignal.timeout(20_000);
  while (!ready(text())) {
    if (program.child.exitCode !== null) {
      throw new Error(`Program exited (${program.child.exitCode}): ${program.stderr()}`);
    }
    // One signal per wait, aborted after it: the wait that lost the race lets go of its
    // listeners (else they pile up on the child and the deadline, one pair a chunk).
    const settled = new AbortController();
    const signal = AbortSignal.any([deadline, settled.signal]);
    const data = once(program.child[stream] as NodeJS.ReadableStream, "data", { signal });
    const exit = once(program.child, "exit", { signal });
    try {
      await Promise.race([data, exit]);
    } catch (err) {
      throw new Error(
        `Waited for ${stream} in vain: ${(err as Error).message}; ${stream}: ${text()}`,
      );
    } finally {
      settled.abort();
      data.catch(() => {});
      exit.catch(() => {});
    }
  }
}

/** Waits until `ready` holds for what the program wrote to stderr (at most 20 s). */
export function errorOutputFrom(program: Program, ready: (err: string) => boolean): Promise<void> {
  return outputOn(program, "stderr", ready);
}

/** The port of a `HOST:PORT` string. */
export function portOf(where: string): string {
  return where.slice(where.lastIndexOf(":") + 1);
}

/** Replaces port numbers in Python address reprs and `host:port` text with `PORT`. */
export function maskPorts(text: string): string {
  return text
    .replace(/('[\d.:a-f]+', )\d+/g, "$1PORT")
    .replace(/(\d+\.\d+\.\d+\.\d+):\d+/g, "$1:PORT");
}

/** Waits (at most 20 s) until the program's stdout satisfies `ready`. */
export function outputFrom(program: Program, ready: (out: string) => boolean): Promise<void> {
  return outputOn(program, "stdout", ready);
}

/**
 * Runs the `socketkit` command from the source (`src/cli/main.ts`). `stdin` is written and
 * ended; left out (or null), standard input stays open.
 */
export function socketkit(
  args: string[],
  stdin?: Buffer | string | null,
  env?: Record<string, string>,
): Program {
  return start(process.execPath, ["--import", "tsx", `${ROOT}src/cli/main.ts`, ...args], {
    ...(stdin === undefined || stdin === null ? {} : { stdin }),
    ...(env === undefined ? {} : { env }),
  });
}

let setpriv: boolean | undefined;
/**
 * Runs the `socketkit` command as a user whom file permissions bind: this one when it is
 * not root, `nobody` (through util-linux `setpriv`) when it is, since root reads and writes
 * anything. A string instead of a program when neither can be: the reason to skip.
 * Files the test makes for it must be reachable by others (`chmod 0755` a temp folder).
 */
export function unprivilegedSocketkit(
  args: string[],
  options: { cwd?: string } = {},
): Program | string {
  const main = [process.execPath, "--import", `${ROOT}node_modules/tsx/dist/loader.mjs`];
  main.push(`${ROOT}src/cli/main.ts`, ...args);
  if (process.getuid?.() !== 0) return start(main[0] as string, main.slice(1), options);
  setpriv ??= spawnSync("setpriv", ["--version"]).status === 0;
  if (!setpriv) return "running as root without util-linux setpriv to drop to nobody";
  const drop = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];
  return start("setpriv", [...drop, ...main], options);
}

/** Resident memory of a process in bytes (VmRSS). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`No VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * TCP connections the process `pid` holds on its local `port` (accepted ones, in any state
 * but LISTEN), from /proc: its sockets' inodes matched with the kernel's TCP tables. A
 * count of descriptors would also move with whatever else the process opens or closes
 * (Node.js 22 closes two of its own after start-up).
 */
export function acceptedConnections(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) inodes.add(m[1] as string);
    } catch {
      // Closed meanwhile.
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local rem st ... inode: LISTEN is state 0A.
      if (f.length < 10 || f[3] === "0A") continue;
      if ((f[1] as string).endsWith(`:${hexPort}`) && inodes.has(f[9] as string)) count++;
    }
  }
  return count;
}

/** Open file descriptors of a process (sockets, pipes, files). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * The program's exit code, or a failure when it has not exited within `ms` (a bound on a
 * command that must end by itself); the program is stopped either way.
 */
export async function within(p: Program, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Still running after ${ms} ms: ${p.stderr()}`)), ms);
  });
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
    await p.stop();
  }
}
