/**
 * Small files: a folder of many small files of random bytes (10,000 of 1 KiB by default)
 * over loopback, from the moment the sender starts until the receiver has exited with
 * every file written, for socketkit send/receive (SHA-256 checked) and, in the same run,
 * for `tar -c | nc` into `nc -l | tar -x` and the same through socat (no check: the
 * receiving tar writes the files, so it does the same work on the disk). Each tool runs
 * `runs` times, interleaved, into an output folder emptied before each run; every run is
 * checked afterwards (file count, total bytes, a few files' content) and is killed and
 * counted failed if it takes longer than the timeout. Medians.
 *
 *   npx tsx bench/transfer-small.ts   # BENCH_SMALL_FILES (10000), BENCH_SMALL_SIZE (1024),
 *                                     # BENCH_SMALL_RUNS (5), BENCH_SMALL_TIMEOUT (120 s),
 *                                     # BENCH_SMALL_DIR (the system's temporary folder),
 *                                     # BENCH_SMALL_BASELINE (another build's cli/main.js,
 *                                     # run as one more tool: a change measured against
 *                                     # the code before it, interleaved)
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  has,
  listeningOn,
  median,
  ncIsNcat,
  SETTINGS,
  socketkitCli,
  type TransferTool,
} from "./lib.ts";

const COUNT = SETTINGS.smallFiles;
const SIZE = SETTINGS.smallSize;
const RUNS = SETTINGS.smallRuns;
const TIMEOUT_MS = SETTINGS.smallTimeout * 1000;
/** The folder sent, under the source base; each tool writes `OUT/files/...`. */
const FOLDER = "files";

export interface SmallFilesRow {
  tool: string;
  /** Median seconds of the runs that passed, or null when none did or the tool is skipped. */
  seconds: number | null;
  /** Files per second at the median. */
  filesPerSecond: number | null;
  /** Seconds of each run that passed. */
  runs: number[];
  /** Why each failed run failed (timed out, exit code, files missing or different). */
  failures: string[];
  skipped?: string;
  /** socketkit's median time / this tool's: 1.00 = same speed, 3.00 = socketkit 3x slower. */
  ratio?: number;
}

const tarMissing = () => (has("tar", ["--version"]) ? null : "tar is not installed");

const TOOLS: TransferTool[] = [
  {
    name: "socketkit send/receive (SHA-256 checked)",
    missing: () => null,
    receiver: (port, out) => [
      process.execPath,
      [...socketkitCli, "receive", "--port", String(port), "--dir", out],
    ],
    sender: (port, base) => [
      process.execPath,
      [...socketkitCli, "send", join(base, FOLDER), "--to", `127.0.0.1:${port}`],
    ],
  },
  {
    name: "tar | nc (no check)",
    missing: () =>
      tarMissing() ?? (has("nc", ["-h"]) ? null : "nc is not installed (apt-get install -y ncat)"),
    receiver: (port, out) => [
      "sh",
      ["-c", `nc -l 127.0.0.1 ${port} ${ncIsNcat() ? "--recv-only" : ""} | tar -x -C '${out}'`],
    ],
    sender: (port, base) => [
      "sh",
      [
        "-c",
        `tar -c -C '${base}' ${FOLDER} | nc ${ncIsNcat() ? "--send-only" : "-N"} 127.0.0.1 ${port}`,
      ],
    ],
  },
  {
    name: "tar | socat (no check)",
    missing: () =>
      tarMissing() ??
      (has("socat", ["-V"]) ? null : "socat is not installed (apt-get install -y socat)"),
    receiver: (port, out) => [
      "sh",
      ["-c", `socat -u TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr STDOUT | tar -x -C '${out}'`],
    ],
    sender: (port, base) => [
      "sh",
      ["-c", `tar -c -C '${base}' ${FOLDER} | socat -u STDIN TCP:127.0.0.1:${port}`],
    ],
  },
];

// Another build of socketkit, as a baseline: `git archive` of the commit before a change,
// built, and its dist/cli/main.js given here.
const baseline = process.env.BENCH_SMALL_BASELINE;
if (baseline) {
  TOOLS.push({
    name: "socketkit, baseline build",
    missing: () => (existsSync(baseline) ? null : `${baseline} does not exist`),
    receiver: (port, out) => [
      process.execPath,
      [baseline, "receive", "--port", String(port), "--dir", out],
    ],
    sender: (port, base) => [
      process.execPath,
      [baseline, "send", join(base, FOLDER), "--to", `127.0.0.1:${port}`],
    ],
  });
}

/** The source files' names: f00000, f00001, ... */
const names = Array.from({ length: COUNT }, (_, i) => `f${String(i).padStart(5, "0")}`);

/** Makes `COUNT` files of `SIZE` random bytes in `base/FOLDER`. */
function makeFiles(base: string): void {
  const dir = join(base, FOLDER);
  mkdirSync(dir, { recursive: true });
  const buf = Buffer.allocUnsafe(SIZE);
  for (const name of names) writeFileSync(join(dir, name), randomFillSync(buf));
  // On the disk before the first run: write-back would otherwise take from the first tool.
  spawnSync("sync");
}

/** Regular files under `dir` and their total size. */
function tally(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      const t = tally(path);
      files += t.files;
      bytes += t.bytes;
    } else if (e.isFile()) {
      files += 1;
      bytes += statSync(path).size;
    }
  }
  return { files, bytes };
}

/** Why `out` does not hold a copy of `base/FOLDER`, or null when it does. */
function check(base: string, out: string): string | null {
  // Only the folder sent: socketkit keeps its staging folder beside it.
  const { files, bytes } = existsSync(join(out, FOLDER))
    ? tally(join(out, FOLDER))
    : { files: 0, bytes: 0 };
  if (files !== COUNT || bytes !== COUNT * SIZE)
    return `${files} files of ${bytes} bytes arrived, expected ${COUNT} of ${COUNT * SIZE}`;
  const picks = new Set([0, COUNT - 1, Math.floor(COUNT / 2), Math.floor(COUNT / 3)]);
  for (let k = 0; k < 4; k++) picks.add(Math.floor(Math.random() * COUNT));
  for (const i of picks) {
    const name = names[i] as string;
    const got = join(out, FOLDER, name);
    if (!existsSync(got)) return `${FOLDER}/${name} is missing`;
    if (!readFileSync(got).equals(readFileSync(join(base, FOLDER, name))))
      return `${FOLDER}/${name} differs from the source`;
  }
  return null;
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.once("exit", (code) => r(code)));
}

/**
 * Each side runs in a process group of its own (`detached`), so that a shell pipeline's
 * members can be killed with it; only groups started here are ever killed.
 */
const live = new Set<ChildProcess>();

function start(command: string, args: string[], log: { text: string }): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.stderr?.on("data", (c: Buffer) => {
    log.text += c.toString();
  });
  child.on("error", (e) => {
    log.text += `${e.message}\n`;
  });
  return child;
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/**
 * Kills `child`'s group while its leader runs: a shell exits only after its pipeline, so
 * once the leader is gone so is the group, and its number may be someone else's.
 */
async function killGroup(child: ChildProcess): Promise<void> {
  if (!running(child) || child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Exited meanwhile.
  }
  await exited(child);
}

/** Ctrl-C during a run: the detached groups would outlive us, so they go first. */
function onSignal(signal: NodeJS.Signals): void {
  for (const child of live) {
    try {
      if (running(child) && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  process.kill(process.pid, signal);
}

/**
 * One transfer with `tool` into the new folder `out`: seconds from the sender's start
 * until both sides exited.
 */
async function once(tool: TransferTool, base: string, out: string): Promise<number> {
  mkdirSync(out);
  const port = await freePort();
  const log = { text: "" };
  const [rc, ra] = tool.receiver(port, out);
  const receiver = start(rc, ra, log);
  let sender: ChildProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failed = true;
  try {
    await listeningOn(port);
    const [sc, sa] = tool.sender(port, base);
    const started = performance.now();
    sender = start(sc, sa, log);
    const both = Promise.all([exited(sender), exited(receiver)]);
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), TIMEOUT_MS);
    });
    // A side that fails ends the run at once rather than leaving the other waiting.
    const failing = new Promise<"failing">((r) => {
      for (const c of [sender as ChildProcess, receiver])
        c.once("exit", (code) => code !== 0 && r("failing"));
    });
    const codes = await Promise.race([both, timeout, failing]);
    const seconds = (performance.now() - started) / 1000;
    if (codes === "timeout") throw new Error(`timed out after ${TIMEOUT_MS / 1000} s`);
    if (codes === "failing" || codes[0] !== 0 || codes[1] !== 0) {
      // Give the other side a moment to say why too.
      await new Promise((r) => setTimeout(r, 100));
      throw new Error(
        `exit codes ${sender.exitCode ?? sender.signalCode}/${receiver.exitCode ?? receiver.signalCode}: ${log.text.trim()}`,
      );
    }
    const wrong = check(base, out);
    if (wrong !== null) throw new Error(wrong);
    failed = false;
    return seconds;
  } finally {
    clearTimeout(timer);
    if (failed) await Promise.all([killGroup(receiver), sender && killGroup(sender)]);
  }
}

export async function smallFilesBench(): Promise<SmallFilesRow[]> {
  // BENCH_SMALL_DIR=/dev/shm (a tmpfs) takes the disk out of the comparison.
  const dir = mkdtempSync(join(process.env.BENCH_SMALL_DIR || tmpdir(), "socketkit-bench-small-"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const base = join(dir, "source");
    makeFiles(base);
    const rows: SmallFilesRow[] = TOOLS.map((t) => {
      const why = t.missing();
      const row: SmallFilesRow = {
        tool: t.name,
        seconds: null,
        filesPerSecond: null,
        runs: [],
        failures: [],
      };
      if (why !== null) {
        row.skipped = why;
        process.stderr.write(`small files: skipping ${t.name}: ${why}\n`);
      }
      return row;
    });
    for (let r = 0; r < RUNS; r++) {
      for (const [i, tool] of TOOLS.entries()) {
        const row = rows[i] as SmallFilesRow;
        if (row.skipped) continue;
        try {
          // A new folder each run, all deleted at the end: ext4 makes a file slowly for
          // a while after many were deleted (it skips recently freed inodes one by one),
          // so deleting the last run's 10,000 files would slow whichever tool came next.
          row.runs.push(await once(tool, base, join(dir, `dest-${r}-${i}`)));
        } catch (e) {
          const why = (e as Error).message;
          row.failures.push(why);
          process.stderr.write(`small files: FAILED ${tool.name}, run ${r + 1}: ${why}\n`);
        }
      }
    }
    for (const row of rows) {
      if (row.runs.length === 0) continue;
      row.seconds = median(row.runs);
      row.filesPerSecond = COUNT / row.seconds;
    }
    const ours = rows[0]?.seconds;
    for (const row of rows) if (ours && row.seconds) row.ratio = ours / row.seconds;
    return rows;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Any failed run of socketkit's: the suite exits non-zero for it. */
export const socketkitFailed = (rows: SmallFilesRow[]): boolean =>
  rows.some((r) => r.tool.startsWith("socketkit") && r.failures.length > 0);

export function printSmallFiles(rows: SmallFilesRow[]): void {
  console.log(
    `\nsmall files: ${COUNT.toLocaleString("en-US")} files of ${SIZE} bytes over loopback, median of ${RUNS} runs (ratio = socketkit's time / the tool's: 1.00 = same speed, 3.00 = three times slower)\n`,
  );
  console.log(
    `${"tool".padEnd(42)} ${"median s".padStart(9)} ${"files/s".padStart(9)} ${"ratio".padStart(8)}`,
  );
  for (const r of rows) {
    const failed = r.failures.length > 0 ? `  ${r.failures.length} of ${RUNS} runs failed` : "";
    const value =
      r.skipped !== undefined
        ? `skipped: ${r.skipped}`
        : r.seconds === null || r.filesPerSecond === null
          ? `every run failed: ${r.failures[0]}`
          : `${r.seconds.toFixed(3).padStart(9)} ${Math.round(r.filesPerSecond).toLocaleString("en-US").padStart(9)}`;
    const ratio = r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`.padStart(8);
    console.log(`${r.tool.padEnd(42)} ${value} ${ratio}${failed}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await smallFilesBench();
  printSmallFiles(rows);
  for (const r of rows) console.log(r.tool, r.runs.map((x) => x.toFixed(3)).join(" "));
  if (socketkitFailed(rows)) process.exitCode = 1;
}
