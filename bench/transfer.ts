/**
 * File transfer: a 1 GiB file of random bytes over loopback, from the moment the sender
 * starts until the receiver has exited with the whole file, for socketkit send/receive
 * (SHA-256 checked on both sides) and, in the same run, for nc, socat and a raw
 * node:net pipe (no check at all). Each tool runs `runs` times, interleaved; medians.
 *
 *   npx tsx bench/transfer.ts            # BENCH_TRANSFER_RUNS (5), BENCH_TRANSFER_MB (1024)
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  has,
  listeningOn,
  median,
  ncIsNcat,
  type RateRow,
  SETTINGS,
  socketkitCli,
  type TransferTool,
  writeRandomFile,
} from "./lib.ts";

const RUNS = SETTINGS.transferRuns;
const MB = SETTINGS.transferMb;

export type TransferRow = RateRow;

const NODE_RECEIVER = `const net=require("net"),fs=require("fs");const s=net.createServer(c=>{c.pipe(fs.createWriteStream(process.argv[2])).on("close",()=>process.exit(0))});s.listen(+process.argv[1],"127.0.0.1",()=>console.error("listening"))`;
const NODE_SENDER = `const net=require("net"),fs=require("fs");const c=net.connect(+process.argv[1],"127.0.0.1",()=>fs.createReadStream(process.argv[2]).pipe(c))`;

const TOOLS: TransferTool[] = [
  {
    name: "socketkit send/receive (SHA-256 checked)",
    missing: () => null,
    receiver: (port, out) => [
      process.execPath,
      [...socketkitCli, "receive", "--port", String(port), "--dir", join(out, ".."), "--overwrite"],
    ],
    sender: (port, file) => [
      process.execPath,
      [...socketkitCli, "send", file, "--to", `127.0.0.1:${port}`],
    ],
  },
  {
    name: "nc (no check)",
    missing: () => (has("nc", ["-h"]) ? null : "nc is not installed (apt-get install -y ncat)"),
    receiver: (port, out) => [
      "sh",
      ["-c", `exec nc -l 127.0.0.1 ${port} ${ncIsNcat() ? "--recv-only" : ""} > '${out}'`],
    ],
    sender: (port, file) => [
      "sh",
      ["-c", `exec nc ${ncIsNcat() ? "--send-only" : "-N"} 127.0.0.1 ${port} < '${file}'`],
    ],
  },
  {
    name: "socat (no check)",
    missing: () =>
      has("socat", ["-V"]) ? null : "socat is not installed (apt-get install -y socat)",
    receiver: (port, out) => [
      "socat",
      ["-u", `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, `CREATE:${out}`],
    ],
    sender: (port, file) => ["socat", ["-u", `OPEN:${file}`, `TCP:127.0.0.1:${port}`]],
  },
  {
    name: "raw node:net pipe (no check)",
    missing: () => null,
    receiver: (port, out) => [process.execPath, ["-e", NODE_RECEIVER, String(port), out]],
    sender: (port, file) => [process.execPath, ["-e", NODE_SENDER, String(port), file]],
  },
];

function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  return child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.once("exit", r));
}

/** One transfer with `tool`: seconds from the sender's start until the receiver exits. */
async function once(tool: TransferTool, file: string, dir: string): Promise<number> {
  const out = join(dir, "big.bin");
  rmSync(out, { force: true });
  const port = await freePort();
  const [rc, ra] = tool.receiver(port, out);
  const receiver = spawn(rc, ra, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  receiver.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  try {
    await listeningOn(port);
    const start = performance.now();
    const [sc, sa] = tool.sender(port, file);
    const sender = spawn(sc, sa, { stdio: ["ignore", "ignore", "ignore"] });
    const [sCode, rCode] = await Promise.all([exited(sender), exited(receiver)]);
    const seconds = (performance.now() - start) / 1000;
    if (sCode !== 0 || rCode !== 0)
      throw new Error(`${tool.name}: exit codes ${sCode}/${rCode}: ${err}`);
    if (statSync(out).size !== statSync(file).size)
      throw new Error(`${tool.name}: the file arrived short`);
    return seconds;
  } finally {
    if (receiver.exitCode === null) {
      receiver.kill("SIGKILL");
      await exited(receiver);
    }
  }
}

export async function transferBench(): Promise<TransferRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "socketkit-bench-"));
  try {
    const file = join(dir, "source", "big.bin");
    mkdirSync(join(dir, "dest"));
    writeRandomFile(file, MB);
    const bytes = statSync(file).size;
    const rows: TransferRow[] = TOOLS.map((t) => {
      const why = t.missing();
      return why === null
        ? { tool: t.name, mbps: null, runs: [] }
        : { tool: t.name, mbps: null, runs: [], skipped: why };
    });
    for (let r = 0; r < RUNS; r++) {
      for (const [i, tool] of TOOLS.entries()) {
        const row = rows[i] as TransferRow;
        if (row.skipped) continue;
        const seconds = await once(tool, file, join(dir, "dest"));
        row.runs.push(bytes / 1e6 / seconds);
      }
    }
    for (const row of rows) if (row.runs.length > 0) row.mbps = median(row.runs);
    const ours = rows[0]?.mbps;
    for (const row of rows) if (ours && row.mbps) row.ratio = ours / row.mbps;
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printTransfer(rows: TransferRow[]): void {
  console.log(
    `\n${MB} MiB file over loopback, median MB/s of ${RUNS} runs (ratio = socketkit / tool; target: >= 1 against nc)\n`,
  );
  for (const r of rows) {
    const value =
      r.mbps === null ? `skipped: ${r.skipped}` : `${r.mbps.toFixed(1).padStart(8)} MB/s`;
    const ratio = r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`.padStart(8);
    console.log(`${r.tool.padEnd(42)} ${value} ${ratio}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await transferBench();
  printTransfer(rows);
  for (const r of rows) console.log(r.tool, r.runs.map((x) => x.toFixed(0)).join(" "));
}
