/**
 * Magic Wormhole: a file (1 GiB by default) sent through a code on 127.0.0.1, with
 * socketkit's rendezvous server and transit relay, socketkit → socketkit against
 * `wormhole send` → `wormhole receive` (magic-wormhole, Python) on the same path,
 * interleaved; the time from starting both programs (the code given to both with
 * `--code`) until both have exited, the SHA-256 checked by each sender; medians.
 *
 * The path is a direct transit connection: the part runs in a network namespace of its
 * own that has only the loopback interface (`unshare -n`, as root), since `wormhole` gives
 * every address of the machine as a direct hint and has no flag to give only 127.0.0.1.
 * Where a namespace cannot be made, both go through the transit relay instead (`--no-listen`
 * on every side), and the row says so.
 *
 * Beside each rate: the CPU seconds (user + system) of each program and its peak RSS
 * (VmHWM), both read from /proc every 50 ms while it runs (so to within 50 ms).
 *
 *   npx tsx bench/wormhole.ts        # BENCH_WORMHOLE_MB (1024), BENCH_WORMHOLE_RUNS (5)
 *
 * BENCH_CPU_PROF=DIR runs socketkit's sender and receiver under `node --cpu-prof` and
 * writes their profiles to DIR/sender and DIR/receiver.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RendezvousServer } from "../src/apps/wormhole/rendezvous-server.ts";
import { TransitRelay } from "../src/apps/wormhole/transit-relay.ts";
import { has, median, type RateRow, SETTINGS, socketkitCli, writeRandomFile } from "./lib.ts";

const MB = SETTINGS.wormholeMb;
const RUNS = SETTINGS.wormholeRuns;

/** A row of the part: one program pair's median rate. */
export interface WormholeRow extends RateRow {
  /** Highest peak RSS of the sender and of the receiver over the runs, MiB. */
  rssMb?: { sender: number; receiver: number };
  /** CPU seconds (user + system) of the sender and of the receiver in each run. */
  cpu?: { sender: number[]; receiver: number[] };
}

/** What the part measured: its rows and the transit path both took. */
export interface WormholeResult {
  path: "direct" | "relay";
  mb: number;
  rows: WormholeRow[];
}

interface Servers {
  url: string;
  hint: string;
}

type Pair = {
  name: string;
  sender: (s: Servers, code: string, file: string, relayOnly: boolean) => [string, string[]];
  receiver: (s: Servers, code: string, out: string, relayOnly: boolean) => [string, string[]];
};

const PROFILE = process.env.BENCH_CPU_PROF;
const profiled = (side: string) =>
  PROFILE === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(PROFILE, side)}`];

const PAIRS: Pair[] = [
  {
    name: "socketkit → socketkit",
    sender: (s, code, file, relayOnly) => [
      process.execPath,
      [
        ...profiled("sender"),
        ...socketkitCli,
        "send",
        file,
        "--code",
        code,
        "--relay-url",
        s.url,
        "--transit-helper",
        s.hint,
        ...(relayOnly ? ["--no-listen"] : []),
      ],
    ],
    receiver: (s, code, out, relayOnly) => [
      process.execPath,
      [
        ...profiled("receiver"),
        ...socketkitCli,
        "receive",
        code,
        "--dir",
        out,
        "--overwrite",
        "--relay-url",
        s.url,
        "--transit-helper",
        s.hint,
        ...(relayOnly ? ["--no-listen"] : []),
      ],
    ],
  },
  {
    name: "wormhole → wormhole (magic-wormhole 0.12)",
    sender: (s, code, file, relayOnly) => [
      "wormhole",
      [
        "--relay-url",
        s.url,
        "--transit-helper",
        s.hint,
        "send",
        "--hide-progress",
        ...(relayOnly ? ["--no-listen"] : []),
        "--code",
        code,
        file,
      ],
    ],
    receiver: (s, code, out, relayOnly) => [
      "wormhole",
      [
        "--relay-url",
        s.url,
        "--transit-helper",
        s.hint,
        "receive",
        "--hide-progress",
        ...(relayOnly ? ["--no-listen"] : []),
        "--accept-file",
        "--output-file",
        join(out, "big.bin"),
        code,
      ],
    ],
  },
];

function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  return child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.once("exit", r));
}

/** CPU seconds (user + system) of a process so far; 0 once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  try {
    // The fields after the command's name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The peak RSS of a process so far (VmHWM), in KiB; 0 once it is gone. */
function peakRss(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * One transfer: seconds from starting both programs until both have exited, and the
 * highest peak RSS read of each (MiB).
 */
async function once(
  pair: Pair,
  servers: Servers,
  file: string,
  out: string,
  relayOnly: boolean,
  n: number,
): Promise<{ seconds: number; sender: number; receiver: number; cpu: [number, number] }> {
  rmSync(join(out, "big.bin"), { force: true });
  const code = `${100 + n}-bench-wormhole`;
  const [sc, sa] = pair.sender(servers, code, file, relayOnly);
  const [rc, ra] = pair.receiver(servers, code, out, relayOnly);
  let err = "";
  const collect = (c: Buffer) => {
    err += c.toString();
  };
  const start = performance.now();
  const sender = spawn(sc, sa, { stdio: ["ignore", "ignore", "pipe"] });
  const receiver = spawn(rc, ra, { stdio: ["ignore", "ignore", "pipe"] });
  sender.stderr?.on("data", collect);
  receiver.stderr?.on("data", collect);
  // One side failing fails the run at once, rather than leaving the other waiting.
  for (const [one, other] of [
    [sender, receiver],
    [receiver, sender],
  ] as const)
    one.once("exit", (code) => {
      if (code !== 0) other.kill("SIGKILL");
    });
  const timer = setTimeout(() => {
    sender.kill("SIGKILL");
    receiver.kill("SIGKILL");
  }, 600_000);
  // The high-water mark only grows: the last reading before the exit is the peak, near enough.
  const rss = { sender: 0, receiver: 0 };
  const cpu: [number, number] = [0, 0];
  const watch = setInterval(() => {
    rss.sender = Math.max(rss.sender, peakRss(sender.pid));
    rss.receiver = Math.max(rss.receiver, peakRss(receiver.pid));
    cpu[0] = Math.max(cpu[0], cpuSeconds(sender.pid));
    cpu[1] = Math.max(cpu[1], cpuSeconds(receiver.pid));
  }, 50);
  try {
    const [s, r] = await Promise.all([exited(sender), exited(receiver)]);
    const seconds = (performance.now() - start) / 1000;
    if (s !== 0 || r !== 0) throw new Error(`${pair.name}: exit codes ${s}/${r}: ${err}`);
    if (statSync(join(out, "big.bin")).size !== statSync(file).size)
      throw new Error(`${pair.name}: the file arrived short`);
    return { seconds, sender: rss.sender / 1024, receiver: rss.receiver / 1024, cpu };
  } finally {
    clearTimeout(timer);
    clearInterval(watch);
  }
}

/** The measurement itself, in this process: the servers here, the programs as children. */
async function measure(relayOnly: boolean): Promise<WormholeResult> {
  const rendezvous = await RendezvousServer.listen({ host: "127.0.0.1", port: 0 });
  const transit = await TransitRelay.listen({ host: "127.0.0.1", port: 0 });
  const servers = { url: rendezvous.url, hint: transit.hint };
  const dir = mkdtempSync(join(tmpdir(), "socketkit-bench-wormhole-"));
  try {
    const file = join(dir, "source", "big.bin");
    writeRandomFile(file, MB);
    const bytes = statSync(file).size;
    const rows: WormholeRow[] = PAIRS.map((p) => ({ tool: p.name, mbps: null, runs: [] }));
    let n = 0;
    for (let r = 0; r < RUNS; r++) {
      for (const [i, pair] of PAIRS.entries()) {
        const out = join(dir, `out-${i}`);
        mkdirSync(out, { recursive: true });
        const { seconds, sender, receiver, cpu } = await once(
          pair,
          servers,
          file,
          out,
          relayOnly,
          n++,
        );
        const row = rows[i] as WormholeRow;
        row.runs.push(bytes / 1e6 / seconds);
        row.rssMb = {
          sender: Math.max(row.rssMb?.sender ?? 0, Math.round(sender)),
          receiver: Math.max(row.rssMb?.receiver ?? 0, Math.round(receiver)),
        };
        row.cpu ??= { sender: [], receiver: [] };
        row.cpu.sender.push(cpu[0]);
        row.cpu.receiver.push(cpu[1]);
      }
    }
    for (const row of rows) row.mbps = median(row.runs);
    const ours = rows[0]?.mbps;
    for (const row of rows) if (ours && row.mbps) row.ratio = ours / row.mbps;
    return { path: relayOnly ? "relay" : "direct", mb: MB, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await rendezvous.close();
    await transit.close();
  }
}

/** Whether this process can make a network namespace with only loopback in it. */
function canUnshare(): boolean {
  const r = spawnSync("unshare", ["-n", "sh", "-c", "ip link set lo up"], { stdio: "ignore" });
  return r.status === 0;
}

const SELF = fileURLToPath(import.meta.url);

/**
 * The part: skipped (with the reason) without `wormhole`; in a loopback-only network
 * namespace (direct transit) where one can be made, else in this one through the relay.
 */
export async function wormholeBench(): Promise<WormholeResult | { skipped: string }> {
  if (!has("wormhole", ["--version"]))
    return { skipped: "the wormhole program is not installed (apt-get install -y magic-wormhole)" };
  if (!canUnshare()) return measure(true);
  const child = spawn(
    "unshare",
    [
      "-n",
      "sh",
      "-c",
      'ip link set lo up && exec "$0" --import tsx "$1" --child',
      process.execPath,
      SELF,
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: process.env },
  );
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const code = await exited(child);
  if (code !== 0) throw new Error(`the wormhole benchmark failed (exit ${code})`);
  return JSON.parse(out.trim().split("\n").at(-1) as string) as WormholeResult;
}

export function printWormhole(result: WormholeResult | { skipped: string }): void {
  if ("skipped" in result) {
    console.log(`\nMagic Wormhole: skipped: ${result.skipped}`);
    return;
  }
  console.log(
    `\n${result.mb} MiB file through a code on 127.0.0.1 (${result.path} transit), median MB/s of ${RUNS} runs (ratio = socketkit / row; target: >= 0.8 against wormhole; median CPU seconds and peak RSS of sender / receiver)\n`,
  );
  for (const r of result.rows) {
    const ratio = r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`.padStart(8);
    const rss = r.rssMb === undefined ? "" : `  RSS ${r.rssMb.sender} / ${r.rssMb.receiver} MiB`;
    const cpu =
      r.cpu === undefined
        ? ""
        : `  CPU ${median(r.cpu.sender).toFixed(2)} / ${median(r.cpu.receiver).toFixed(2)} s`;
    console.log(
      `${r.tool.padEnd(42)} ${(r.mbps ?? 0).toFixed(1).padStart(8)} MB/s ${ratio}${cpu}${rss}`,
    );
  }
}

if (process.argv.includes("--child")) {
  // In the namespace: the result goes to the parent as the last line of stdout.
  process.stdout.write(`${JSON.stringify(await measure(false))}\n`);
  process.exit(0);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await wormholeBench();
  printWormhole(result);
  if (!("skipped" in result))
    for (const r of result.rows) {
      const cpu = r.cpu?.sender.map(
        (s, i) => `${s.toFixed(1)}+${(r.cpu?.receiver[i] ?? 0).toFixed(1)}`,
      );
      console.log(r.tool, r.runs.map((x) => x.toFixed(0)).join(" "), `(CPU s ${cpu?.join(" ")})`);
    }
}
