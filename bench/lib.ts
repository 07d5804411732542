/**
 * What the benchmark scripts share: starting a server as a child process and knowing its
 * port, and medians with ratios to a baseline.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The tests' readers of /proc (a missing figure throws rather than putting NaN in a table).
export { acceptedConnections, fdCount, rssOf } from "../test/helpers/proc.ts";

const SMOKE = process.env.BENCH_SMOKE === "1";
const setting = (name: string, normal: number, smoke: number): number =>
  process.env[name] !== undefined ? Number(process.env[name]) : SMOKE ? smoke : normal;

/**
 * The suite's sizes, from the environment. `BENCH_SMOKE=1` makes every part tiny (one
 * short run each; the test suite uses it to check that the benchmarks still run) and
 * writes its results under build/ instead of bench/results.json.
 */
const REPO = fileURLToPath(new URL("..", import.meta.url));

/** How a benchmark starts the socketkit CLI: the build when there is one, else the source. */
export const socketkitCli = existsSync(`${REPO}dist/cli/main.js`)
  ? [`${REPO}dist/cli/main.js`]
  : ["--import", "tsx", `${REPO}src/cli/main.ts`];

/** Whether `cmd args` can be started here. */
export const has = (cmd: string, args: string[]): boolean =>
  spawnSync(cmd, args).error === undefined;

let ncat: boolean | undefined;
/**
 * Whether `nc` is ncat, which needs --send-only / --recv-only to close at EOF (OpenBSD nc
 * needs -N). Asked once.
 */
export function ncIsNcat(): boolean {
  ncat ??= /ncat/i.test(spawnSync("nc", ["--version"], { encoding: "utf8" }).stderr ?? "");
  return ncat;
}

/** A baseline of a transfer benchmark: how to start its receiver and its sender. */
export interface TransferTool {
  name: string;
  /** Why it cannot run here, or null. */
  missing: () => string | null;
  /** The command of a receiver on `port` writing `out`. */
  receiver: (port: number, out: string) => [string, string[]];
  /** The command of a sender to `port` of `what` (a file, or a folder's parent). */
  sender: (port: number, what: string) => [string, string[]];
}

export const SETTINGS = {
  smoke: SMOKE,
  /** Measurements per server (`BENCH_RUNS`). */
  runs: setting("BENCH_RUNS", 5, 1),
  /** Seconds per measurement (`BENCH_SECONDS`). */
  seconds: setting("BENCH_SECONDS", 2, 0.3),
  /** Connections of the ping-pong scenarios. */
  pingpongConns: SMOKE ? [50] : [1, 50, 500],
  /** Sockets of the UDP scenarios. */
  udpSockets: SMOKE ? [50] : [1, 50],
  /** Idle connections held (`BENCH_IDLE_CONNS`) and runs (`BENCH_IDLE_RUNS`). */
  idleConns: setting("BENCH_IDLE_CONNS", 10_000, 200),
  idleRuns: setting("BENCH_IDLE_RUNS", 3, 1),
  /** Chat fan-out: room sizes, messages per room (`BENCH_FANOUT_ROUNDS`). */
  fanoutMembers: SMOKE ? [50] : [1000, 5000],
  fanoutRounds: setting("BENCH_FANOUT_ROUNDS", 50, 3),
  /** Chat burst: members that all send at once (`BENCH_BURST_MEMBERS`), bursts (`BENCH_BURST_ROUNDS`). */
  burstMembers: setting("BENCH_BURST_MEMBERS", 1000, 30),
  burstRounds: setting("BENCH_BURST_ROUNDS", 5, 2),
  /** Chat on many servers: members over 3 `--redis` servers (`BENCH_REDIS_MEMBERS`). */
  redisMembers: setting("BENCH_REDIS_MEMBERS", 30_000, 60),
  /** File transfer: MiB (`BENCH_TRANSFER_MB`) and runs (`BENCH_TRANSFER_RUNS`). */
  transferMb: setting("BENCH_TRANSFER_MB", 1024, 8),
  transferRuns: setting("BENCH_TRANSFER_RUNS", 5, 1),
  /** Magic Wormhole: MiB of the file (`BENCH_WORMHOLE_MB`) and runs (`BENCH_WORMHOLE_RUNS`). */
  wormholeMb: setting("BENCH_WORMHOLE_MB", 1024, 4),
  wormholeRuns: setting("BENCH_WORMHOLE_RUNS", 5, 1),
  /**
   * Small files: how many (`BENCH_SMALL_FILES`), bytes each (`BENCH_SMALL_SIZE`), runs
   * (`BENCH_SMALL_RUNS`), and seconds before a run is killed and counted failed
   * (`BENCH_SMALL_TIMEOUT`).
   */
  smallFiles: setting("BENCH_SMALL_FILES", 10_000, 300),
  smallSize: setting("BENCH_SMALL_SIZE", 1024, 1024),
  smallRuns: setting("BENCH_SMALL_RUNS", 5, 1),
  smallTimeout: setting("BENCH_SMALL_TIMEOUT", 120, 120),
  /** Where the results go. */
  resultsFile:
    process.env.BENCH_RESULTS ??
    fileURLToPath(
      new URL(SMOKE ? "../build/bench/results-smoke.json" : "results.json", import.meta.url),
    ),
};

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * Waits until /proc/net/tcp shows a listening socket on 127.0.0.1:port: probing with a
 * connection would be taken for a client by servers that serve one.
 */
export async function listeningOn(port: number): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  for (let i = 0; i < 500; i++) {
    const table = readFileSync("/proc/net/tcp", "utf8");
    if (table.split("\n").some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** A server started for a benchmark. */
export interface BenchServer {
  pid: number;
  port: number;
  stop: () => Promise<void>;
}

/**
 * Starts `command args` and learns its port: from its `listening on HOST:PORT` line on
 * stderr, or, with `portFromUs` (a server that prints none), by giving it a free port in
 * place of `{port}` in its arguments and waiting until that port listens. `env` is added
 * to this process's environment. With `BENCH_CPU_PROF=DIR` in the environment, a Node.js
 * server runs under `--cpu-prof` and writes its profile to DIR when stopped.
 */
export async function startServer(
  command: string,
  args: readonly string[],
  portFromUs = false,
  env: Record<string, string> = {},
): Promise<BenchServer> {
  const chosen = portFromUs ? await freePort() : 0;
  const profile = process.env.BENCH_CPU_PROF;
  const profiled = profile !== undefined && command === process.execPath;
  const child = spawn(
    command,
    [
      ...(profiled ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []),
      ...args.map((a) => a.replace("{port}", String(chosen))),
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } },
  );
  let err = "";
  const port = portFromUs
    ? await listeningOn(chosen).then(() => chosen)
    : await new Promise<number>((resolve, reject) => {
        child.stderr.on("data", (c: Buffer) => {
          err += c.toString();
          const m = /listening on \S+:(\d+)/.exec(err);
          if (m) resolve(Number(m[1]));
        });
        child.on("exit", (code) => reject(new Error(`${command} exited (${code}): ${err}`)));
      });
  return {
    pid: child.pid as number,
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      if (profiled) {
        // A clean exit writes the profile: SIGTERM, and SIGKILL only if that takes long.
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await gone;
        clearTimeout(timer);
        return;
      }
      child.kill("SIGKILL");
      await gone;
    },
  };
}

/**
 * CPU seconds (user and system, every thread) the process `pid` has used so far, from
 * /proc/PID/stat: its fields after the command name, which may hold spaces, are
 * state, ppid, ... utime (the 12th) and stime (the 13th), in clock ticks.
 */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // In USER_HZ, which Linux fixes at 100 for user space whatever the kernel's own tick.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The `p`th percentile of ascending `sorted` (nearest rank); NaN when it is empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** The machine's CPU time so far, all cores, in clock ticks: idle (with I/O wait) and in all. */
export function machineTicks(): { idle: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: (t[3] ?? 0) + (t[4] ?? 0), total: t.reduce((a, b) => a + b, 0) };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Sets each row's median of its runs, and its ratio to the first row's (the baseline). */
export function mediansAndRatios(
  rows: Array<{ runs: number[]; median: number | null; ratio?: number }>,
): void {
  for (const r of rows) if (r.runs.length > 0) r.median = median(r.runs);
  const base = rows[0]?.median;
  for (const r of rows) if (base && r.median !== null) r.ratio = r.median / base;
}

const built = new Map<string, { path: string } | { missing: string }>();

/**
 * Compiles `bench/servers/NAME.c` with the system C compiler into `build/bench/NAME`
 * (once per run): its path, or why it cannot be had.
 */
export function compiledServer(name: string): { path: string } | { missing: string } {
  let result = built.get(name);
  if (result === undefined) {
    const root = fileURLToPath(new URL("..", import.meta.url));
    mkdirSync(`${root}build/bench`, { recursive: true });
    const path = `${root}build/bench/${name}`;
    const cc = spawnSync("cc", ["-O2", "-o", path, `${root}bench/servers/${name}.c`], {
      encoding: "utf8",
    });
    result =
      cc.error !== undefined
        ? { missing: "no C compiler (apt-get install -y gcc)" }
        : cc.status !== 0
          ? { missing: `cc failed: ${cc.stderr.trim().split("\n")[0]}` }
          : { path };
    built.set(name, result);
  }
  return result;
}

/** A redis-server on a free port in a temporary folder, nothing saved. */
export async function startRedis(): Promise<{
  url: string;
  port: number;
  pid: number;
  stop: () => Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), "socketkit-bench-redis-"));
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { cwd: dir, stdio: ["ignore", "pipe", "ignore"] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("Ready to accept connections")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A row of a throughput part: one tool's (or program pair's) median rate. */
export interface RateRow {
  tool: string;
  /** Median MB/s (1 MB = 10^6 bytes), or null when skipped. */
  mbps: number | null;
  runs: number[];
  skipped?: string;
  /** socketkit / this row, by rate. */
  ratio?: number;
}

/**
 * Writes `mb` MiB of random bytes to `file` (its folder made) and syncs them to the disk
 * before the first run, whose tool would otherwise pay for the write-back.
 */
export function writeRandomFile(file: string, mb: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, "w");
  try {
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    for (let i = 0; i < mb; i++) writeSync(fd, randomFillSync(chunk));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
