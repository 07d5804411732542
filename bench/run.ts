/**
 * socketkit's benchmark suite. Every scenario runs against socketkit and, in the same
 * run, against the baselines a user would pick instead; each is measured several times
 * and the median reported, with the ratio socketkit / baseline. Results also go to
 * bench/results.json.
 *
 *   npm run bench                 # defaults: 5 runs of 2 s per server
 *   BENCH_RUNS=3 BENCH_SECONDS=1 npm run bench
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bench } from "../src/apps/bench.ts";
import { chatFanout, type FanoutResult } from "./chat-fanout.ts";
import { compiledServer, mediansAndRatios, SETTINGS, startServer } from "./lib.ts";
import { idleBench, printRows, type SimpleRow, streamBench } from "./stream-idle.ts";
import { printTransfer, transferBench } from "./transfer.ts";
import { printSmallFiles, smallFilesBench, socketkitFailed } from "./transfer-small.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const RUNS = SETTINGS.runs;
const SECONDS = SETTINGS.seconds;
/**
 * BENCH_ONLY=pingpong,udp,stream,idle,fanout,transfer,small runs only those parts (all by
 * default).
 */
const ONLY = new Set(
  (process.env.BENCH_ONLY ?? "pingpong,udp,stream,idle,fanout,transfer,small").split(","),
);

interface ServerSpec {
  name: string;
  command: string;
  /** `{port}` is replaced by a free port when the server cannot print its own. */
  args: string[];
  available: () => string | null;
  /** The server does not print `listening on`: run.ts picks the port and waits for it. */
  portFromUs?: boolean;
}

const node = (file: string): ServerSpec => ({
  name: file,
  command: process.execPath,
  args: ["--import", "tsx", `${HERE}servers/${file}`],
  available: () => null,
});

const hasPython = () =>
  spawnSync("python3", ["--version"]).status === 0
    ? null
    : "python3 not installed (apt-get install -y python3)";

const SERVERS: Record<string, ServerSpec> = {
  "node:net": { ...node("net-echo.ts"), name: "raw node:net (socket.pipe)" },
  "socketkit Socket": { ...node("socket-echo.ts"), name: "socketkit Socket (recv/sendall)" },
  "socketkit TCPServer": {
    ...node("tcpserver-echo.ts"),
    name: "socketkit TCPServer (recv/sendall)",
  },
  "socketkit StreamRequestHandler": {
    ...node("stream-handler-echo.ts"),
    name: "socketkit TCPServer (StreamRequestHandler)",
  },
  "node:dgram": { ...node("dgram-echo.ts"), name: "raw node:dgram" },
  "socketkit UDP Socket": {
    ...node("socket-udp-echo.ts"),
    name: "socketkit Socket (recvfrom/sendto)",
  },
  "socketkit UDPServer": { ...node("udpserver-echo.ts"), name: "socketkit UDPServer" },
  "python udp": {
    name: "Python UDPServer",
    command: "python3",
    args: [`${HERE}servers/python_udp_echo.py`],
    available: hasPython,
  },
  python: {
    name: "Python ThreadingTCPServer",
    command: "python3",
    args: [`${HERE}servers/python_threading_echo.py`],
    available: hasPython,
  },
  asyncio: {
    name: "Python asyncio",
    command: "python3",
    args: [`${HERE}servers/python_asyncio_echo.py`],
    available: hasPython,
  },
  "c epoll": {
    name: "C epoll echo (checks the load generator)",
    get command() {
      const c = compiledServer("epoll-echo");
      return "path" in c ? c.path : "cc";
    },
    args: [],
    available: () => {
      const c = compiledServer("epoll-echo");
      return "missing" in c ? c.missing : null;
    },
  },
  socat: {
    name: "socat (fork per connection, PIPE)",
    command: "socat",
    args: ["TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=1024", "PIPE"],
    available: () =>
      spawnSync("socat", ["-V"]).error === undefined
        ? null
        : "socat is not installed (apt-get install -y socat)",
    portFromUs: true,
  },
};

/** Ping-pong on `conns` connections for `seconds` with socketkit's load generator: round trips per second, echoes verified. */
async function pingpong(
  port: number,
  conns: number,
  size: number,
  seconds: number,
  udp = false,
): Promise<number> {
  return (await bench("127.0.0.1", port, { conns, size, duration: seconds, udp })).perSecond;
}

interface Row {
  scenario: string;
  server: string;
  median: number | null;
  runs: number[];
  skipped?: string;
  ratio?: number;
}

/**
 * Runs one scenario against every server. The servers all start first and the runs are
 * interleaved (A, B, C, A, B, C, ...), so drift in a shared machine's speed falls on every
 * server alike instead of on whichever ran last.
 */
async function scenario(
  title: string,
  conns: number,
  size: number,
  keys: string[],
  udp = false,
): Promise<Row[]> {
  const rows: Row[] = [];
  const live: Array<{ row: Row; port: number; stop: () => Promise<void> }> = [];
  try {
    for (const key of keys) {
      const spec = SERVERS[key] as ServerSpec;
      const why = spec.available();
      const row: Row = { scenario: title, server: spec.name, median: null, runs: [] };
      rows.push(row);
      if (why) {
        row.skipped = why;
        continue;
      }
      const server = await startServer(spec.command, spec.args, spec.portFromUs);
      live.push({ row, ...server });
      await pingpong(server.port, conns, size, 0.3, udp); // warm-up
    }
    for (let i = 0; i < RUNS; i++) {
      for (const { row, port } of live) {
        row.runs.push(await pingpong(port, conns, size, SECONDS, udp));
      }
    }
  } finally {
    await Promise.all(live.map((l) => l.stop()));
  }
  // The first server listed is the baseline (raw node:net, or node:dgram for UDP).
  mediansAndRatios(rows);
  return rows;
}

const all: Row[] = [];
for (const [title, conns] of ONLY.has("pingpong")
  ? SETTINGS.pingpongConns.map(
      (n) => [`64-byte ping-pong, ${n} connection${n === 1 ? "" : "s"}`, n] as const,
    )
  : []) {
  process.stderr.write(`running: ${title}\n`);
  all.push(
    ...(await scenario(title, conns, 64, [
      "node:net",
      "socketkit Socket",
      "socketkit TCPServer",
      "socketkit StreamRequestHandler",
      "python",
      "asyncio",
      "socat",
      "c epoll",
    ])),
  );
}

for (const [title, conns] of ONLY.has("udp")
  ? SETTINGS.udpSockets.map(
      (n) => [`512-byte UDP echo, ${n} socket${n === 1 ? "" : "s"}`, n] as const,
    )
  : []) {
  process.stderr.write(`running: ${title}\n`);
  all.push(
    ...(await scenario(
      title,
      conns,
      512,
      ["node:dgram", "socketkit UDP Socket", "socketkit UDPServer", "python udp"],
      true,
    )),
  );
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const anyRows = all.length > 0;
if (anyRows)
  console.log(
    `\nround trips per second, median of ${RUNS} runs of ${SECONDS} s (ratio = server / the first, raw, server of its scenario)\n`,
  );
if (anyRows)
  console.log(
    `${"scenario".padEnd(36)} ${"server".padEnd(34)} ${"median rt/s".padStart(12)} ${"ratio".padStart(7)}`,
  );
for (const r of all) {
  const value = r.median === null ? `skipped: ${r.skipped}` : fmt(r.median).padStart(12);
  const ratio = r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`.padStart(7);
  console.log(`${r.scenario.padEnd(36)} ${r.server.padEnd(44)} ${value} ${ratio}`);
}

// A one-way stream into a reading server, and idle connections' memory.
let stream: SimpleRow[] = [];
if (ONLY.has("stream")) {
  process.stderr.write("running: one-way stream\n");
  stream = await streamBench();
  printRows("one-way stream, MB/s (ratio to raw node:net; target >= 0.9)", "MB/s", stream);
}
let idle: SimpleRow[] = [];
if (ONLY.has("idle")) {
  process.stderr.write("running: idle connections\n");
  idle = await idleBench();
  printRows(
    "idle connections, server RSS growth per connection in bytes (ratio to raw node:net; target <= 1.5)",
    "B",
    idle,
  );
}

// Chat fan-out: one message to every member of a big room.
const fanout: FanoutResult[] = [];
for (const members of ONLY.has("fanout") ? SETTINGS.fanoutMembers : []) {
  process.stderr.write(`running: chat fan-out, ${members} members\n`);
  fanout.push(await chatFanout(members));
}
if (fanout.length > 0) {
  console.log(
    "\nchat fan-out: from one send until the last member has it (target: p99 < 100 ms at 5,000)\n",
  );
}
if (fanout.length > 0)
  console.log(
    `${"members".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)} ${"server KiB per idle member".padStart(28)}`,
  );
for (const f of fanout) {
  console.log(
    `${String(f.members).padStart(8)} ${f.p50.toFixed(1).padStart(8)} ${f.p99.toFixed(1).padStart(8)} ${f.max.toFixed(1).padStart(8)} ${(f.bytesPerMember / 1024).toFixed(1).padStart(28)}`,
  );
}

// File transfer: 1 GiB over loopback against nc, socat and a raw node:net pipe.
const transfer = ONLY.has("transfer") ? await transferBench() : [];
if (transfer.length > 0) printTransfer(transfer);

// Small files: a folder of 10,000 files of 1 KiB against tar piped through nc and socat.
if (ONLY.has("small")) process.stderr.write("running: small files\n");
const smallFiles = ONLY.has("small") ? await smallFilesBench() : [];
if (smallFiles.length > 0) printSmallFiles(smallFiles);
// A socketkit run that lost or changed a file (or hung) fails the suite, not just its row.
if (socketkitFailed(smallFiles)) process.exitCode = 1;

mkdirSync(dirname(SETTINGS.resultsFile), { recursive: true });
writeFileSync(
  SETTINGS.resultsFile,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, runs: RUNS, seconds: SECONDS, rows: all, stream, idle, chatFanout: fanout, transfer, smallFiles }, null, 2)}\n`,
);
